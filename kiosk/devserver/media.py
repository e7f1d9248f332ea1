"""The dev server's media backend: aiortc peer connections that forward media like Kurento.

One ``RTCPeerConnection`` per published stream (answerer of the publisher's ``sendonly`` offer)
and one per (subscriber, stream): answerer of the subscriber's ``recvonly`` offer (client-offer
flow, §4.4 A) or offerer (server-offer flow, §4.4 B, ``prepare_subscribe`` +
``complete_subscribe``).

Forwarding without re-encoding
------------------------------
aiortc's ``RTCRtpReceiver`` reassembles each complete encoded frame in its jitter buffer and
hands ``(codec, JitterFrame)`` to its decoder thread through a ``queue.Queue`` (aiortc 1.16:
the private attribute ``_RTCRtpReceiver__decoder_queue``, used by ``_handle_rtp_packet`` and
by ``receive()`` when it starts the thread). :func:`_tap_receiver` swaps that queue, on each
publisher receiver and before the receiver starts, for a :class:`_TapQueue` that gives encoded
frames to an :class:`EncodedRelay` instead of the decoder; control items (the ``None`` that
stops the thread) still pass through, so the receiver's lifecycle is unchanged. Nothing is
decoded on the server.

Each subscriber gets a :class:`PassthroughTrack` whose ``recv()`` returns ``av.Packet``\\ s;
``RTCRtpSender`` then only packetizes them (``Encoder.pack``: new SSRC, sequence numbers and
VP8 picture ids; RTP timestamps keep the publisher's spacing). NACKs from subscribers are
served from the sender's own history, NACKs and REMB towards the publisher come from the
receiver as usual.

Keyframes: a new video subscriber drops frames until a keyframe and asks the publisher for one
(RTCP PLI via ``RTCRtpReceiver._send_rtcp_pli``); a subscriber's own PLI/FIR reaches the sender's
``_send_keyframe`` hook, which is replaced per sender instance by the relay's keyframe request
(throttled), so it is forwarded to the publisher. A subscriber that falls behind (queue full)
drops its backlog and waits for the next keyframe.

Candidates (Kurento style)
--------------------------
Answers and offers carry no ``a=candidate`` / ``a=end-of-candidates`` lines. Every server
candidate goes out through ``emit`` once per m-line, with ``sender_connection_id`` = the
publisher of the endpoint's media and ``endpoint_name`` = the stream id (publisher endpoint) or
``<subscriberId>_<streamId>`` (subscriber endpoint). For publish and client-offer subscribe
they are emitted before the answer is returned (the client must buffer them, §5.10); for the
server-offer flow they are emitted by ``complete_subscribe``, once the client has a peer
connection for them.

Client candidates are accepted inside the SDP and through :meth:`add_client_candidate`
(queued until the peer connection exists and has its remote description). ICE follows
:mod:`kiosk.media.ice`: loopback-only settings drop non-loopback candidates.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import logging
import queue
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from kiosk.devserver.media_api import CandidateSink, ServerCandidate
from kiosk.errors import MediaError
from kiosk.media import ice
from kiosk.media.ice import IceSettings

__all__ = ["AiortcMediaBackend", "EncodedRelay", "PassthroughTrack"]

log = logging.getLogger(__name__)

_CLOCK_RATES = {"audio": 48000, "video": 90000}
_KEYFRAME_INTERVAL = 0.25  # s: at most one PLI per publisher track per interval
_MAX_PENDING_CANDIDATES = 64  # per endpoint, before the endpoint exists
_MAX_PENDING_ENDPOINTS = 1024
_AUDIO_PREROLL = 5  # audio frames kept for a subscriber whose sender has not started


# --- encoded-frame relay ----------------------------------------------------------------------


def _is_vp8_keyframe(data: bytes) -> bool:
    # VP8 frame tag (RFC 6386 §9.1): bit 0 of the first byte is 0 for a key frame.
    return bool(data) and (data[0] & 0x01) == 0


class PassthroughTrack(MediaStreamTrack):
    """A track that yields the publisher's encoded frames as ``av.Packet`` (no decoding).

    Until the subscriber's sender starts reading (ICE/DTLS still connecting) only a short tail
    is kept: video from the newest keyframe on, the last few audio frames. A sender that falls
    ``max_queue`` frames behind loses its backlog and (video) waits for the next keyframe.
    """

    def __init__(self, relay: EncodedRelay, max_queue: int) -> None:
        super().__init__()
        self.kind = relay.kind
        self._relay = relay
        self._frames: collections.deque[tuple[bytes, int]] = collections.deque()
        self._max_queue = max_queue
        self._wakeup = asyncio.Event()
        self._started = False
        self._ended = False
        self._need_keyframe = relay.kind == "video"
        self._time_base = fractions.Fraction(1, _CLOCK_RATES[relay.kind])
        self.forwarded = 0

    def push(self, data: bytes, timestamp: int) -> None:
        if self._ended or self.readyState != "live":
            return
        keyframe = self.kind == "video" and _is_vp8_keyframe(data)
        if self._need_keyframe:
            if not keyframe:
                self._relay.request_keyframe()
                return
            self._need_keyframe = False
        if not self._started:
            if keyframe:
                self._frames.clear()
            elif self.kind == "audio":
                while len(self._frames) >= _AUDIO_PREROLL:
                    self._frames.popleft()
        if len(self._frames) >= self._max_queue:
            self._frames.clear()
            if self.kind == "video" and not keyframe:
                self._need_keyframe = True
                self._relay.request_keyframe()
                return
        self._frames.append((data, timestamp))
        self._wakeup.set()

    def end(self) -> None:
        """The publisher's track ended: let the sender finish."""
        self._ended = True
        self._frames.clear()
        self._wakeup.set()

    async def recv(self) -> av.Packet[Any]:
        self._started = True
        while not self._frames:
            if self._ended or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            self._wakeup.clear()
            await self._wakeup.wait()
        data, timestamp = self._frames.popleft()
        packet = av.Packet(data)
        packet.pts = timestamp
        packet.time_base = self._time_base
        self.forwarded += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self._ended = True
        self._relay.detach(self)
        self._frames.clear()
        self._wakeup.set()


