"""The dev server's WebSockets and RPC sessions: outboxes, ping watchdog, ``connect``, grace.

An *RPC session* (the id injected as ``sessionId`` into every result) outlives its socket for
``grace_seconds`` so that ``connect`` can resume it on a new socket (§3.6, §7.2). A socket that
stops pinging for three intervals is closed (§3.6); after ``leaveRoom`` the socket is closed
``close_after_leave_seconds`` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kiosk.devserver.options import DevServerOptions
from kiosk.devserver.rpc.params import RpcFail
from kiosk.devserver.state import new_rpc_session_id
from kiosk.openvidu.jsonrpc import encode_error, encode_notification, encode_response

__all__ = ["PING_TIMEOUT_REASON", "RpcSession", "Socket", "Sockets"]

log = logging.getLogger("kiosk.devserver.rpc")

PING_TIMEOUT_REASON = "Close for not receive ping from client"


@dataclass(eq=False)
class RpcSession:
    """The JSON-RPC library's session: survives a socket loss for the grace period."""

    id: str
    socket: Socket | None
    session_id: str | None = None
    connection_id: str | None = None
    left: bool = False  # had a participant which left or was evicted
    ping_interval_ms: int | None = None
    grace: asyncio.TimerHandle | None = None
    prepared: set[str] = field(default_factory=set)  # server-offer subscriptions (stream ids)


@dataclass(eq=False)
class Socket:
    ws: web.WebSocketResponse
    ip: str | None
    rpc: RpcSession
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    inbox: asyncio.Queue[tuple[int, str, dict[str, Any]] | None] = field(
        default_factory=asyncio.Queue
    )
    watchdog: asyncio.TimerHandle | None = None
    watchdog_interval_ms: int | None = None
    close_timer: asyncio.TimerHandle | None = None
    replaced: bool = False  # its RPC session moved to another socket (connect)
    closed: bool = False

    def send(self, text: str) -> None:
        if not self.closed:
            self.outbox.put_nowait(text)

    def answer(self, request_id: int, result: Any) -> None:
        self.send(encode_response(request_id, result))

    def fail(self, request_id: int, fail: RpcFail) -> None:
        self.send(encode_error(request_id, fail.code, fail.text))

    def cancel_timers(self) -> None:
        for timer in (self.watchdog, self.close_timer):
            if timer is not None:
                timer.cancel()
        self.watchdog = None
        self.close_timer = None


