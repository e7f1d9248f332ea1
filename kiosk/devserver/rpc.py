"""The dev server's JSON-RPC side (§3–§5): one :class:`RpcHub` for all WebSockets at ``/openvidu``.

Per socket: frames are parsed here; ``ping`` and ``connect`` are answered at once (like the
Kurento library does), every other request goes through a per-socket queue and is handled in
order. An *RPC session* (id injected as ``sessionId`` into every result) outlives its socket for
``grace_seconds`` so that ``connect`` can resume it on a new socket (§3.6, §7.2).

Deliberate differences from OpenVidu 2.22 (documented in docs/devserver.md):

* unknown methods get error -32601 instead of no answer;
* a socket that closes without ``leaveRoom`` (for whatever reason) is evicted after the grace
  period with ``networkDisconnect`` — no ghost participants;
* every parameter is type-checked before a token is consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from kiosk.devserver.media_api import MediaBackend, NoMediaBackend, ServerCandidate
from kiosk.devserver.options import DevServerOptions
from kiosk.devserver.sdp import ForcedCodecNotFound, force_video_codec
from kiosk.devserver.state import (
    TYPES_OF_VIDEO,
    Connection,
    ServerState,
    Session,
    StateError,
    Stream,
    new_final_user_id,
    new_rpc_session_id,
    new_stream_id,
    now_ms,
)
from kiosk.errors import MediaError
from kiosk.redact import redact

__all__ = ["PING_TIMEOUT_REASON", "RpcFail", "RpcHub"]

log = logging.getLogger("kiosk.devserver.rpc")

PING_TIMEOUT_REASON = "Close for not receive ping from client"
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_MISSING = object()


class RpcFail(Exception):
    """A JSON-RPC error answer. ``message`` must never contain a token or secret."""

    def __init__(self, code: int, message: str, *, suffix: bool = True) -> None:
        self.code = code
        self.text = f"{message}. Code: {code}" if suffix else message
        super().__init__(self.text)


# --- parameter access with the server's strict types (§3.2) -----------------------------------


def _missing(name: str, method: str) -> RpcFail:
    return RpcFail(
        -1, f"java.lang.RuntimeException:Request element '{name}' is missing in method '{method}'"
    )


def _mistyped(name: str, method: str, kind: str) -> RpcFail:
    return RpcFail(
        -1,
        f"java.lang.RuntimeException:Request element '{name}' in method '{method}' must be {kind}",
    )


def _str(params: dict[str, Any], name: str, method: str, *, required: bool = True) -> str | None:
    value = params.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name, method)
        return None
    if not isinstance(value, str):
        raise _mistyped(name, method, "a string")
    return value


def _req_str(params: dict[str, Any], name: str, method: str) -> str:
    value = _str(params, name, method)
    assert value is not None
    return value


def _bool(params: dict[str, Any], name: str, method: str, *, required: bool = True) -> bool | None:
    value = params.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name, method)
        return None
    if not isinstance(value, bool):
        raise _mistyped(name, method, "a boolean")
    return value


def _req_bool(params: dict[str, Any], name: str, method: str) -> bool:
    value = _bool(params, name, method)
    assert value is not None
    return value


def _int(params: dict[str, Any], name: str, method: str, *, required: bool = True) -> int | None:
    value = params.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise _missing(name, method)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mistyped(name, method, "an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise _mistyped(name, method, "an integer")
        value = int(value)
    return value


def _req_int(params: dict[str, Any], name: str, method: str) -> int:
    value = _int(params, name, method)
    assert value is not None
    return value


# --- per-socket and per-RPC-session bookkeeping ----------------------------------------------


@dataclass(eq=False)
class RpcSession:
    """The JSON-RPC library's session: survives a socket loss for the grace period."""

    id: str
    socket: _Socket | None
    session_id: str | None = None
    connection_id: str | None = None
    left: bool = False  # had a participant which left or was evicted
    ping_interval_ms: int | None = None
    grace: asyncio.TimerHandle | None = None
    prepared: set[str] = field(default_factory=set)  # server-offer subscriptions (stream ids)


@dataclass(eq=False)
class _Socket:
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

    def send(self, obj: dict[str, Any]) -> None:
        if not self.closed:
            self.outbox.put_nowait(json.dumps(obj, separators=(",", ":")))