class EncodedRelay:
    """Fans out one publisher receiver's encoded frames to any number of PassthroughTracks."""

    def __init__(self, kind: str, receiver: RTCRtpReceiver) -> None:
        self.kind = kind
        self._receiver: RTCRtpReceiver | None = receiver
        self._tracks: set[PassthroughTrack] = set()
        self._last_keyframe_request = -1.0
        self._tasks: set[asyncio.Task[None]] = set()
        self.frames = 0
        self.closed = False

    def attach(self) -> PassthroughTrack:
        track = PassthroughTrack(self, max_queue=120 if self.kind == "video" else 50)
        if self.closed:
            track.end()
        else:
            self._tracks.add(track)
            if self.kind == "video":
                self.request_keyframe(force=True)
        return track

    def detach(self, track: PassthroughTrack) -> None:
        self._tracks.discard(track)

    def on_frame(self, data: bytes, timestamp: int) -> None:
        """Called on the loop thread by the receiver for each complete encoded frame."""
        self.frames += 1
        for track in list(self._tracks):
            track.push(data, timestamp)

    def request_keyframe(self, force: bool = False) -> None:
        """Ask the publisher for a keyframe (RTCP PLI), at most once per interval."""
        if self.kind != "video" or self._receiver is None or self.closed:
            return
        now = time.monotonic()
        if not force and now - self._last_keyframe_request < _KEYFRAME_INTERVAL:
            return
        self._last_keyframe_request = now
        receiver = self._receiver
        for source in receiver.getSynchronizationSources():
            task = asyncio.get_running_loop().create_task(receiver._send_rtcp_pli(source.source))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.closed = True
        for track in list(self._tracks):
            track.end()
        self._tracks.clear()
        self._receiver = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


class _TapQueue(queue.Queue[Any]):
    """Stands in for a receiver's decoder queue: encoded frames go to the relay instead."""

    def __init__(self, relay: EncodedRelay) -> None:
        super().__init__()
        self._relay: EncodedRelay | None = relay

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if isinstance(item, tuple):
            relay = self._relay
            if relay is not None and not relay.closed:
                _codec, encoded_frame = item
                relay.on_frame(bytes(encoded_frame.data), int(encoded_frame.timestamp))
            return
        super().put(item, block, timeout)  # None: stop the (idle) decoder thread

    def release(self) -> None:
        self._relay = None


def _tap_receiver(receiver: RTCRtpReceiver, relay: EncodedRelay) -> _TapQueue:
    """Divert a receiver's encoded frames to ``relay`` (must run before the receiver starts)."""
    attribute = "_RTCRtpReceiver__decoder_queue"
    if not isinstance(getattr(receiver, attribute, None), queue.Queue):
        raise MediaError("aiortc RTCRtpReceiver has no decoder queue to tap (aiortc version?)")
    tap = _TapQueue(relay)
    setattr(receiver, attribute, tap)
    return tap


