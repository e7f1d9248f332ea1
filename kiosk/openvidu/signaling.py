"""JSON-RPC signaling over one WebSocket (protocol §3, §3.6, §7.3).

The only module that imports ``websockets``; its errors (and OSError/TLS errors) are converted
here into :mod:`kiosk.errors`. Everything is bounded: the handshake by ``open_timeout``, every
request by ``request_timeout`` (pings by ``ping_timeout``), closing by a short close timeout.

Liveness: ``open()`` sends ``ping {"interval": ms}`` first and waits for the pong; afterwards a
ping without params goes out every ``ping_interval``. A ping unanswered within ``ping_timeout``
or a dropped socket sets ``lost`` and fails every pending request with ``SignalingLost``.
``resume()`` opens a new socket and sends ``connect`` before any ping (§3.6 pitfall).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)

from kiosk.errors import (
    ResumeFailed,
    RpcError,
    RpcTimeout,
    SignalingError,
    SignalingLost,
    TlsUntrusted,
)
from kiosk.openvidu.jsonrpc import (
    MAX_FRAME_BYTES,
    ErrorResponse,
    JsonRpcProtocol,
    Malformed,
    Notification,
    Response,
)
from kiosk.openvidu.tls import TLS_HINT
from kiosk.redact import redact

__all__ = ["DEFAULT_TIMEOUTS", "Signaling", "SignalingTimeouts"]

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 2.0
_WS_MAX_SIZE = 2 * MAX_FRAME_BYTES  # larger frames close the socket; ≤ this are Malformed
_CLOSE_BY_CLIENT = 4102  # openvidu-browser: "Connection closed by client"
_CLOSE_FOR_RECONNECT = 4104  # openvidu-browser: "Connection closed for reconnection"


class _WireLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' logger: frame-level DEBUG lines (they quote frames, i.e. tokens) are dropped,
    everything else is redacted and logged under ``kiosk.openvidu.websockets``."""

    def isEnabledFor(self, level: int) -> bool:
        return level >= logging.INFO and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = str(msg)
        kwargs.pop("exc_info", None)
        self.logger.log(level, "%s", _one_line(text, 300), **kwargs)


_WIRE_LOG = _WireLogger(logging.getLogger("kiosk.openvidu.websockets"), {})


def _hostport(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port or (443 if parts.scheme == "wss" else 80)
    except ValueError:
        return "the signaling server"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}"


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_close(exc: ConnectionClosed) -> str:
    frame = exc.rcvd
    if frame is None:
        return "socket closed without a close frame"
    reason = f": {_one_line(frame.reason)}" if frame.reason else ""
    return f"socket closed by the server (code {frame.code}{reason})"


@dataclass(frozen=True, slots=True)
class SignalingTimeouts:
    """The seconds one signaling conversation waits (see the module text)."""

    ping_interval: float = 5.0
    ping_timeout: float = 5.0
    request_timeout: float = 10.0
    open_timeout: float = 10.0


DEFAULT_TIMEOUTS = SignalingTimeouts()


