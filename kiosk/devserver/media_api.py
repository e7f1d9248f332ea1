"""The seam between the dev server's JSON-RPC side (``rpc/``) and its media backend.

``rpc/`` validates every request, munges SDP offers (§8.4) and then calls a
:class:`MediaBackend`. The backend owns the WebRTC peer connections. Like Kurento, the SDP it
returns carries **no** ``a=candidate`` lines: every server candidate goes out through the
``emit`` callback (a :data:`CandidateSink`), which ``rpc/`` turns into an ``iceCandidate``
notification (§5.10) on the socket of ``to_connection_id``.

Backends raise :class:`kiosk.errors.MediaError` on failure; ``rpc/`` maps it to JSON-RPC error
302 (publish side) or 303 (subscribe side), or 204 when the server runs without media.

:class:`NoMediaBackend` is used when the dev server is started without media: every media
method raises ``MediaError("this dev server runs without media")``; the housekeeping methods
(``unpublish``, ``unsubscribe``, ``release``, ``close``, ``add_client_candidate``) do nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kiosk.errors import MediaError

__all__ = [
    "NO_MEDIA_MESSAGE",
    "CandidateSink",
    "MediaBackend",
    "NoMediaBackend",
    "ServerCandidate",
]

NO_MEDIA_MESSAGE = "this dev server runs without media"


@dataclass(frozen=True)
class ServerCandidate:
    """One server-side ICE candidate; becomes an ``iceCandidate`` notification (§5.10).

    ``to_connection_id`` is the participant whose socket receives it; ``sender_connection_id``
    is the publisher whose stream the endpoint carries (for a publisher's own endpoint, both are
    the publisher). ``endpoint_name`` is exactly what goes into the notification's
    ``endpointName``: the stream id for a publisher endpoint, ``<subscriberId>_<streamId>`` for
    a subscriber endpoint (§6.1). ``candidate`` is the ``candidate:...`` attribute value without
    the ``a=`` prefix.
    """

    to_connection_id: str
    sender_connection_id: str
    endpoint_name: str
    candidate: str
    sdp_mid: str
    sdp_mline_index: int


CandidateSink = Callable[[ServerCandidate], None]


@runtime_checkable
class MediaBackend(Protocol):
    """What the JSON-RPC side needs from the media side of the dev server.

    The bodies here are what a server without media does (:class:`NoMediaBackend` is exactly
    that): negotiation fails with ``MediaError``, housekeeping does nothing. Real backends
    implement every method; test doubles only need the same shape.
    """

    async def publish(
        self,
        connection_id: str,
        stream_id: str,
        sdp_offer: str,
        has_audio: bool,
        has_video: bool,
        emit: CandidateSink,
    ) -> str:
        """Accept a publisher's (already munged) offer; return the SDP answer."""
        raise MediaError(NO_MEDIA_MESSAGE)

    async def subscribe(
        self, subscriber_id: str, stream_id: str, sdp_offer: str, emit: CandidateSink
    ) -> str:
        """Client-offer subscribe flow: accept the subscriber's offer, return the answer."""
        raise MediaError(NO_MEDIA_MESSAGE)

    async def prepare_subscribe(
        self, subscriber_id: str, stream_id: str, emit: CandidateSink
    ) -> str:
        """Server-offer subscribe flow, step 1: return the server's SDP offer."""
        raise MediaError(NO_MEDIA_MESSAGE)

    async def complete_subscribe(self, subscriber_id: str, stream_id: str, sdp_answer: str) -> None:
        """Server-offer subscribe flow, step 2: apply the subscriber's answer."""
        raise MediaError(NO_MEDIA_MESSAGE)

    async def add_client_candidate(
        self,
        connection_id: str,
        endpoint_name: str,
        candidate: str,
        sdp_mid: str,
        sdp_mline_index: int,
    ) -> None:
        """A client's ``onIceCandidate``. Queued if the peer connection does not exist yet."""
        return None

    async def unpublish(self, stream_id: str) -> None:
        """Drop a published stream and every subscription to it."""
        return None

    async def unsubscribe(self, subscriber_id: str, stream_id: str) -> None:
        """Drop one subscription."""
        return None

    async def release(self, connection_id: str) -> None:
        """The participant left or was evicted: drop everything it published or subscribed."""
        return None

    async def close(self) -> None:
        """The server stops: release every media resource."""
        return None


class NoMediaBackend(MediaBackend):
    """A backend for a dev server without media: negotiation always fails with MediaError."""