# --- SDP helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MLine:
    index: int
    mid: str
    kind: str


def _mlines(sdp: str) -> list[_MLine]:
    out: list[_MLine] = []
    kind = ""
    mid: str | None = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            if kind:
                out.append(_MLine(len(out), mid if mid is not None else str(len(out)), kind))
            kind = line[2:].split(" ", 1)[0]
            mid = None
        elif line.startswith("a=mid:") and kind:
            mid = line[len("a=mid:") :].strip()
    if kind:
        out.append(_MLine(len(out), mid if mid is not None else str(len(out)), kind))
    return out


def _local_candidates(sdp: str) -> list[str]:
    """Unique ``candidate:…`` values of an SDP, in order."""
    seen: dict[str, None] = {}
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            seen.setdefault(line[2:].strip(), None)
    return list(seen)


def _strip_candidates(sdp: str) -> str:
    kept = [
        line
        for line in sdp.splitlines(keepends=True)
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    ]
    return "".join(kept)


def _first_video_codec(sdp: str) -> str | None:
    """The encoding name of the first payload type of the first video m-line."""
    lines = sdp.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("m=video"):
            parts = line.split()
            if len(parts) < 4 or parts[1] == "0":
                return None
            first = parts[3]
            for other in lines[i + 1 :]:
                if other.startswith("m="):
                    break
                if other.startswith(f"a=rtpmap:{first} "):
                    return other.split(" ", 1)[1].split("/", 1)[0]
            return None
    return None


# --- endpoints ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Endpoint:
    pc: RTCPeerConnection
    to_connection_id: str
    sender_connection_id: str
    name: str
    emit: CandidateSink
    remote_set: bool = False
    pending: list[tuple[str, str, int]] = field(default_factory=list)
    added: set[str] = field(default_factory=set)
    closed: bool = False


@dataclass(eq=False)
class _Publication:
    connection_id: str
    stream_id: str
    endpoint: _Endpoint
    relays: dict[str, EncodedRelay] = field(default_factory=dict)  # kind → relay (announced)
    unused: list[EncodedRelay] = field(default_factory=list)  # tapped so nothing is decoded
    taps: list[_TapQueue] = field(default_factory=list)
    subscribers: dict[str, _Endpoint] = field(default_factory=dict)  # subscriber id → endpoint


def _publisher_of(stream_id: str) -> str:
    """Stream ids end with the publisher's connection id (§6.1): everything from the last con_."""
    at = stream_id.rfind("con_")
    return stream_id[at:] if at >= 0 else stream_id


