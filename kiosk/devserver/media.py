"""The dev server's media backend: aiortc peer connections that forward media like Kurento.

One ``RTCPeerConnection`` per published stream (answerer of the publisher's ``sendonly`` offer)
and one per (subscriber, stream): answerer of the subscriber's ``recvonly`` offer (client-offer
flow, §4.4 A) or offerer (server-offer flow, §4.4 B, ``prepare_subscribe`` +
``complete_subscribe``).

Forwarding without re-encoding lives in :mod:`kiosk.devserver.relay` (receiver tap, encoded
relay, passthrough track): each publisher receiver feeds an :class:`EncodedRelay`, each subscriber
sender reads a :class:`PassthroughTrack`; nothing is decoded on the server.

Candidates (Kurento style)
--------------------------
Answers and offers carry no ``a=candidate`` / ``a=end-of-candidates`` lines. Every server
candidate goes out through ``emit`` once per m-line, with ``sender_connection_id`` = the
publisher of the endpoint's media and ``endpoint_name`` = the stream id (publisher endpoint) or
``<subscriberId>_<streamId>`` (subscriber endpoint). For publish and client-offer subscribe
they are emitted before the answer is returned (the client must buffer them, §5.10); for the
server-offer flow they are emitted by ``complete_subscribe``, once the client has a peer
connection for them.

An audio-only client offer (no ``m=video``, as the kiosk sends for participants without a place
on its screen) is answered like Kurento answers it: with just the audio m-line, and nothing of
the video relay reaches that subscriber (OpenVidu 2.x passes such an offer unchanged to Kurento,
docs/media.md).

Client candidates are accepted inside the SDP and through :meth:`add_client_candidate`
(queued until the peer connection exists and has its remote description). ICE follows
:mod:`kiosk.media.ice`: loopback-only settings drop non-loopback candidates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from kiosk.devserver.media_api import CandidateSink, ServerCandidate
from kiosk.devserver.relay import (
    EncodedRelay,
    PassthroughTrack,
    TapQueue,
    hook_keyframes,
    tap_receiver,
)
from kiosk.devserver.sdp import first_video_codec, local_candidates, mlines, strip_candidates
from kiosk.errors import MediaError
from kiosk.media import ice
from kiosk.media.ice import IceSettings

# EncodedRelay and PassthroughTrack are re-exported: tests and benches reach them from here.
__all__ = ["AiortcMediaBackend", "EncodedRelay", "PassthroughTrack"]

log = logging.getLogger(__name__)

_MAX_PENDING_CANDIDATES = 64  # per endpoint, before the endpoint exists
_MAX_PENDING_ENDPOINTS = 1024


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
    taps: list[TapQueue] = field(default_factory=list)
    subscribers: dict[str, _Endpoint] = field(default_factory=dict)  # subscriber id → endpoint


def _publisher_of(stream_id: str) -> str:
    """Stream ids end with the publisher's connection id (§6.1): everything from the last con_."""
    at = stream_id.rfind("con_")
    return stream_id[at:] if at >= 0 else stream_id


class AiortcMediaBackend:
    """MediaBackend with aiortc: forwards encoded VP8/Opus from publishers to subscribers.

    ``ice_settings`` decide where the server's peer connections gather (the process-wide seam,
    installed by the entry point with :func:`kiosk.media.patches.install`; MediaError when it
    does not match) and which client candidates are accepted. ``negotiation_timeout`` bounds
    every aiortc negotiation step. ``subscribe``/``prepare_subscribe`` fail with MediaError for an
    existing subscription: for ``reconnect: true`` call ``unsubscribe`` first.
    """

    def __init__(self, ice_settings: IceSettings, *, negotiation_timeout: float = 10.0) -> None:
        self._ice = ice_settings
        if ice_settings.host_addresses:
            # Gathering follows the process-wide seam, installed by the entry point.
            ice.require_installed(ice_settings)
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

    async def _local_sdp(
        self, endpoint: _Endpoint, what: str, create: Awaitable[RTCSessionDescription], gone: str
    ) -> str:
        """Create (``create``: the pending createOffer/createAnswer) and set the local description;
        fail if the endpoint was closed meanwhile (``gone`` says why)."""
        pc = endpoint.pc
        description = await self._bounded(what, create)
        await self._bounded(what, pc.setLocalDescription(description))
        if endpoint.closed:
            raise MediaError(f"{what}: {gone}")
        sdp: str = pc.localDescription.sdp
        return sdp

    def _emit_candidates(self, endpoint: _Endpoint, sdp: str) -> None:
        sections = mlines(sdp)
        for candidate in local_candidates(sdp):
            for mline in sections:
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
            local = await self._local_sdp(
                endpoint, what, pc.createAnswer(), "unpublished while negotiating"
            )
        except BaseException:
            await self._drop_publication(publication)
            raise
        self._emit_candidates(endpoint, local)
        return strip_candidates(local)

    def _tap_publisher(self, publication: _Publication, has_audio: bool, has_video: bool) -> None:
        wanted = {"audio": has_audio, "video": has_video}
        transceiver: RTCRtpTransceiver
        for transceiver in publication.endpoint.pc.getTransceivers():
            kind = transceiver.kind
            relay = EncodedRelay(kind, transceiver.receiver)
            publication.taps.append(tap_receiver(transceiver.receiver, relay))
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
                    hook_keyframes(pc.addTrack(relay.attach()), relay)
            await self._remote_set(endpoint, (subscriber_id, publication.connection_id))
            local = await self._local_sdp(
                endpoint, what, pc.createAnswer(), "stream ended while negotiating"
            )
            if "video" in publication.relays and first_video_codec(local) not in (None, "VP8"):
                raise MediaError(f"{what}: the offer does not accept VP8 video")
        except BaseException:
            await self._abort_subscriber(publication, endpoint)
            raise
        self._emit_candidates(endpoint, local)
        return strip_candidates(local)

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
                hook_keyframes(transceiver.sender, relay)
                preferred = "audio/opus" if kind == "audio" else "video/VP8"
                capabilities = RTCRtpSender.getCapabilities(kind)
                codecs = [
                    c
                    for c in capabilities.codecs
                    if c.mimeType.lower() in (preferred.lower(), f"{kind}/rtx")
                ]
                transceiver.setCodecPreferences(codecs)
            local = await self._local_sdp(
                endpoint, what, pc.createOffer(), "stream ended while negotiating"
            )
        except BaseException:
            await self._abort_subscriber(publication, endpoint)
            raise
        return strip_candidates(local)

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
