"""One remote stream: a recvonly PeerConnection (protocol §4.4, §5.10, §8.6).

Kurento (CE) uses the client-offer flow (``receiveVideoFrom {sender, sdpOffer}``); mediasoup
uses the server-offer flow (``prepareReceiveVideoFrom`` → our recvonly answer →
``receiveVideoFrom {sender, sdpAnswer}``). Own candidates are trickled with
``endpointName`` = the publisher's connection id.

``video=False`` subscribes audio-only: the client offer has just the audio m-line, which
OpenVidu 2.x passes to Kurento unchanged (docs/media.md); the server-offer flow keeps every
m-line the server offers (``video`` is ignored there). ``replace=True`` asks for the new
subscription with ``reconnectStream`` (one request: the server drops the old endpoint of this
publisher and builds the new one, OpenVidu's ``reconnectSubscriber``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

from aiortc import RTCIceServer
from aiortc.mediastreams import MediaStreamTrack

from kiosk.errors import MediaError
from kiosk.media.ice import IceSettings
from kiosk.media.peer import RPC_TIMEOUT, PeerBase
from kiosk.media.publisher import prefer_vp8
from kiosk.openvidu.events import StreamInfo
from kiosk.protocols import RpcCaller

log = logging.getLogger(__name__)

Flow = Literal["kurento", "mediasoup"]
TrackCallback = Callable[[MediaStreamTrack], None]


class Subscriber(PeerBase):
    """Receives one remote stream; hands each incoming track to the callbacks."""

    def __init__(
        self,
        rpc: RpcCaller,
        stream: StreamInfo,
        publisher_connection_id: str,
        flow: Flow = "kurento",
        *,
        ice: IceSettings,
        ice_servers: Sequence[RTCIceServer] = (),
        on_video_track: TrackCallback | None = None,
        on_audio_track: TrackCallback | None = None,
        rpc_timeout: float = RPC_TIMEOUT,
        video: bool = True,
        replace: bool = False,
    ) -> None:
        super().__init__(
            rpc,
            publisher_connection_id,
            ice=ice,
            ice_servers=ice_servers,
            rpc_timeout=rpc_timeout,
        )
        self.stream = stream
        self.publisher_connection_id = publisher_connection_id
        self.flow: Flow = flow
        # What this subscription receives: video only if the stream has it and we asked.
        self.video = stream.has_video and (video or flow == "mediasoup")
        self.replace = replace
        self._on_video = on_video_track
        self._on_audio = on_audio_track
        self.tracks: list[MediaStreamTrack] = []
        self._subscribed = False

        @self.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            self.tracks.append(track)
            callback = self._on_video if track.kind == "video" else self._on_audio
            if callback is not None:
                callback(track)

    @property
    def stream_id(self) -> str:
        return self.stream.stream_id

    async def subscribe(self) -> None:
        """Negotiate with the server; returns once the answer/offer exchange is complete."""
        if self._subscribed:
            return
        self._subscribed = True
        if not (self.stream.has_audio or self.stream.has_video):
            raise MediaError(f"receiveVideoFrom: stream {self.stream_id} has no audio or video")
        if self.flow == "mediasoup":
            await self._subscribe_server_offer()
        else:
            await self._subscribe_client_offer()
        await self._trickle_own()

    async def _subscribe_client_offer(self) -> None:
        if self.stream.has_audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        if self.video:
            prefer_vp8(self.pc.addTransceiver("video", direction="recvonly"))
        offer = await self._set_local("receiveVideoFrom", offer=True)
        if self.replace:
            method = "reconnectStream"
            params = {"stream": self.stream_id, "sdpOffer": offer, "forciblyReconnect": False}
        else:
            method = "receiveVideoFrom"
            params = {"sender": self.stream_id, "sdpOffer": offer}
        result = await self._call(method, params)
        answer = result.get("sdpAnswer")
        if not isinstance(answer, str):
            raise MediaError(f"{method}: the response lacks sdpAnswer")
        await self._apply_remote(answer, "answer", method)

    async def _subscribe_server_offer(self) -> None:
        result = await self._call(
            "prepareReceiveVideoFrom", {"sender": self.stream_id, "reconnect": self.replace}
        )
        offer = result.get("sdpOffer")
        if not isinstance(offer, str):
            raise MediaError("prepareReceiveVideoFrom: the response lacks sdpOffer")
        await self._apply_remote(offer, "offer", "prepareReceiveVideoFrom")
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"
        answer = await self._set_local("receiveVideoFrom", offer=False)
        await self._call("receiveVideoFrom", {"sender": self.stream_id, "sdpAnswer": answer})