class Sockets:
    """Every socket and RPC session of one dev server; ``on_grace_expired`` evicts."""

    def __init__(
        self, options: DevServerOptions, on_grace_expired: Callable[[RpcSession], None]
    ) -> None:
        self.options = options
        self._on_grace_expired = on_grace_expired
        self.rpc_sessions: dict[str, RpcSession] = {}
        self.by_connection: dict[str, RpcSession] = {}
        self.sockets: set[Socket] = set()
        self.closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def notify(self, connection_id: str, method: str, params: dict[str, Any]) -> None:
        """Send a notification to a participant's current socket (lost while it has none)."""
        rpc = self.by_connection.get(connection_id)
        if rpc is not None and rpc.socket is not None:
            rpc.socket.send(encode_notification(method, params))

    def notify_threadsafe(self, connection_id: str, method: str, params: dict[str, Any]) -> None:
        """:meth:`notify` from any thread (media backends may emit from their own)."""
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            loop.call_soon_threadsafe(self.notify, connection_id, method, params)
            return
        self.notify(connection_id, method, params)

    # --- opening and closing -----------------------------------------------------------------

    def open(self, ws: web.WebSocketResponse, ip: str | None) -> Socket:
        """A new socket with a fresh RPC session; its writer task starts here."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        rpc = RpcSession(id=new_rpc_session_id(), socket=None)
        sock = Socket(ws=ws, ip=ip, rpc=rpc)
        rpc.socket = sock
        self.rpc_sessions[rpc.id] = rpc
        self.sockets.add(sock)
        return sock

    async def write(self, sock: Socket) -> None:
        """The socket's writer: sends its outbox in order until the ``None`` sentinel."""
        while True:
            text = await sock.outbox.get()
            if text is None:
                return
            try:
                await sock.ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("dropping a frame for a closing socket: %s", type(exc).__name__)
                return

    async def close_socket(self, sock: Socket, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await sock.ws.close(code=code, message=reason.encode())

    def closed(self, sock: Socket) -> None:
        """The socket is gone: a joined participant gets the grace period to reconnect."""
        sock.inbox.put_nowait(None)
        sock.outbox.put_nowait(None)
        sock.cancel_timers()
        sock.closed = True
        self.sockets.discard(sock)
        if sock.replaced or self.closing:
            return
        rpc = sock.rpc
        if rpc.socket is not sock:
            return
        rpc.socket = None
        if rpc.connection_id is None:
            self.rpc_sessions.pop(rpc.id, None)
            return
        log.info(
            "socket of %s closed without leaveRoom: evicting in %g s unless it reconnects",
            rpc.connection_id,
            self.options.grace_seconds,
        )
        rpc.grace = asyncio.get_running_loop().call_later(
            self.options.grace_seconds, self._grace_expired, rpc
        )

    def _grace_expired(self, rpc: RpcSession) -> None:
        rpc.grace = None
        if self.rpc_sessions.get(rpc.id) is not rpc or rpc.socket is not None:
            return
        self.rpc_sessions.pop(rpc.id, None)
        if rpc.session_id is not None and rpc.connection_id is not None:
            self._on_grace_expired(rpc)

    def left(self, rpc: RpcSession) -> None:
        """Its participant left or was evicted: close the socket soon, or forget the session."""
        rpc.connection_id = None
        rpc.left = True
        rpc.prepared.clear()
        sock = rpc.socket
        if sock is None:
            if rpc.grace is not None:
                rpc.grace.cancel()
                rpc.grace = None
            self.rpc_sessions.pop(rpc.id, None)
            return
        if sock.closed:
            return
        if sock.close_timer is not None:
            sock.close_timer.cancel()
        sock.close_timer = asyncio.get_running_loop().call_later(
            self.options.close_after_leave_seconds,
            lambda: self.spawn(self.close_socket(sock, 1000, "Participant left the session")),
        )

    async def close(self) -> None:
        """Server stop: close every socket, cancel every timer and task."""
        self.closing = True
        for rpc in list(self.rpc_sessions.values()):
            if rpc.grace is not None:
                rpc.grace.cancel()
                rpc.grace = None
        socks = list(self.sockets)
        for sock in socks:
            if sock.watchdog is not None:
                sock.watchdog.cancel()
            if sock.close_timer is not None:
                sock.close_timer.cancel()
        if socks:
            await asyncio.wait(
                [
                    asyncio.ensure_future(self.close_socket(s, 1001, "Server stopping"))
                    for s in socks
                ],
                timeout=3.0,
            )
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=3.0)

    # --- ping watchdog (§3.6) ----------------------------------------------------------------

    def ping(self, sock: Socket, rid: int, params: dict[str, Any]) -> None:
        interval = params.get("interval")
        if sock.watchdog_interval_ms is None:
            if (
                isinstance(interval, int | float)
                and not isinstance(interval, bool)
                and interval > 0
            ):
                sock.watchdog_interval_ms = int(interval)
            else:
                sock.watchdog_interval_ms = self.options.default_ping_interval_ms
            sock.rpc.ping_interval_ms = sock.watchdog_interval_ms
        self._arm_watchdog(sock)
        sock.answer(rid, {"value": "pong"})

    def _arm_watchdog(self, sock: Socket) -> None:
        if sock.watchdog is not None:
            sock.watchdog.cancel()
        if sock.watchdog_interval_ms is None or sock.closed:
            return
        delay = 3 * sock.watchdog_interval_ms / 1000.0
        sock.watchdog = asyncio.get_running_loop().call_later(delay, self._watchdog_fired, sock)

    def _watchdog_fired(self, sock: Socket) -> None:
        sock.watchdog = None
        log.info("no ping for 3 x %d ms: closing RPC session socket", sock.watchdog_interval_ms)
        self.spawn(self.close_socket(sock, 1000, PING_TIMEOUT_REASON))

    # --- connect: a new socket resumes an RPC session (§3.6, §7.2) ---------------------------

    def connect(self, sock: Socket, rid: int, params: dict[str, Any]) -> None:
        wanted = params.get("sessionId")
        if wanted is None:
            sock.answer(rid, {"value": "OK", "sessionId": sock.rpc.id})
            return
        target = self.rpc_sessions.get(wanted) if isinstance(wanted, str) else None
        current = sock.rpc
        if target is None or (target is not current and current.connection_id is not None):
            sock.fail(rid, RpcFail(40007, "reconnection error", suffix=False))
            return
        if target is not current:
            if target.grace is not None:
                target.grace.cancel()
                target.grace = None
            old = target.socket
            if old is not None and old is not sock:
                old.replaced = True
                if old.watchdog is not None:
                    old.watchdog.cancel()
                    old.watchdog = None
                self.spawn(self.close_socket(old, 4000, "RPC session resumed on another socket"))
            self.rpc_sessions.pop(current.id, None)
            sock.rpc = target
            target.socket = sock
            if target.ping_interval_ms is not None:
                sock.watchdog_interval_ms = target.ping_interval_ms
                self._arm_watchdog(sock)
            log.info("RPC session resumed on a new socket (connection %s)", target.connection_id)
        sock.answer(rid, {"value": "reconnection successful", "sessionId": target.id})