class AiortcMediaBackend:
    """MediaBackend with aiortc: forwards encoded VP8/Opus from publishers to subscribers.

    ``ice_settings`` decide where the server's peer connections gather (via
    :func:`kiosk.media.ice.install`, called here if the process-wide seam does not match yet)
    and which client candidates are accepted. ``negotiation_timeout`` bounds every aiortc
    negotiation step. ``subscribe``/``prepare_subscribe`` fail with MediaError for an existing
    subscription: for ``reconnect: true`` call ``unsubscribe`` first.
    """

    def __init__(self, ice_settings: IceSettings, *, negotiation_timeout: float = 10.0) -> None:
        self._ice = ice_settings
        if ice_settings.host_addresses and ice.current() != ice_settings:
            # Gathering follows the process-wide seam; make sure it matches what we were given.
            ice.install(ice_settings)
        self._timeout = negotiation_timeout
        self._publications: dict[str, _Publication] = {}  # stream id → publication
        self._by_connection: dict[str, str] = {}  # publisher connection id → stream id
        # Client candidates for endpoints that do not exist yet: (connection, endpointName).
        self._pending: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
        self._closing = False

    # -- helpers -------------------------------------------------------------------------------

    def _remote_sdp(self, sdp: str) -> str:
        """A client SDP as aiortc should see it: allowed candidates only, trickle left open."""
        return ice.drop_empty_end_of_candidates(ice.filter_sdp_candidates(sdp, self._ice))

    def _new_pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(ice.rtc_configuration(self._ice))

    async def _bounded(self, what: str, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, self._timeout)
        except TimeoutError as exc:
            raise MediaError(f"{what}: timed out after {self._timeout:g} s") from exc
        except MediaError:
            raise
        except Exception as exc:  # aiortc raises ValueError, InvalidStateError, …
            raise MediaError(f"{what}: {type(exc).__name__}: {exc}") from exc

    def _emit_candidates(self, endpoint: _Endpoint, sdp: str) -> None:
        mlines = _mlines(sdp)
        for candidate in _local_candidates(sdp):
            for mline in mlines:
                server_candidate = ServerCandidate(
                    to_connection_id=endpoint.to_connection_id,
                    sender_connection_id=endpoint.sender_connection_id,
                    endpoint_name=endpoint.name,
                    candidate=candidate,
                    sdp_mid=mline.mid,
                    sdp_mline_index=mline.index,
                )
                try:
                    endpoint.emit(server_candidate)
                except Exception as exc:  # the sink's socket may be gone; media goes on
                    log.info("endpoint %s: could not emit a candidate: %s", endpoint.name, exc)

    async def _add_candidate(
        self, endpoint: _Endpoint, candidate: str, sdp_mid: str, sdp_mline_index: int
    ) -> None:
        if endpoint.closed:
            return
        if not endpoint.remote_set:
            if len(endpoint.pending) < _MAX_PENDING_CANDIDATES:
                endpoint.pending.append((candidate, sdp_mid, sdp_mline_index))
            return
        text = candidate.strip()
        if text.startswith("a="):
            text = text[2:]
        if not text:
            return  # end of candidates: aioice keeps checking what it has; nothing to do
        address = ice.candidate_ip(text)
        if address is None:
            log.info("endpoint %s: ignoring malformed ICE candidate", endpoint.name)
            return
        if not ice.allowed_remote(address, self._ice):
            return
        body = text[len("candidate:") :] if text.startswith("candidate:") else text
        if body in endpoint.added:
            return  # Kurento-style duplicates per m-line
        endpoint.added.add(body)
        try:
            parsed = candidate_from_sdp(body)
        except (AssertionError, ValueError, IndexError):
            log.info("endpoint %s: ignoring malformed ICE candidate", endpoint.name)
            return
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        try:
            await self._bounded(
                f"endpoint {endpoint.name}: adding an ICE candidate",
                endpoint.pc.addIceCandidate(parsed),
            )
        except MediaError as exc:  # like Kurento: a bad candidate is not a request failure
            log.info("%s", exc)

    async def _remote_set(self, endpoint: _Endpoint, pending_key: tuple[str, str]) -> None:
        endpoint.remote_set = True
        queued = self._pending.pop(pending_key, []) + endpoint.pending
        endpoint.pending = []
        for candidate, sdp_mid, sdp_mline_index in queued:
            await self._add_candidate(endpoint, candidate, sdp_mid, sdp_mline_index)

    async def _close_endpoint(self, endpoint: _Endpoint) -> None:
        if endpoint.closed:
            return
        endpoint.closed = True
        endpoint.pending.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(endpoint.pc.close(), self._timeout)

    def _publication(self, stream_id: str) -> _Publication:
        publication = self._publications.get(stream_id)
        if publication is None:
            raise MediaError(f"stream {stream_id}: not published")
        return publication

    # -- publish -------------------------------------------------------------------------------

    async def publish(
        self,
        connection_id: str,
        stream_id: str,
        sdp_offer: str,
        has_audio: bool,
        has_video: bool,
        emit: CandidateSink,
    ) -> str:
        if self._closing:
            raise MediaError("media backend is closed")
        if stream_id in self._publications or connection_id in self._by_connection:
            raise MediaError(f"connection {connection_id}: already publishing")
        pc = self._new_pc()
        endpoint = _Endpoint(pc, connection_id, connection_id, stream_id, emit)
        publication = _Publication(connection_id, stream_id, endpoint)
        self._publications[stream_id] = publication
        self._by_connection[connection_id] = stream_id
        what = f"publishVideo {stream_id}"
        try:
            offer = RTCSessionDescription(self._remote_sdp(sdp_offer), "offer")
            await self._bounded(what, pc.setRemoteDescription(offer))
            self._tap_publisher(publication, has_audio, has_video)
            await self._remote_set(endpoint, (connection_id, connection_id))
            answer = await self._bounded(what, pc.createAnswer())
            await self._bounded(what, pc.setLocalDescription(answer))
            if endpoint.closed:
                raise MediaError(f"{what}: unpublished while negotiating")
            local = pc.localDescription.sdp
        except BaseException:
            await self._drop_publication(publication)
            raise
        self._emit_candidates(endpoint, local)
        return _strip_candidates(local)

    def _tap_publisher(self, publication: _Publication, has_audio: bool, has_video: bool) -> None:
        wanted = {"audio": has_audio, "video": has_video}
        transceiver: RTCRtpTransceiver
        for transceiver in publication.endpoint.pc.getTransceivers():
            kind = transceiver.kind
            relay = EncodedRelay(kind, transceiver.receiver)
            publication.taps.append(_tap_receiver(transceiver.receiver, relay))
            if wanted.get(kind) and kind not in publication.relays:
                publication.relays[kind] = relay
            else:
                publication.unused.append(relay)
        missing = [kind for kind, want in wanted.items() if want and kind not in publication.relays]
        if missing:
            raise MediaError(
                f"publishVideo {publication.stream_id}: the offer has no {' or '.join(missing)}"
            )

    async def _drop_publication(self, publication: _Publication) -> None:
        if self._publications.get(publication.stream_id) is publication:
            del self._publications[publication.stream_id]
        if self._by_connection.get(publication.connection_id) == publication.stream_id:
            del self._by_connection[publication.connection_id]
        subscribers = list(publication.subscribers.values())
        publication.subscribers.clear()
        for relay in [*publication.relays.values(), *publication.unused]:
            await relay.close()
        for endpoint in subscribers:
            await self._close_endpoint(endpoint)
        await self._close_endpoint(publication.endpoint)
        for tap in publication.taps:
            tap.release()
        publication.relays.clear()
        publication.unused.clear()
        publication.taps.clear()

    # -- subscribe -----------------------------------------------------------------------------

    def _new_subscriber(
        self, subscriber_id: str, stream_id: str, emit: CandidateSink
    ) -> tuple[_Publication, _Endpoint]:
        if self._closing:
            raise MediaError("media backend is closed")
        publication = self._publication(stream_id)
        if subscriber_id == publication.connection_id:
            raise MediaError(f"stream {stream_id}: cannot subscribe to your own stream")
        if subscriber_id in publication.subscribers:
            raise MediaError(f"connection {subscriber_id}: already subscribed to {stream_id}")
        endpoint = _Endpoint(
            self._new_pc(),
            subscriber_id,
            publication.connection_id,
            f"{subscriber_id}_{stream_id}",
            emit,
        )
        publication.subscribers[subscriber_id] = endpoint
        return publication, endpoint

    async def _abort_subscriber(self, publication: _Publication, endpoint: _Endpoint) -> None:
        if publication.subscribers.get(endpoint.to_connection_id) is endpoint:
            del publication.subscribers[endpoint.to_connection_id]
        await self._close_endpoint(endpoint)

    @staticmethod
    def _hook_keyframes(sender: RTCRtpSender, relay: EncodedRelay) -> None:
        # RTCRtpSender handles PLI/FIR by calling self._send_keyframe(), which only matters when
        # it encodes; for passthrough, forward the request to the publisher instead.
        sender._send_keyframe = relay.request_keyframe  # type: ignore[method-assign]

    async def subscribe(
        self, subscriber_id: str, stream_id: str, sdp_offer: str, emit: CandidateSink
    ) -> str:
        publication, endpoint = self._new_subscriber(subscriber_id, stream_id, emit)
        pc = endpoint.pc
        what = f"receiveVideoFrom {stream_id}"
        try:
            offer = RTCSessionDescription(self._remote_sdp(sdp_offer), "offer")
            await self._bounded(what, pc.setRemoteDescription(offer))
            for kind, relay in publication.relays.items():
                if any(t.kind == kind for t in pc.getTransceivers()):
                    self._hook_keyframes(pc.addTrack(relay.attach()), relay)
            await self._remote_set(endpoint, (subscriber_id, publication.connection_id))
            answer = await self._bounded(what, pc.createAnswer())
            await self._bounded(what, pc.setLocalDescription(answer))
            if endpoint.closed:
                raise MediaError(f"{what}: stream ended while negotiating")
            local = pc.localDescription.sdp
            if "video" in publication.relays and _first_video_codec(local) not in (None, "VP8"):
                raise MediaError(f"{what}: the offer does not accept VP8 video")
        except BaseException:
            await self._abort_subscriber(publication, endpoint)
            raise
        self._emit_candidates(endpoint, local)
        return _strip_candidates(local)

    async def prepare_subscribe(
        self, subscriber_id: str, stream_id: str, emit: CandidateSink
    ) -> str:
        publication, endpoint = self._new_subscriber(subscriber_id, stream_id, emit)
        pc = endpoint.pc
        what = f"prepareReceiveVideoFrom {stream_id}"
        try:
            for kind in ("audio", "video"):
                relay = publication.relays.get(kind)
                if relay is None:
                    continue
                transceiver = pc.addTransceiver(relay.attach(), direction="sendonly")
                self._hook_keyframes(transceiver.sender, relay)
                preferred = "audio/opus" if kind == "audio" else "video/VP8"
                capabilities = RTCRtpSender.getCapabilities(kind)
                codecs = [
                    c
                    for c in capabilities.codecs
                    if c.mimeType.lower() in (preferred.lower(), f"{kind}/rtx")
                ]
                transceiver.setCodecPreferences(codecs)
            offer = await self._bounded(what, pc.createOffer())
            await self._bounded(what, pc.setLocalDescription(offer))
            if endpoint.closed:
                raise MediaError(f"{what}: stream ended while negotiating")
            local = pc.localDescription.sdp
        except BaseException:
            await self._abort_subscriber(publication, endpoint)
            raise
        return _strip_candidates(local)

    async def complete_subscribe(self, subscriber_id: str, stream_id: str, sdp_answer: str) -> None:
        publication = self._publication(stream_id)
        endpoint = publication.subscribers.get(subscriber_id)
        what = f"receiveVideoFrom {stream_id}"
        if endpoint is None or endpoint.pc.signalingState != "have-local-offer":
            raise MediaError(f"{what}: no pending server offer for {subscriber_id}")
        try:
            answer = RTCSessionDescription(self._remote_sdp(sdp_answer), "answer")
            await self._bounded(what, endpoint.pc.setRemoteDescription(answer))
            await self._remote_set(endpoint, (subscriber_id, publication.connection_id))
        except BaseException:
            await self._abort_subscriber(publication, endpoint)
            raise
        self._emit_candidates(endpoint, endpoint.pc.localDescription.sdp)

    # -- candidates ----------------------------------------------------------------------------

    async def add_client_candidate(
        self,
        connection_id: str,
        endpoint_name: str,
        candidate: str,
        sdp_mid: str,
        sdp_mline_index: int,
    ) -> None:
        endpoint: _Endpoint | None = None
        if endpoint_name == connection_id:
            stream_id = self._by_connection.get(connection_id)
            if stream_id is not None:
                endpoint = self._publications[stream_id].endpoint
        else:
            stream_id = self._by_connection.get(endpoint_name)
            if stream_id is not None:
                endpoint = self._publications[stream_id].subscribers.get(connection_id)
        if endpoint is not None:
            await self._add_candidate(endpoint, candidate, sdp_mid, sdp_mline_index)
            return
        key = (connection_id, endpoint_name)
        if key not in self._pending and len(self._pending) >= _MAX_PENDING_ENDPOINTS:
            return
        queued = self._pending.setdefault(key, [])
        if len(queued) < _MAX_PENDING_CANDIDATES:
            queued.append((candidate, sdp_mid, sdp_mline_index))

    # -- teardown ------------------------------------------------------------------------------

    async def unpublish(self, stream_id: str) -> None:
        publication = self._publications.get(stream_id)
        if publication is not None:
            self._pending.pop((publication.connection_id, publication.connection_id), None)
            await self._drop_publication(publication)

    async def unsubscribe(self, subscriber_id: str, stream_id: str) -> None:
        self._pending.pop((subscriber_id, _publisher_of(stream_id)), None)
        publication = self._publications.get(stream_id)
        if publication is None:
            return
        endpoint = publication.subscribers.pop(subscriber_id, None)
        if endpoint is not None:
            await self._close_endpoint(endpoint)

    async def release(self, connection_id: str) -> None:
        for key in [k for k in self._pending if connection_id in k]:
            del self._pending[key]
        stream_id = self._by_connection.get(connection_id)
        if stream_id is not None:
            await self.unpublish(stream_id)
        for publication in list(self._publications.values()):
            await self.unsubscribe(connection_id, publication.stream_id)

    async def close(self) -> None:
        self._closing = True
        for stream_id in list(self._publications):
            await self.unpublish(stream_id)
        self._pending.clear()

    # -- introspection (tests, status) ---------------------------------------------------------

    def peer_connections(self) -> Iterable[RTCPeerConnection]:
        for publication in self._publications.values():
            yield publication.endpoint.pc
            for endpoint in publication.subscribers.values():
                yield endpoint.pc

    def relay(self, stream_id: str, kind: str) -> EncodedRelay | None:
        publication = self._publications.get(stream_id)
        return publication.relays.get(kind) if publication else None
