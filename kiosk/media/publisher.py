"""Our own publication: one sendonly PeerConnection (protocol §4.3, §4.9, §8.6)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import av
import numpy as np
from aiortc import RTCIceServer, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.errors import MediaError
from kiosk.media.ice import IceSettings
from kiosk.media.peer import RPC_TIMEOUT, PeerBase
from kiosk.protocols import RpcCaller

log = logging.getLogger(__name__)

MediaKind = Literal["audio", "video"]


class MutableTrack(MediaStreamTrack):
    """Forwards a source track; while ``muted`` it sends black frames / silence instead.

    Keeping the frames flowing (same size, same timing) keeps the encoder and the remote
    decoder happy and is what a browser does with ``track.enabled = false``. Stopping this
    track does not stop the source (a republish wraps the same source again).
    """

    def __init__(
        self,
        source: MediaStreamTrack,
        on_frame: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self._on_frame = on_frame
        self.muted = False
        self._black: dict[tuple[int, int], list[bytes]] = {}

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.source.recv()
        if not isinstance(frame, av.VideoFrame | av.AudioFrame):
            return frame  # type: ignore[return-value]  # encoded packets pass through
        if self._on_frame is not None:
            self._on_frame(frame)  # e.g. the self-view (shows the picture even while muted)
        if not self.muted:
            return frame
        if isinstance(frame, av.AudioFrame):
            silent = av.AudioFrame(
                format=frame.format.name, layout=frame.layout.name, samples=frame.samples
            )
            for audio_plane in silent.planes:
                audio_plane.update(bytes(audio_plane.buffer_size))
            silent.sample_rate = frame.sample_rate
            silent.pts, silent.time_base = frame.pts, frame.time_base
            return silent
        black = av.VideoFrame(frame.width, frame.height, "yuv420p")
        key = (frame.width, frame.height)
        planes = self._black.get(key)
        if planes is None:
            planes = [
                np.full(p.buffer_size, 16 if i == 0 else 128, dtype=np.uint8).tobytes()
                for i, p in enumerate(black.planes)
            ]
            self._black[key] = planes
        for plane, data in zip(black.planes, planes, strict=True):
            plane.update(data)
        black.pts, black.time_base = frame.pts, frame.time_base
        return black


def prefer_vp8(transceiver: Any) -> None:
    """Restrict a video transceiver to VP8 (+ its RTX), OpenVidu's default forced codec (§8.4)."""
    caps = RTCRtpSender.getCapabilities("video")
    codecs = [c for c in caps.codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")]
    if any(c.mimeType.lower() == "video/vp8" for c in codecs):
        transceiver.setCodecPreferences(codecs)


class Publisher(PeerBase):
    """Publishes ``audio``/``video`` with ``publishVideo`` and keeps the mute state in sync."""

    def __init__(
        self,
        rpc: RpcCaller,
        own_connection_id: str,
        audio: MediaStreamTrack | None,
        video: MediaStreamTrack | None,
        *,
        ice: IceSettings,
        ice_servers: Sequence[RTCIceServer] = (),
        type_of_video: str = "CUSTOM",
        frame_rate: int = 30,
        video_dimensions: tuple[int, int] | None = None,
        audio_active: bool = True,
        video_active: bool = True,
        rpc_timeout: float = RPC_TIMEOUT,
        on_video_frame: Callable[[av.VideoFrame], None] | None = None,
    ) -> None:
        if audio is None and video is None:
            raise MediaError("publishVideo: nothing to publish (no camera and no microphone)")
        super().__init__(
            rpc, own_connection_id, ice=ice, ice_servers=ice_servers, rpc_timeout=rpc_timeout
        )
        self.own_connection_id = own_connection_id
        self.audio = MutableTrack(audio) if audio is not None else None
        self.video = MutableTrack(video, on_video_frame) if video is not None else None
        self.type_of_video = type_of_video
        self.frame_rate = frame_rate
        if video_dimensions is None and video is not None:
            width, height = getattr(video, "width", None), getattr(video, "height", None)
            if isinstance(width, int) and isinstance(height, int):
                video_dimensions = (width, height)
        self.video_dimensions = video_dimensions
        self.stream_id: str | None = None
        self.created_at: int | None = None
        if self.audio is not None:
            self.audio.muted = not audio_active
        if self.video is not None:
            self.video.muted = not video_active

    @property
    def audio_active(self) -> bool:
        return self.audio is not None and not self.audio.muted

    @property
    def video_active(self) -> bool:
        return self.video is not None and not self.video.muted

    def publish_params(self, sdp_offer: str) -> dict[str, Any]:
        """The ``publishVideo`` parameters of protocol §4.3."""
        params: dict[str, Any] = {
            "sdpOffer": sdp_offer,
            "doLoopback": False,
            "hasAudio": self.audio is not None,
            "hasVideo": self.video is not None,
            "audioActive": self.audio_active,
            "videoActive": self.video_active,
        }
        if self.video is not None:
            params["typeOfVideo"] = self.type_of_video
            params["frameRate"] = self.frame_rate
            if self.video_dimensions is not None:
                width, height = self.video_dimensions
                params["videoDimensions"] = json.dumps(
                    {"width": width, "height": height}, separators=(",", ":")
                )
        return params

    async def publish(self) -> str:
        """Offer, ``publishVideo``, apply the answer, trickle our candidates; → stream id."""
        if self.stream_id is not None:
            return self.stream_id
        if self.audio is not None:
            self.pc.addTransceiver(self.audio, direction="sendonly")
        if self.video is not None:
            prefer_vp8(self.pc.addTransceiver(self.video, direction="sendonly"))
        offer = await self._set_local("publishVideo", offer=True)
        result = await self._call("publishVideo", self.publish_params(offer))
        answer = result.get("sdpAnswer")
        stream_id = result.get("id")
        if not isinstance(answer, str) or not isinstance(stream_id, str):
            raise MediaError("publishVideo: the response lacks sdpAnswer or id")
        created = result.get("createdAt")
        self.created_at = created if isinstance(created, int) else None
        await self._apply_remote(answer, "answer", "publishVideo")
        self.stream_id = stream_id
        await self._trickle_own()
        return stream_id

    async def set_muted(self, kind: MediaKind, muted: bool) -> bool:
        """Mute/unmute our audio or video; announce it with ``streamPropertyChanged`` (§4.9).

        Returns False when there is no such track. Before publishing, only the local state
        changes (``publishVideo`` then carries it).
        """
        track = self.audio if kind == "audio" else self.video
        if track is None:
            return False
        if track.muted == muted:
            return True
        track.muted = muted
        if self.stream_id is not None and not self.closed:
            await self._call(
                "streamPropertyChanged",
                {
                    "streamId": self.stream_id,
                    "property": "audioActive" if kind == "audio" else "videoActive",
                    "newValue": not muted,
                    "reason": "publishAudio" if kind == "audio" else "publishVideo",
                },
            )
        return True

    async def close(self) -> None:
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()
        await super().close()

    async def unpublish(self) -> None:
        """Tell the server (``unpublishVideo``) and close the PC."""
        if self.stream_id is not None and not self.closed:
            try:
                await self._call("unpublishVideo", {})
            finally:
                await self.close()
        else:
            await self.close()
