"""OpenViduClient: join, keep the session model current, signals, resume, leave.

Sits on top of :mod:`kiosk.openvidu.signaling` (websockets) and the pure modules; knows nothing
about httpx (tokens come in as strings) or media (which gets :attr:`OpenViduClient.rpc`).

Everything the caller must react to arrives on :attr:`OpenViduClient.events`, in order: the typed
notification events of :mod:`kiosk.openvidu.events` (a ``participantEvicted`` naming ourselves
becomes :class:`EvictedSelf` instead), :class:`RosterChanged` after an event changed the model
(for join/leave toasts), and :class:`ConnectionLost` / :class:`ConnectionResumed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from kiosk.errors import SignalingError, SignalingLost
from kiosk.openvidu.events import (
    Event,
    ParticipantEvicted,
    parse_notification,
)
from kiosk.openvidu.jsonrpc import Notification
from kiosk.openvidu.session_model import Change, SessionModel
from kiosk.openvidu.signaling import DEFAULT_TIMEOUTS, Signaling, SignalingTimeouts
from kiosk.openvidu.tls import TLS_HINT
from kiosk.openvidu.urls import SignalingPolicy, parse_token
from kiosk.protocols import RpcCaller
from kiosk.redact import register_secret

__all__ = [
    "ClientEvent",
    "ConnectionLost",
    "ConnectionResumed",
    "EvictedSelf",
    "IceServer",
    "JoinResult",
    "OpenViduClient",
    "QueueItem",
    "RosterChanged",
    "ice_servers_from_join",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class JoinResult:
    connection_id: str
    rpc_session_id: str
    session_id: str
    media_server: str
    ice_servers: tuple[IceServer, ...]
    server_version: str
    role: str


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionResumed:
    pass


@dataclass(frozen=True, slots=True)
class EvictedSelf:
    reason: str


@dataclass(frozen=True, slots=True)
class RosterChanged:
    changes: tuple[Change, ...]
    # True for the participants already in the room when we joined (from the joinRoom result):
    # they did not just join, so no "<name> joined" toast for them.
    at_join: bool = False


ClientEvent = ConnectionLost | ConnectionResumed | EvictedSelf | RosterChanged
QueueItem = Event | ClientEvent


def ice_servers_from_join(result: dict[str, Any]) -> tuple[IceServer, ...]:
    """ICE servers like openvidu-browser 2.22 (§4.2): customIceServers, else the coturn entry."""
    servers: list[IceServer] = []
    custom = result.get("customIceServers")
    if isinstance(custom, list):
        for item in custom:
            if not isinstance(item, dict):
                continue
            url = item.get("url", item.get("urls"))
            urls: tuple[str, ...] = ()
            if isinstance(url, str):
                urls = (url,)
            elif isinstance(url, list):
                urls = tuple(u for u in url if isinstance(u, str))
            if not urls:
                continue
            username = item.get("username")
            credential = item.get("credential")
            if isinstance(credential, str):
                register_secret(credential)
            servers.append(
                IceServer(
                    urls=urls,
                    username=username if isinstance(username, str) else None,
                    credential=credential if isinstance(credential, str) else None,
                )
            )
    if servers:
        return tuple(servers)
    ip, port = result.get("coturnIp"), result.get("coturnPort")
    user, cred = result.get("turnUsername"), result.get("turnCredential")
    if (
        isinstance(ip, str)
        and ip
        and isinstance(port, int)
        and isinstance(user, str)
        and isinstance(cred, str)
    ):
        register_secret(cred)
        host = f"[{ip}]" if ":" in ip else ip  # an IPv6 literal needs brackets in a URL
        return (IceServer(urls=(f"turn:{host}:{port}",), username=user, credential=cred),)
    return ()


class OpenViduClient:
    """One participant: ``await join(token)`` … ``await leave()``."""

    def __init__(
        self,
        display_name: str,
        *,
        ssl_context: ssl.SSLContext | None,
        ws_host_override: str | None = None,
        policy: SignalingPolicy | None = None,
        platform: str = "kiosk (Python aiortc; Linux)",
        sdk_version: str = "2.22.0",
        timeouts: SignalingTimeouts = DEFAULT_TIMEOUTS,
        leave_timeout: float = 3.0,
        max_queued_events: int = 1000,
        tls_hint: str = TLS_HINT,
    ) -> None:
        self.tls_hint = tls_hint
        self.display_name = display_name
        self.ssl_context = ssl_context
        self.ws_host_override = ws_host_override
        self.policy = policy
        self.platform = platform
        self.sdk_version = sdk_version
        self.timeouts = timeouts
        self.leave_timeout = leave_timeout
        self.model = SessionModel()
        self.events: asyncio.Queue[QueueItem] = asyncio.Queue(maxsize=max_queued_events)
        self.join_result: JoinResult | None = None
        self._signaling: Signaling | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._evicted = False
        self._dropped = 0
        # Notifications that arrive while join() waits to resume after the joinRoom response
        # (the reader runs first) are applied after the model is loaded, in order.
        self._held: list[Notification] | None = None

    # --- properties --------------------------------------------------------------------------

    @property
    def rpc(self) -> RpcCaller:
        """The request/response channel for media code (raises SignalingLost when not joined)."""
        if self._signaling is None:
            raise SignalingLost("signaling: not joined")
        return self._signaling

    @property
    def signaling(self) -> Signaling | None:
        return self._signaling

    @property
    def connection_id(self) -> str | None:
        return self.join_result.connection_id if self.join_result else None

    @property
    def joined(self) -> bool:
        return self.join_result is not None and self._signaling is not None

    # --- join / leave --------------------------------------------------------------------------

    async def join(self, token: str) -> JoinResult:
        """Open signaling and ``joinRoom`` with ``token``. Raises KioskError subclasses."""
        if self._signaling is not None:
            raise SignalingError("joinRoom: this client already joined; leave first")
        register_secret(token)
        info = parse_token(token, self.ws_host_override, self.policy)
        signaling = Signaling(
            info.ws_url,
            ssl=self.ssl_context,
            on_notification=self._on_notification,
            timeouts=self.timeouts,
            tls_hint=self.tls_hint,
        )
        self._signaling = signaling
        self._evicted = False
        self._held = []
        try:
            await signaling.open()
            params: dict[str, Any] = {
                "token": token,
                "session": info.session_id,
                "platform": self.platform,
                "sdkVersion": self.sdk_version,
                # JSON text exactly like the browser's JSON.stringify (no spaces)
                "metadata": json.dumps({"clientData": self.display_name}, separators=(",", ":")),
                "secret": "",
                "recorder": False,
            }
            result = await signaling.call("joinRoom", params)
            join = self._join_result(result, info.session_id, signaling)
        except BaseException:
            self._signaling = None
            self._held = None
            await signaling.close()
            raise
        self.join_result = join
        changes = self.model.load_join_result(result)
        if changes:
            self._put(RosterChanged(tuple(changes), at_join=True))
        held, self._held = self._held or [], None
        for notification in held:
            self._on_notification(notification)
        self._watcher = asyncio.create_task(self._watch_lost(signaling), name="openvidu-lost")
        log.info(
            "joined session %s as %s (%s, server %s)",
            join.session_id,
            join.connection_id,
            join.role or "no role",
            join.server_version or "?",
        )
        return join

    @staticmethod
    def _join_result(result: dict[str, Any], session_id: str, signaling: Signaling) -> JoinResult:
        cid = result.get("id")
        if not isinstance(cid, str) or not cid:
            raise SignalingError("joinRoom: the server's result has no connection id")

        def text(key: str, default: str = "") -> str:
            value = result.get(key)
            return value if isinstance(value, str) else default

        return JoinResult(
            connection_id=cid,
            rpc_session_id=signaling.rpc_session_id or text("sessionId"),
            session_id=text("session", session_id),
            media_server=text("mediaServer", "kurento"),
            ice_servers=ice_servers_from_join(result),
            server_version=text("version"),
            role=text("role"),
        )

    async def leave(self) -> None:
        """``leaveRoom`` (bounded wait; skipped after an eviction), then close. Never hangs."""
        signaling, self._signaling = self._signaling, None
        await self._stop_watcher()
        if signaling is None:
            return
        try:
            if self.join_result is not None and not self._evicted and signaling.connected:
                try:
                    await signaling.call("leaveRoom", {}, timeout=self.leave_timeout)
                except SignalingError as exc:
                    log.info("leaveRoom: %s (closing anyway)", exc)
        finally:
            self.join_result = None
            await signaling.close()

    async def close(self) -> None:
        """Close without ``leaveRoom`` (e.g. after eviction)."""
        signaling, self._signaling = self._signaling, None
        await self._stop_watcher()
        self.join_result = None
        if signaling is not None:
            await signaling.close()

    async def resume(self, open_timeout: float | None = None) -> None:
        """Re-bind the same participant on a new socket; raises ResumeFailed."""
        signaling = self._signaling
        if signaling is None:
            raise SignalingLost("resume: not joined")
        await self._stop_watcher()
        try:
            await signaling.resume(open_timeout)
        finally:
            self._watcher = asyncio.create_task(self._watch_lost(signaling), name="openvidu-lost")
        self._put(ConnectionResumed())

    # --- signals -----------------------------------------------------------------------------

    async def send_signal(self, type: str, data: str = "", to: list[str] | None = None) -> None:
        """Send a signal (§4.8); ``to=None`` means everybody, including ourselves."""
        full_type = type if type.startswith("signal:") else f"signal:{type}"
        message = json.dumps(
            {"to": list(to or []), "data": data, "type": full_type}, separators=(",", ":")
        )
        await self.rpc.call("sendMessage", {"message": message})

    # --- internals ---------------------------------------------------------------------------

    def _put(self, item: QueueItem) -> None:
        if self.events.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.events.get_nowait()
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 100 == 0:
                log.warning("event queue full: dropped %d oldest events", self._dropped)
        self.events.put_nowait(item)

    def _on_notification(self, notification: Notification) -> None:
        if self._held is not None:
            if len(self._held) < 10_000:
                self._held.append(notification)
            return
        event = parse_notification(notification)
        if event is None:
            log.warning("ignored %s notification with an unexpected shape", notification.method)
            return
        own = self.model.own_connection_id
        changes = self.model.apply(event)
        if isinstance(event, ParticipantEvicted) and own is not None and event.connection_id == own:
            if not self._evicted:
                self._evicted = True
                self._put(EvictedSelf(event.reason))
            return
        self._put(event)
        roster = [c for c in changes if c.kind != "self_evicted"]
        if roster:
            self._put(RosterChanged(tuple(roster)))

    async def _watch_lost(self, signaling: Signaling) -> None:
        await signaling.lost.wait()
        if self._signaling is signaling and not self._evicted:
            self._put(ConnectionLost(signaling.lost_reason or "signaling lost"))

    async def _stop_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
