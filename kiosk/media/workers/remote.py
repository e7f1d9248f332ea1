"""Main side of one subscription whose peer connection lives in a media worker.

:class:`RemoteSubscriber` has the surface :class:`~kiosk.media.session_media.MediaSession`
uses of :class:`~kiosk.media.subscriber.Subscriber` (``stream``, ``stream_id``, ``video``,
``subscribe()``, ``add_remote_candidate()``, ``close()``), so the session picks one or the other
in one place. The JSON-RPC of the subscription (``receiveVideoFrom`` / ``reconnectStream`` /
``prepareReceiveVideoFrom``, ``onIceCandidate``) runs here, in the main process, exactly as the
in-process subscriber does it; the worker only makes and applies SDP and candidates.

Video: the worker writes into this subscription's :class:`~.slots.VideoSlot`, which this object
creates and unlinks; the screen reads it through :class:`~.slots.SlotFrames` (``frames``).
Audio: PCM messages become frames of a :class:`PipedAudioTrack` handed to ``on_audio_track``
(the mixer drains it like an aiortc track); it keeps at most :data:`AUDIO_FRAMES` frames.
A worker that dies or reports a failure calls ``on_failed`` once (after ``subscribe()``
returned; before, ``subscribe()`` raises).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import av
import numpy as np
from aiortc import RTCIceServer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.errors import KioskError, MediaError
from kiosk.media.peer import RPC_TIMEOUT, local_candidates
from kiosk.media.workers import messages as msg
from kiosk.media.workers.slots import SlotFrames, VideoSlot
from kiosk.openvidu.events import StreamInfo
from kiosk.protocols import RpcCaller

if TYPE_CHECKING:
    from kiosk.media.workers.pool import WorkerHandle, WorkerPool

log = logging.getLogger(__name__)

Flow = Literal["kurento", "mediasoup"]
AUDIO_FRAMES = 10  # 200 ms of 20 ms frames waiting for the mixer at most (oldest dropped)
WORKER_REPLY_SECONDS = 10.0  # the worker's offer/answer, or its "applied"
CLOSE_SECONDS = 5.0
MAX_EARLY_CANDIDATES = 64


class PipedAudioTrack(MediaStreamTrack):
    """Audio arriving as PCM messages, as a track the mixer drains; a bounded buffer."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[msg.Audio] = deque(maxlen=AUDIO_FRAMES)
        self._ready = asyncio.Event()
        self.dropped = 0

    def push(self, audio: msg.Audio) -> None:
        if len(self._frames) == self._frames.maxlen:
            self.dropped += 1
        self._frames.append(audio)
        self._ready.set()

    async def recv(self) -> av.AudioFrame:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        audio = self._frames.popleft()
        pcm = np.frombuffer(audio.pcm, dtype=np.int16).reshape(1, -1)
        layout = "stereo" if audio.channels == 2 else "mono"
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
        frame.sample_rate = audio.sample_rate
        return frame

    def stop(self) -> None:
        super().stop()
        self._ready.set()


def ice_server_specs(servers: Sequence[RTCIceServer]) -> list[msg.IceServerSpec]:
    out = []
    for server in servers:
        urls = [server.urls] if isinstance(server.urls, str) else list(server.urls)
        out.append(msg.IceServerSpec(urls, server.username, server.credential))
    return out