Handler = Callable[
    [_Socket, RpcSession, Session, Connection, dict[str, Any]], Awaitable[dict[str, Any]]
]


class RpcHub:
    """Every JSON-RPC socket of one dev server, and everything that fans out to them."""

    def __init__(
        self, state: ServerState, options: DevServerOptions, backend: MediaBackend
    ) -> None:
        self.state = state
        self.options = options
        self.backend = backend
        self.rpc_sessions: dict[str, RpcSession] = {}
        self.by_connection: dict[str, RpcSession] = {}
        self.sockets: set[_Socket] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._methods: dict[str, Handler] = {
            "publishVideo": self._publish_video,
            "receiveVideoFrom": self._receive_video_from,
            "prepareReceiveVideoFrom": self._prepare_receive_video_from,
            "unsubscribeFromVideo": self._unsubscribe_from_video,
            "onIceCandidate": self._on_ice_candidate,
            "unpublishVideo": self._unpublish_video,
            "sendMessage": self._send_message,
            "streamPropertyChanged": self._stream_property_changed,
            "leaveRoom": self._leave_room,
            "videoData": self._video_data,
            "echo": self._echo,
            "reconnectStream": self._reconnect_stream,
            "forceDisconnect": self._force_disconnect,
            "forceUnpublish": self._force_unpublish,
        }

    # --- plumbing --------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _no_media(self) -> bool:
        return isinstance(self.backend, NoMediaBackend)

    def notify(self, connection_id: str, method: str, params: dict[str, Any]) -> None:
        """Send a notification to a participant's current socket (lost while it has none)."""
        rpc = self.by_connection.get(connection_id)
        if rpc is not None and rpc.socket is not None:
            rpc.socket.send({"method": method, "params": params, "jsonrpc": "2.0"})

    async def _cleanup(self, what: str, awaitable: Awaitable[None]) -> None:
        """Await a media clean-up step; a failure is logged, never propagated."""
        try:
            await awaitable
        except MediaError as exc:
            log.warning("media %s failed: %s", what, exc)
        except Exception:
            log.exception("media %s failed", what)

    def _emit(self, cand: ServerCandidate) -> None:
        """The backend's CandidateSink; safe to call from another thread."""
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            loop.call_soon_threadsafe(self._emit, cand)
            return
        self.notify(
            cand.to_connection_id,
            "iceCandidate",
            {
                "senderConnectionId": cand.sender_connection_id,
                "endpointName": cand.endpoint_name,
                "sdpMLineIndex": cand.sdp_mline_index,
                "sdpMid": cand.sdp_mid,
                "candidate": cand.candidate,
            },
        )

    async def _writer(self, sock: _Socket) -> None:
        while True:
            text = await sock.outbox.get()
            if text is None:
                return
            try:
                await sock.ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("dropping a frame for a closing socket: %s", type(exc).__name__)
                return

    async def _close_socket(self, sock: _Socket, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await sock.ws.close(code=code, message=reason.encode())

    # --- the WebSocket endpoint ------------------------------------------------------------

    async def handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        if self._closing:
            raise web.HTTPServiceUnavailable(text="the dev server is stopping")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        ws = web.WebSocketResponse(timeout=2.0, autoping=True)
        try:
            await ws.prepare(request)
        except ConnectionResetError:
            # The client gave up before its handshake was answered (e.g. its open timeout ran out
            # while the network held the request): nothing to serve, and no traceback to log.
            log.info("WebSocket handshake from %s: the client had already gone", request.remote)
            return web.Response(status=400, text="client gone")  # type: ignore[return-value]
        rpc = RpcSession(id=new_rpc_session_id(), socket=None)
        sock = _Socket(ws=ws, ip=request.remote, rpc=rpc)
        rpc.socket = sock
        self.rpc_sessions[rpc.id] = rpc
        self.sockets.add(sock)
        writer = self._spawn(self._writer(sock))
        self._spawn(self._worker(sock))  # ends at the None sentinel put below
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(sock, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    log.info("ignoring a binary frame on /openvidu")
                else:
                    break
        finally:
            self._on_socket_closed(sock)
            sock.inbox.put_nowait(None)
            sock.outbox.put_nowait(None)
            sock.closed = True
            self.sockets.discard(sock)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({writer}, timeout=1.0)
        return ws

    def _on_text(self, sock: _Socket, data: str) -> None:
        try:
            obj = json.loads(data)
        except ValueError:
            log.info("ignoring a frame that is not JSON (%d chars)", len(data))
            return
        if not isinstance(obj, dict):
            log.info("ignoring a JSON-RPC frame that is not an object (batches are not supported)")
            return
        rid = obj.get("id")
        method = obj.get("method")
        if not isinstance(rid, int) or isinstance(rid, bool):
            log.info("ignoring a request without an integer id (method %r)", redact(str(method)))
            return
        if not isinstance(method, str):
            log.info("ignoring request %d without a method name", rid)
            return
        params = obj.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self._send_error(
                sock, rid, RpcFail(-32602, "params must be a JSON object", suffix=False)
            )
            return
        claimed = params.get("sessionId")
        if method not in ("connect", "ping") and claimed is not None and claimed != sock.rpc.id:
            # The Kurento library would silently bind the request to another RPC session and
            # fail with 803 (§3.2); say so explicitly.
            self._send_error(
                sock,
                rid,
                RpcFail(
                    803,
                    f"params.sessionId does not match this socket's RPC session; never send "
                    f"'sessionId' in the params of {method[:40]}",
                ),
            )
            return
        if method == "ping":
            self._ping(sock, rid, params)
        elif method == "connect":
            self._connect(sock, rid, params)
        elif method == "closeSession":
            sock.send({"id": rid, "result": "bye", "jsonrpc": "2.0"})
            self._spawn(self._close_socket(sock, 1000, "closeSession"))
        else:
            sock.inbox.put_nowait((rid, method, params))

    def _send_error(self, sock: _Socket, rid: int, fail: RpcFail) -> None:
        sock.send({"id": rid, "error": {"code": fail.code, "message": fail.text}, "jsonrpc": "2.0"})

    # --- ping watchdog (§3.6) --------------------------------------------------------------

    def _ping(self, sock: _Socket, rid: int, params: dict[str, Any]) -> None:
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
        sock.send({"id": rid, "result": {"value": "pong"}, "jsonrpc": "2.0"})

    def _arm_watchdog(self, sock: _Socket) -> None:
        if sock.watchdog is not None:
            sock.watchdog.cancel()
        if sock.watchdog_interval_ms is None or sock.closed:
            return
        delay = 3 * sock.watchdog_interval_ms / 1000.0
        sock.watchdog = asyncio.get_running_loop().call_later(delay, self._watchdog_fired, sock)

    def _watchdog_fired(self, sock: _Socket) -> None:
        sock.watchdog = None
        log.info("no ping for 3 x %d ms: closing RPC session socket", sock.watchdog_interval_ms)
        self._spawn(self._close_socket(sock, 1000, PING_TIMEOUT_REASON))

    # --- connect / grace (§3.6, §7.2) ------------------------------------------------------

    def _connect(self, sock: _Socket, rid: int, params: dict[str, Any]) -> None:
        wanted = params.get("sessionId")
        if wanted is None:
            sock.send(
                {"id": rid, "result": {"value": "OK", "sessionId": sock.rpc.id}, "jsonrpc": "2.0"}
            )
            return
        target = self.rpc_sessions.get(wanted) if isinstance(wanted, str) else None
        current = sock.rpc
        if target is None or (target is not current and current.connection_id is not None):
            self._send_error(sock, rid, RpcFail(40007, "reconnection error", suffix=False))
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
                self._spawn(self._close_socket(old, 4000, "RPC session resumed on another socket"))
            self.rpc_sessions.pop(current.id, None)
            sock.rpc = target
            target.socket = sock
            if target.ping_interval_ms is not None:
                sock.watchdog_interval_ms = target.ping_interval_ms
                self._arm_watchdog(sock)
            log.info("RPC session resumed on a new socket (connection %s)", target.connection_id)
        sock.send(
            {
                "id": rid,
                "result": {"value": "reconnection successful", "sessionId": target.id},
                "jsonrpc": "2.0",
            }
        )

    def _on_socket_closed(self, sock: _Socket) -> None:
        if sock.watchdog is not None:
            sock.watchdog.cancel()
            sock.watchdog = None
        if sock.close_timer is not None:
            sock.close_timer.cancel()
            sock.close_timer = None
        if sock.replaced or self._closing:
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
            self._spawn(self.evict(rpc.session_id, rpc.connection_id, "networkDisconnect"))

    def _schedule_close_after_leave(self, rpc: RpcSession) -> None:
        sock = rpc.socket
        if sock is None or sock.closed:
            return
        if sock.close_timer is not None:
            sock.close_timer.cancel()
        sock.close_timer = asyncio.get_running_loop().call_later(
            self.options.close_after_leave_seconds,
            lambda: self._spawn(self._close_socket(sock, 1000, "Participant left the session")),
        )

    # --- request dispatch ------------------------------------------------------------------

    async def _worker(self, sock: _Socket) -> None:
        while True:
            item = await sock.inbox.get()
            if item is None:
                return
            rid, method, params = item
            try:
                await self._dispatch(sock, rid, method, params)
            except Exception:
                log.exception("unexpected error in %s", method)
                self._send_error(sock, rid, RpcFail(-1, f"java.lang.RuntimeException:{method}"))

    def _participant(self, rpc: RpcSession) -> tuple[Session, Connection] | None:
        if rpc.session_id is None or rpc.connection_id is None:
            return None
        session = self.state.sessions.get(rpc.session_id)
        if session is None:
            return None
        conn = session.connections.get(rpc.connection_id)
        if conn is None or conn.status != "active":
            return None
        return session, conn

    async def _dispatch(self, sock: _Socket, rid: int, method: str, params: dict[str, Any]) -> None:
        rpc = sock.rpc
        try:
            if method == "joinRoom":
                result = await self._join_room(sock, rpc, params)
            else:
                handler = self._methods.get(method)
                if handler is None:
                    raise RpcFail(-32601, f"Method not found: {method}", suffix=False)
                found = self._participant(rpc)
                if found is None:
                    if rpc.left or rpc.connection_id is not None:
                        # Like OpenVidu: no answer once the participant is gone (§3.7, §4.10).
                        log.info("not answering %s: the participant has left", method)
                        return
                    raise RpcFail(
                        803,
                        f"No connection found for participant with privateId {rpc.id}. "
                        "Method 'Session.connect()' must be the first operation called in any "
                        "session",
                    )
                session, conn = found
                result = await handler(sock, rpc, session, conn, params)
        except RpcFail as fail:
            self._send_error(sock, rid, fail)
            return
        result["sessionId"] = rpc.id
        sock.send({"id": rid, "result": result, "jsonrpc": "2.0"})

    # --- joinRoom (§4.2) -------------------------------------------------------------------

    async def _join_room(
        self, sock: _Socket, rpc: RpcSession, params: dict[str, Any]
    ) -> dict[str, Any]:
        m = "joinRoom"
        token = _req_str(params, "token", m)
        session_id = _req_str(params, "session", m)
        platform = _req_str(params, "platform", m)
        metadata = _req_str(params, "metadata", m)
        secret = _req_str(params, "secret", m)
        _bool(params, "recorder", m, required=False)
        sdk_version = _req_str(params, "sdkVersion", m)
        if not _SEMVER.match(sdk_version):
            raise RpcFail(
                -1, f"java.lang.RuntimeException:sdkVersion '{sdk_version[:40]}' is not semver"
            )
        if self._participant(rpc) is not None:
            raise RpcFail(104, "This WebSocket has already joined a session")
        session = self.state.sessions.get(session_id)
        if session is None:
            raise RpcFail(
                202, f"Unable to join session {session_id}. Session {session_id} cannot be found"
            )
        if secret and secret == self.options.secret:
            conn = self.state.create_connection(session_id, role="PUBLISHER")
        else:
            try:
                conn = self.state.consume_token(session_id, token)
            except StateError as exc:
                raise RpcFail(
                    401, f"Unable to join session {session_id}. Token is not valid"
                ) from exc
        self.state.activate(conn, client_data=metadata, platform=platform, ip=sock.ip)
        if sock.close_timer is not None:
            sock.close_timer.cancel()
            sock.close_timer = None
        rpc.session_id = session_id
        rpc.connection_id = conn.connection_id
        rpc.left = False
        rpc.prepared.clear()
        self.by_connection[conn.connection_id] = rpc
        assert conn.active_at is not None
        others = [c for c in session.active_connections() if c is not conn]
        value = []
        for other in others:
            entry: dict[str, Any] = {
                "id": other.connection_id,
                "createdAt": other.active_at,
                "metadata": other.metadata,
            }
            if other.stream is not None:
                entry["streams"] = [other.stream.rpc_json()]
            value.append(entry)
        joined = {"id": conn.connection_id, "createdAt": conn.active_at, "metadata": conn.metadata}
        for other in others:
            self.notify(other.connection_id, "participantJoined", dict(joined))
        log.info("%s joined session %s", conn.connection_id, session_id)
        result: dict[str, Any] = {
            "id": conn.connection_id,
            "finalUserId": new_final_user_id(),
            "createdAt": conn.active_at,
            "metadata": conn.metadata,
            "value": value,
            "session": session_id,
            "version": self.options.version,
            "mediaServer": self.options.media_server,
            "videoSimulcast": False,
            "record": conn.record,
            "role": conn.role,
        }
        if conn.custom_ice_servers:
            result["customIceServers"] = list(conn.custom_ice_servers)
        return result

    # --- leaving and eviction (§4.10, §5.4, §5.5) ------------------------------------------

    async def _remove(
        self, session_id: str, connection_id: str, reason: str, evicted: bool
    ) -> bool:
        session = self.state.sessions.get(session_id)
        if session is None:
            return False
        conn = session.connections.get(connection_id)
        if conn is None or conn.status != "active":
            return False
        if evicted:
            self.notify(
                connection_id,
                "participantEvicted",
                {"connectionId": connection_id, "reason": reason},
            )
        rpc = self.by_connection.pop(connection_id, None)
        self.state.remove_connection(session_id, connection_id)
        for other in session.active_connections():
            self.notify(
                other.connection_id,
                "participantLeft",
                {"connectionId": connection_id, "reason": reason},
            )
            if evicted:
                self.notify(
                    other.connection_id,
                    "participantEvicted",
                    {"connectionId": connection_id, "reason": reason},
                )
        if rpc is not None:
            rpc.connection_id = None
            rpc.left = True
            rpc.prepared.clear()
            if rpc.socket is not None:
                self._schedule_close_after_leave(rpc)
            else:
                if rpc.grace is not None:
                    rpc.grace.cancel()
                    rpc.grace = None
                self.rpc_sessions.pop(rpc.id, None)
        await self._cleanup(f"release of {connection_id}", self.backend.release(connection_id))
        if (
            session.active
            and not session.active_connections()
            and self.state.sessions.get(session_id) is session
        ):
            self.state.remove_session(session_id)
            log.info("session %s closed: its last participant left", session_id)
        log.info("%s left session %s (%s)", connection_id, session_id, reason or "no reason")
        return True

    async def evict(self, session_id: str, connection_id: str, reason: str) -> bool:
        """Evict an active participant (REST delete, watchdog, forceDisconnect, session close)."""
        return await self._remove(session_id, connection_id, reason, evicted=True)

    async def close_session(self, session_id: str) -> None:
        """``DELETE /sessions/{id}``: evict everybody with ``sessionClosedByServer``."""
        session = self.state.sessions.get(session_id)
        if session is None:
            return
        for conn in list(session.active_connections()):
            await self.evict(session_id, conn.connection_id, "sessionClosedByServer")
        if self.state.sessions.get(session_id) is session:
            self.state.remove_session(session_id)

    async def unpublish(
        self, session: Session, owner: Connection, reason: str, *, tell_owner: bool
    ) -> None:
        """Drop ``owner``'s stream; others (and the owner if asked) get participantUnpublished."""
        stream = owner.stream
        if stream is None:
            return
        owner.stream = None
        self.state.drop_subscriptions(session, stream.stream_id)
        for rpc in self.rpc_sessions.values():
            rpc.prepared.discard(stream.stream_id)
        await self._cleanup(
            f"unpublish of {stream.stream_id}", self.backend.unpublish(stream.stream_id)
        )
        params = {"connectionId": owner.connection_id, "reason": reason}
        for other in session.active_connections():
            if other is not owner or tell_owner:
                self.notify(other.connection_id, "participantUnpublished", dict(params))

    def send_signal(
        self,
        session: Session,
        to: list[Connection],
        *,
        type_: str | None,
        data: str | None,
        from_id: str | None,
    ) -> None:
        """Deliver a ``sendMessage`` notification (§5.8) to ``to``."""
        params: dict[str, Any] = {}
        if data is not None:
            params["data"] = data
        if type_ is not None:
            params["type"] = type_
        if from_id is not None:
            params["from"] = from_id
        for conn in to:
            self.notify(conn.connection_id, "sendMessage", dict(params))

    async def close(self) -> None:
        """Server stop: close every socket, cancel every timer and task."""
        self._closing = True
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
                    asyncio.ensure_future(self._close_socket(s, 1001, "Server stopping"))
                    for s in socks
                ],
                timeout=3.0,
            )
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=3.0)

    # --- media methods (§4.3–§4.7, §4.13) --------------------------------------------------

    def _munge(self, session: Session, sdp: str) -> str:
        try:
            return force_video_codec(
                sdp,
                session.forced_video_codec_resolved,
                allow_transcoding=session.allow_transcoding,
            )
        except ForcedCodecNotFound as exc:
            raise RpcFail(
                800,
                f"Error forcing codec: the SDP has no {exc.codec} payload type for a video m-line",
            ) from exc

    @staticmethod
    def _not_streaming(session: Session, connection_id: str) -> RpcFail:
        return RpcFail(
            105, f"User '{connection_id}' not streaming media in session '{session.session_id}'"
        )

    def _media_fail(self, exc: MediaError, code: int) -> RpcFail:
        if self._no_media():
            return RpcFail(204, str(exc))
        return RpcFail(code, str(exc))

    async def _publish_video(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        m = "publishVideo"
        if conn.role == "SUBSCRIBER":
            raise RpcFail(401, "Unable to publish video. The user does not have a valid token")
        sdp_offer = _req_str(params, "sdpOffer", m)
        _req_bool(params, "doLoopback", m)
        has_audio = _req_bool(params, "hasAudio", m)
        has_video = _req_bool(params, "hasVideo", m)
        audio_active = _bool(params, "audioActive", m, required=False)
        video_active = _bool(params, "videoActive", m, required=False)
        type_of_video = _str(params, "typeOfVideo", m, required=has_video)
        if type_of_video is not None and type_of_video not in TYPES_OF_VIDEO:
            raise RpcFail(
                -1, f"java.lang.RuntimeException:typeOfVideo '{type_of_video[:20]}' is not valid"
            )
        frame_rate = _int(params, "frameRate", m, required=False)
        dims = _str(params, "videoDimensions", m, required=False)
        flt = params.get("filter")
        if flt is not None and not isinstance(flt, dict):
            raise _mistyped("filter", m, "an object")
        if flt:
            raise RpcFail(406, "Unable to apply filter: the dev server does not support filters")
        if conn.stream is not None:
            raise RpcFail(106, f"User '{conn.connection_id}' is already publishing")
        munged = self._munge(session, sdp_offer)
        stream_id = new_stream_id(conn.connection_id, has_video, type_of_video)
        try:
            answer = await self.backend.publish(
                conn.connection_id, stream_id, munged, has_audio, has_video, self._emit
            )
        except MediaError as exc:
            raise self._media_fail(exc, 302) from exc
        if self._participant(rpc) is None or conn.stream is not None:
            await self._cleanup(f"unpublish of {stream_id}", self.backend.unpublish(stream_id))
            raise RpcFail(105, f"User '{conn.connection_id}' left while publishing")
        stream = Stream(
            stream_id=stream_id,
            created_at=now_ms(),
            has_audio=has_audio,
            has_video=has_video,
            audio_active=audio_active,
            video_active=video_active,
            type_of_video=type_of_video if has_video else None,
            frame_rate=frame_rate,
            video_dimensions=dims,
        )
        conn.stream = stream
        published = {"id": conn.connection_id, "streams": [stream.rpc_json()]}
        for other in session.active_connections():
            if other is not conn:
                self.notify(other.connection_id, "participantPublished", published)
        log.info("%s publishes %s", conn.connection_id, stream_id)
        return {"sdpAnswer": answer, "id": stream_id, "createdAt": stream.created_at}

    def _resolve_sender(self, session: Session, conn: Connection, sender: str) -> Stream:
        pub_id = sender[sender.rfind("con_") :] if "con_" in sender else sender
        pub = session.connections.get(pub_id)
        if pub is None or pub.status != "active":
            raise RpcFail(102, f"User '{pub_id}' not found in session '{session.session_id}'")
        if pub is conn:
            raise RpcFail(105, f"User '{conn.connection_id}' cannot subscribe to itself")
        if pub.stream is None or pub.stream.stream_id != sender:
            raise self._not_streaming(session, pub_id)
        return pub.stream

    async def _drop_subscription(self, conn: Connection, rpc: RpcSession, stream_id: str) -> None:
        had = conn.subscriptions.pop(stream_id, None) is not None
        if had or stream_id in rpc.prepared:
            rpc.prepared.discard(stream_id)
            await self._cleanup(
                f"unsubscribe of {conn.connection_id} from {stream_id}",
                self.backend.unsubscribe(conn.connection_id, stream_id),
            )

    async def _receive_video_from(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        m = "receiveVideoFrom"
        sender = _req_str(params, "sender", m)
        sdp_offer = _str(params, "sdpOffer", m, required=False)
        sdp_answer = _str(params, "sdpAnswer", m, required=False)
        if sdp_offer is None and sdp_answer is None:
            raise _missing("sdpOffer", m)
        stream = self._resolve_sender(session, conn, sender)
        if sdp_offer is not None:
            munged = self._munge(session, sdp_offer)
            await self._drop_subscription(conn, rpc, stream.stream_id)
            try:
                answer = await self.backend.subscribe(
                    conn.connection_id, stream.stream_id, munged, self._emit
                )
            except MediaError as exc:
                raise self._media_fail(exc, 303) from exc
            conn.subscriptions[stream.stream_id] = now_ms()
            return {"sdpAnswer": answer}
        assert sdp_answer is not None
        if stream.stream_id not in rpc.prepared:
            raise RpcFail(
                303,
                f"No prepared subscription to '{stream.stream_id}': "
                "call prepareReceiveVideoFrom first",
            )
        try:
            await self.backend.complete_subscribe(conn.connection_id, stream.stream_id, sdp_answer)
        except MediaError as exc:
            raise self._media_fail(exc, 302) from exc
        rpc.prepared.discard(stream.stream_id)
        conn.subscriptions[stream.stream_id] = now_ms()
        return {}

    async def _prepare_receive_video_from(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        m = "prepareReceiveVideoFrom"
        sender = _req_str(params, "sender", m)
        _req_bool(params, "reconnect", m)
        stream = self._resolve_sender(session, conn, sender)
        await self._drop_subscription(conn, rpc, stream.stream_id)
        try:
            offer = await self.backend.prepare_subscribe(
                conn.connection_id, stream.stream_id, self._emit
            )
        except MediaError as exc:
            raise self._media_fail(exc, 303) from exc
        rpc.prepared.add(stream.stream_id)
        try:
            offer = self._munge(session, offer)
        except RpcFail:
            await self._drop_subscription(conn, rpc, stream.stream_id)
            raise
        return {"sdpOffer": offer}

    async def _unsubscribe_from_video(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        sender = _req_str(params, "sender", "unsubscribeFromVideo")
        pub = session.connections.get(sender)
        if pub is None or pub.status != "active":
            raise RpcFail(102, f"User '{sender}' not found in session '{session.session_id}'")
        if pub.stream is not None:
            await self._drop_subscription(conn, rpc, pub.stream.stream_id)
        return {}

    async def _on_ice_candidate(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        m = "onIceCandidate"
        endpoint = _req_str(params, "endpointName", m)
        candidate = _req_str(params, "candidate", m)
        sdp_mid = _req_str(params, "sdpMid", m)
        index = _req_int(params, "sdpMLineIndex", m)
        try:
            await self.backend.add_client_candidate(
                conn.connection_id, endpoint, candidate, sdp_mid, index
            )
        except MediaError as exc:
            raise RpcFail(303, str(exc)) from exc
        return {}

    async def _unpublish_video(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        if conn.stream is None:
            raise self._not_streaming(session, conn.connection_id)
        await self.unpublish(session, conn, "unpublish", tell_owner=False)
        return {}

    async def _reconnect_stream(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        m = "reconnectStream"
        stream_id = _req_str(params, "stream", m)
        sdp_string = _str(params, "sdpString", m, required=False)
        sdp_offer = _str(params, "sdpOffer", m, required=False)
        if conn.stream is not None and conn.stream.stream_id == stream_id:
            raise RpcFail(
                302,
                "reconnectStream of your own published stream is not supported by the dev "
                "server: unpublish and publish again",
            )
        found = session.find_stream(stream_id)
        if found is None:
            raise RpcFail(
                105, f"Stream '{stream_id}' does not exist in Session '{session.session_id}'"
            )
        if sdp_offer is not None:
            return await self._receive_video_from(
                sock, rpc, session, conn, {"sender": stream_id, "sdpOffer": sdp_offer}
            )
        if sdp_string is not None:
            return await self._receive_video_from(
                sock, rpc, session, conn, {"sender": stream_id, "sdpAnswer": sdp_string}
            )
        raise _missing("sdpOffer", m)

    # --- signals, properties, misc (§4.8–§4.12, §4.15) -------------------------------------

    async def _send_message(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        text = _req_str(params, "message", "sendMessage")
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise RpcFail(600, "Signal message must be the JSON text of an object")
        to = message.get("to")
        data = message.get("data")
        type_ = message.get("type")
        if (
            (to is not None and not isinstance(to, list))
            or (data is not None and not isinstance(data, str))
            or (type_ is not None and not isinstance(type_, str))
        ):
            raise RpcFail(600, "Signal message has a member of the wrong type (to/data/type)")
        active = {c.connection_id: c for c in session.active_connections()}
        if to:
            targets = []
            for entry in to:
                if not isinstance(entry, str) or entry not in active:
                    raise RpcFail(
                        601,
                        f"Signal destination '{str(entry)[:40]}' is not in session "
                        f"'{session.session_id}'",
                    )
                targets.append(active[entry])
        else:
            targets = list(active.values())
        self.send_signal(session, targets, type_=type_, data=data, from_id=conn.connection_id)
        return {}

    async def _stream_property_changed(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        m = "streamPropertyChanged"
        _req_str(params, "streamId", m)
        prop = _req_str(params, "property", m)
        if "newValue" not in params:
            raise _missing("newValue", m)
        new_value = params["newValue"]
        reason = _req_str(params, "reason", m)
        stream = conn.stream
        if stream is None:
            raise self._not_streaming(session, conn.connection_id)
        self.state.set_property(stream, prop, new_value)
        encoded: Any = (
            new_value if prop == "filter" else json.dumps(new_value, separators=(",", ":"))
        )
        out = {
            "connectionId": conn.connection_id,
            "streamId": stream.stream_id,
            "property": prop,
            "newValue": encoded,
            "reason": reason,
        }
        for other in session.active_connections():
            if other is not conn:
                self.notify(other.connection_id, "streamPropertyChanged", dict(out))
        return {}

    async def _leave_room(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        await self._remove(session.session_id, conn.connection_id, "disconnect", evicted=False)
        return {}

    async def _video_data(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        m = "videoData"
        _req_int(params, "height", m)
        _req_int(params, "width", m)
        _req_bool(params, "videoActive", m)
        _req_bool(params, "audioActive", m)
        return {}

    async def _echo(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        return {}

    async def _force_disconnect(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        if conn.role != "MODERATOR":
            raise RpcFail(401, "Unable to force disconnect. The user does not have a valid token")
        target = _req_str(params, "connectionId", "forceDisconnect")
        other = session.connections.get(target)
        if other is None or other.status != "active":
            raise RpcFail(102, f"User '{target}' not found in session '{session.session_id}'")
        await self.evict(session.session_id, target, "forceDisconnectByUser")
        return {}

    async def _force_unpublish(
        self,
        sock: _Socket,
        rpc: RpcSession,
        session: Session,
        conn: Connection,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        if conn.role != "MODERATOR":
            raise RpcFail(401, "Unable to force unpublish. The user does not have a valid token")
        stream_id = _req_str(params, "streamId", "forceUnpublish")
        found = session.find_stream(stream_id)
        if found is None:
            raise RpcFail(
                105, f"Stream '{stream_id}' does not exist in Session '{session.session_id}'"
            )
        await self.unpublish(session, found[0], "forceUnpublishByUser", tell_owner=True)
        return {}