class Signaling:
    """One JSON-RPC conversation with the OpenVidu server, resumable on a new socket."""

    def __init__(
        self,
        url: str,
        *,
        ssl: ssl_module.SSLContext | None,
        on_notification: Callable[[Notification], None],
        timeouts: SignalingTimeouts = DEFAULT_TIMEOUTS,
        tls_hint: str = TLS_HINT,
    ) -> None:
        self.url = url
        self.tls_hint = tls_hint
        self.hostport = _hostport(url)
        self._ssl = ssl if url.lower().startswith("wss:") else None
        self._on_notification = on_notification
        self.timeouts = timeouts
        self._protocol = JsonRpcProtocol()
        self._ws: ClientConnection | None = None
        self._gen = 0  # socket generation: tasks of a replaced socket must not act
        self._pending: dict[int, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        self._malformed = 0
        self.rpc_session_id: str | None = None
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self.pings_answered = 0

    # --- public API ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._closed and not self.lost.is_set()

    async def open(self) -> None:
        """Connect and send the first ping (with the interval); raise SignalingLost/TlsUntrusted."""
        if self._closed:
            raise SignalingLost(f"signaling to {self.hostport}: already closed")
        if self._ws is not None:
            raise SignalingError(f"signaling to {self.hostport}: already open")
        ws = await self._connect()
        gen = self._attach(ws)
        try:
            await self._first_ping(gen)
        except SignalingError:
            await self._detach_and_close(_CLOSE_BY_CLIENT, "Connection closed by client")
            self._ws = None
            raise

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - interface fixed by the architecture
    ) -> dict[str, Any]:
        """Send a request and wait for its result (``{}``-params when None, except ``ping``).

        Raises RpcError(method, code, message), RpcTimeout(method, t), SignalingLost.
        """
        if self._closed or self._ws is None:
            raise SignalingLost(f"{method}: signaling to {self.hostport} is not open")
        if self.lost.is_set():
            raise SignalingLost(f"{method}: signaling to {self.hostport} lost ({self.lost_reason})")
        return await self._request(method, params, timeout)

    async def resume(self, open_timeout: float | None = None) -> None:
        """New socket, ``connect {sessionId, reconnect: true}`` first, then pings restart.

        Raises ResumeFailed (the server no longer has our RPC session — ``definitive`` — or
        no socket). ``open_timeout`` bounds this attempt's WebSocket open (default: the
        client's): short attempts let a caller try again until the server's grace period ends.
        """
        if self._closed:
            raise ResumeFailed(f"signaling to {self.hostport}: closed; join again")
        rpc_id = self.rpc_session_id
        if not rpc_id:
            raise ResumeFailed(f"signaling to {self.hostport}: nothing to resume; join again")
        if not self.lost.is_set():
            self.lost_reason = "replaced by a resumed socket"
            self.lost.set()
        await self._detach_and_close(_CLOSE_FOR_RECONNECT, "Connection closed for reconnection")
        try:
            ws = await self._connect(open_timeout)
        except SignalingError as exc:
            raise ResumeFailed(f"resume: {exc}") from exc
        gen = self._attach(ws)
        try:
            result = await self._request(
                "connect", {"sessionId": rpc_id, "reconnect": True}, self.timeouts.request_timeout
            )
        except RpcError as exc:
            await self._detach_and_close(_CLOSE_BY_CLIENT, "Reconnection fault")
            raise ResumeFailed(
                f"connect: server error {exc.code}: {exc.server_message}; the server dropped"
                " this session, join again",
                definitive=True,
            ) from exc
        except SignalingError as exc:
            await self._detach_and_close(_CLOSE_BY_CLIENT, "Reconnection fault")
            raise ResumeFailed(f"connect: {exc}") from exc
        sid = result.get("sessionId")
        if isinstance(sid, str) and sid:
            self.rpc_session_id = sid
        self.lost_reason = ""
        self.lost.clear()
        try:
            await self._first_ping(gen)
        except SignalingError as exc:
            raise ResumeFailed(f"resume: {exc}") from exc
        log.info("signaling to %s resumed", self.hostport)

    async def close(self) -> None:
        """Cancel every task, fail pending requests, close the socket (bounded). Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._detach_and_close(_CLOSE_BY_CLIENT, "Connection closed by client")
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- socket lifecycle ------------------------------------------------------------------

    async def _connect(self, open_timeout: float | None = None) -> ClientConnection:
        where = self.hostport
        limit = self.timeouts.open_timeout if open_timeout is None else open_timeout
        try:
            async with asyncio.timeout(limit + 1.0):
                return await connect(
                    self.url,
                    ssl=self._ssl,
                    open_timeout=limit,
                    ping_interval=None,
                    ping_timeout=None,
                    close_timeout=_CLOSE_TIMEOUT,
                    max_size=_WS_MAX_SIZE,
                    max_queue=64,
                    compression=None,
                    proxy=None,
                    logger=_WIRE_LOG,
                )
        except TimeoutError as exc:
            raise SignalingLost(
                f"signaling: {where} did not accept the WebSocket within {limit:g} s"
            ) from exc
        except ssl_module.SSLCertVerificationError as exc:
            raise TlsUntrusted(
                f"certificate of {where} is not trusted (signaling); {self.tls_hint}"
            ) from exc
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise SignalingLost(
                f"signaling: {where} refused the WebSocket (HTTP {status}); is it OpenVidu?"
            ) from exc
        except (InvalidURI, ValueError) as exc:
            raise SignalingLost(f"signaling: bad WebSocket URL for {where}") from exc
        except (InvalidHandshake, WebSocketException) as exc:
            raise SignalingLost(
                f"signaling: WebSocket handshake with {where} failed: {_one_line(str(exc))}"
            ) from exc
        except OSError as exc:
            why = exc.strerror or _one_line(str(exc)) or type(exc).__name__
            raise SignalingLost(f"signaling: cannot connect to {where}: {why}") from exc

    def _attach(self, ws: ClientConnection) -> int:
        self._gen += 1
        gen = self._gen
        self._ws = ws
        self._reader = asyncio.create_task(self._read_loop(ws, gen), name="signaling-reader")
        return gen

    async def _detach_and_close(self, code: int, reason: str) -> None:
        """Invalidate the current socket's tasks, fail its requests, close it (bounded)."""
        self._gen += 1
        ws, self._ws = self._ws, None
        self._fail_pending(SignalingLost(f"signaling to {self.hostport}: socket closed"))
        tasks = [t for t in (self._reader, self._pinger) if t is not None]
        self._reader = self._pinger = None
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        others = [t for t in tasks if t is not current]
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        if ws is not None:
            await self._close_ws(ws, code, reason)

    async def _close_ws(self, ws: ClientConnection, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT + 0.5):
                await ws.close(code=code, reason=reason)
        except (TimeoutError, OSError, WebSocketException) as exc:
            log.debug("signaling: closing socket to %s: %s", self.hostport, type(exc).__name__)

    def _fail_pending(self, error: SignalingError) -> None:
        pending, self._pending = self._pending, {}
        for _method, future in pending.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # mark retrieved: the waiter may already be gone

    def _socket_gone(self, gen: int, reason: str, *, close: bool) -> None:
        """The socket of generation ``gen`` is unusable: fail requests, set ``lost``."""
        if gen != self._gen or self._closed:
            return
        if not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()
            log.warning("signaling to %s lost: %s", self.hostport, reason)
        self._fail_pending(SignalingLost(f"signaling to {self.hostport} lost: {reason}"))
        ws = self._ws
        if close and ws is not None:
            task = asyncio.create_task(
                self._close_ws(ws, _CLOSE_FOR_RECONNECT, "Connection closed for reconnection")
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # --- requests ---------------------------------------------------------------------------

    async def _request(
        self, method: str, params: dict[str, Any] | None, limit_s: float | None
    ) -> dict[str, Any]:
        ws = self._ws
        if ws is None:
            raise SignalingLost(f"{method}: signaling to {self.hostport} is not open")
        if params is None and method != "ping":
            params = {}
        limit = self.timeouts.request_timeout if limit_s is None else limit_s
        request_id, text = self._protocol.request(method, params)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (method, future)
        try:
            async with asyncio.timeout(limit):
                try:
                    await ws.send(text)
                except ConnectionClosed as exc:
                    raise SignalingLost(
                        f"{method}: signaling to {self.hostport} lost: {_describe_close(exc)}"
                    ) from exc
                except OSError as exc:
                    raise SignalingLost(
                        f"{method}: signaling to {self.hostport} lost: {type(exc).__name__}"
                    ) from exc
                return await future
        except TimeoutError:
            raise RpcTimeout(method, limit) from None
        finally:
            self._pending.pop(request_id, None)

    async def _first_ping(self, gen: int) -> None:
        interval_ms = max(1, round(self.timeouts.ping_interval * 1000))
        limit = self.timeouts.ping_timeout
        try:
            await self._request("ping", {"interval": interval_ms}, limit)
        except RpcError:
            pass  # an answer, even an error, proves the server is alive
        except RpcTimeout as exc:
            self._socket_gone(gen, f"no answer to ping within {limit:g} s", close=True)
            raise SignalingLost(
                f"signaling: {self.hostport} did not answer ping within {limit:g} s"
            ) from exc
        self.pings_answered += 1
        self._pinger = asyncio.create_task(self._ping_loop(gen), name="signaling-ping")

    async def _ping_loop(self, gen: int) -> None:
        while gen == self._gen and not self._closed:
            await asyncio.sleep(self.timeouts.ping_interval)
            if gen != self._gen or self.lost.is_set():
                return
            try:
                await self._request("ping", None, self.timeouts.ping_timeout)
            except RpcError:
                pass
            except RpcTimeout:
                self._socket_gone(
                    gen, f"no answer to ping within {self.timeouts.ping_timeout:g} s", close=True
                )
                return
            except SignalingLost:
                return
            self.pings_answered += 1

    # --- receiving --------------------------------------------------------------------------

    async def _read_loop(self, ws: ClientConnection, gen: int) -> None:
        try:
            while True:
                data = await ws.recv()
                self._handle(data)
        except ConnectionClosed as exc:
            self._socket_gone(gen, _describe_close(exc), close=False)
        except (OSError, WebSocketException) as exc:
            self._socket_gone(gen, f"receive failed ({type(exc).__name__})", close=True)

    def _handle(self, data: str | bytes) -> None:
        frame = self._protocol.parse(data)
        if isinstance(frame, Response):
            entry = self._pending.get(frame.id)
            sid = frame.result.get("sessionId")
            if isinstance(sid, str) and sid and entry is not None and entry[0] != "ping":
                self.rpc_session_id = sid
            if entry is None:
                log.debug("signaling: response to unknown request id %d ignored", frame.id)
            elif not entry[1].done():
                entry[1].set_result(frame.result)
        elif isinstance(frame, ErrorResponse):
            entry = self._pending.get(frame.id) if frame.id is not None else None
            if entry is None:
                log.warning(
                    "signaling: server error %d without a matching request: %s",
                    frame.code,
                    _one_line(frame.message),
                )
            elif not entry[1].done():
                entry[1].set_exception(RpcError(entry[0], frame.code, _one_line(frame.message)))
        elif isinstance(frame, Notification):
            try:
                self._on_notification(frame)
            except Exception as exc:
                log.warning(
                    "signaling: handler for %s failed: %s: %s",
                    frame.method,
                    type(exc).__name__,
                    _one_line(str(exc)),
                )
        elif isinstance(frame, Malformed):
            self._malformed += 1
            if self._malformed <= 10 or self._malformed % 100 == 0:
                log.warning(
                    "signaling: ignored malformed frame #%d from %s: %s",
                    self._malformed,
                    self.hostport,
                    frame.reason,
                )