class RemoteSubscriber:
    """One remote stream received by a media worker (see the module docstring)."""

    def __init__(
        self,
        pool: WorkerPool,
        rpc: RpcCaller,
        stream: StreamInfo,
        publisher_connection_id: str,
        flow: Flow = "kurento",
        *,
        ice_servers: Sequence[RTCIceServer] = (),
        on_audio_track: Callable[[MediaStreamTrack], None] | None = None,
        on_failed: Callable[[RemoteSubscriber, str], None] | None = None,
        video: bool = True,
        replace: bool = False,
        clock: Callable[[], float] | None = None,
        rpc_timeout: float = RPC_TIMEOUT,
    ) -> None:
        self.pool = pool
        self.rpc = rpc
        self.stream = stream
        self.publisher_connection_id = publisher_connection_id
        self.endpoint_name = publisher_connection_id
        self.flow: Flow = flow
        self.video = stream.has_video and (video or flow == "mediasoup")
        self.replace = replace
        self.rpc_timeout = rpc_timeout
        self.ice_servers = list(ice_servers)
        self._on_audio = on_audio_track
        self._on_failed = on_failed
        self.sub_id = pool.new_sub_id()
        self.slot: VideoSlot | None = pool.new_slot() if self.video else None
        self.frames: SlotFrames | None = (
            None if self.slot is None else SlotFrames(self.slot, *([clock] if clock else []))
        )
        self.worker: WorkerHandle | None = None
        self.audio: PipedAudioTrack | None = None
        self.failed: str | None = None
        self.audio_dropped_in_worker = 0
        self._replies: deque[tuple[type[Any], asyncio.Future[Any]]] = deque()
        self._early: list[msg.RemoteCandidate] = []
        self._closed_reply: asyncio.Future[None] | None = None
        self._subscribed = False
        self._up = False  # subscribe() returned
        self._closed = False

    @property
    def stream_id(self) -> str:
        return self.stream.stream_id

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def worker_pid(self) -> int | None:
        return self.worker.pid if self.worker is not None else None

    # --- negotiation ----------------------------------------------------------------------

    async def subscribe(self) -> None:
        if self._subscribed:
            return
        self._subscribed = True
        if not (self.stream.has_audio or self.stream.has_video):
            raise MediaError(f"receiveVideoFrom: stream {self.stream_id} has no audio or video")
        worker = await self.pool.attach(self)
        self.worker = worker
        worker.send(
            msg.Open(
                self.sub_id,
                self.stream_id,
                self.stream.has_audio,
                self.stream.has_video,
                self.flow,
                self.video,
                self.slot.name if self.slot is not None else None,
                ice_server_specs(self.ice_servers),
            )
        )
        for candidate in self._early:
            worker.send(candidate)
        self._early.clear()
        if self.flow == "mediasoup":
            local = await self._server_offer()
        else:
            local = await self._client_offer()
        await self._trickle_own(local)
        self._up = True

    async def _client_offer(self) -> str:
        offer = await self._expect(msg.LocalDescription)
        if self.replace:
            method = "reconnectStream"
            params = {"stream": self.stream_id, "sdpOffer": offer.sdp, "forciblyReconnect": False}
        else:
            method = "receiveVideoFrom"
            params = {"sender": self.stream_id, "sdpOffer": offer.sdp}
        result = await self._call(method, params)
        answer = result.get("sdpAnswer")
        if not isinstance(answer, str):
            raise MediaError(f"{method}: the response lacks sdpAnswer")
        self._send(msg.RemoteDescription(self.sub_id, answer, "answer"))
        await self._expect(msg.Applied)
        return str(offer.sdp)

    async def _server_offer(self) -> str:
        result = await self._call(
            "prepareReceiveVideoFrom", {"sender": self.stream_id, "reconnect": self.replace}
        )
        offer = result.get("sdpOffer")
        if not isinstance(offer, str):
            raise MediaError("prepareReceiveVideoFrom: the response lacks sdpOffer")
        self._send(msg.RemoteDescription(self.sub_id, offer, "offer"))
        answer = await self._expect(msg.LocalDescription)
        await self._call("receiveVideoFrom", {"sender": self.stream_id, "sdpAnswer": answer.sdp})
        return str(answer.sdp)

    async def _trickle_own(self, sdp: str) -> None:
        for cand in local_candidates(sdp):
            if self._closed:
                return
            await self.rpc.call(
                "onIceCandidate",
                {
                    "endpointName": self.endpoint_name,
                    "candidate": cand.candidate,
                    "sdpMid": cand.sdp_mid,
                    "sdpMLineIndex": cand.sdp_mline_index,
                },
                timeout=self.rpc_timeout,
            )

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.rpc.call(method, params, timeout=self.rpc_timeout)
        except KioskError:
            raise
        except Exception as exc:
            raise MediaError(f"{method}: {exc}") from exc

    def _send(self, message: msg.Message) -> None:
        if self.worker is None or not self.worker.alive:
            raise MediaError(f"subscription to {self.stream_id}: its media worker stopped")
        self.worker.send(message)

    async def _expect(self, kind: type[Any]) -> Any:
        if self.failed is not None:
            raise MediaError(self.failed)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies.append((kind, future))
        try:
            return await asyncio.wait_for(future, WORKER_REPLY_SECONDS)
        except TimeoutError:
            raise MediaError(
                f"subscription to {self.stream_id}: the media worker did not answer within "
                f"{WORKER_REPLY_SECONDS:g} s"
            ) from None

    async def add_remote_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """A server ``iceCandidate``: to the worker (which applies the loopback rule and
        buffers it until the remote SDP is applied); kept here until a worker is chosen."""
        if self._closed:
            return
        message = msg.RemoteCandidate(self.sub_id, candidate, sdp_mid, sdp_mline_index)
        if self.worker is None:
            if len(self._early) < MAX_EARLY_CANDIDATES:
                self._early.append(message)
            return
        if self.worker.alive:
            self.worker.send(message)

    # --- from the worker (called by the pool on the loop) ----------------------------------

    def handle(self, message: msg.Message) -> None:
        if isinstance(message, msg.Audio):
            if self.audio is not None:
                self.audio.push(message)
        elif isinstance(message, msg.TrackStarted):
            if message.kind == "audio" and self.audio is None and not self._closed:
                self.audio = PipedAudioTrack()
                if self._on_audio is not None:
                    self._on_audio(self.audio)
        elif isinstance(message, msg.Failed):
            self._fail(message.reason)
        elif isinstance(message, msg.Closed):
            self.audio_dropped_in_worker = message.audio_dropped
            if self._closed_reply is not None and not self._closed_reply.done():
                self._closed_reply.set_result(None)
        else:
            for i, (kind, future) in enumerate(self._replies):
                if isinstance(message, kind):
                    del self._replies[i]
                    if not future.done():
                        future.set_result(message)
                    break

    def worker_stopped(self, why: str) -> None:
        """The worker process of this subscription ended."""
        if self._closed_reply is not None and not self._closed_reply.done():
            self._closed_reply.set_result(None)
        self._fail(why)

    def _fail(self, why: str) -> None:
        if self.failed is not None or self._closed:
            return
        self.failed = why
        replies, self._replies = self._replies, deque()
        for _, future in replies:
            if not future.done():
                future.set_exception(MediaError(f"subscription to {self.stream_id}: {why}"))
        if self.audio is not None:
            self.audio.stop()
        if self.frames is not None:
            self.frames.ended = True
        if self._up and self._on_failed is not None:
            self._on_failed(self, why)

    # --- close ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the worker's peer connection (bounded wait), unlink the slot (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for _, future in self._replies:
            future.cancel()
        self._replies.clear()
        worker = self.worker
        if worker is not None and worker.alive:
            self._closed_reply = asyncio.get_running_loop().create_future()
            worker.send(msg.Close(self.sub_id))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._closed_reply), CLOSE_SECONDS)
        self.pool.detach(self)
        if self.audio is not None:
            self.audio.stop()
        if self.frames is not None:
            await self.frames.stop()
        if self.slot is not None:
            self.pool.release_slot(self.slot)
