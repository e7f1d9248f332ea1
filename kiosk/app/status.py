"""The status endpoint: how an admin checks a screen in another building.

``GET /status`` (JSON: state, participant names), ``GET /metrics`` (Prometheus text format) and
``GET /screenshot.png`` (what the screen shows now — the room's own camera included). The data
come from callables the runner provides; everything that leaves here passes through
:func:`kiosk.redact.redact` once more, so a secret or token can never leak even if a caller put
one in a field by mistake.

What reaches it is bounded (see docs/security.md):

* **Who may ask**: an optional bearer token (``Authorization: Bearer …``, compared in constant
  time); the ``Host`` header must be an IP address, ``localhost``, this machine's name or a
  configured name, so a web page on the LAN cannot reach it through DNS rebinding; screenshots
  can be switched off. Every answer carries ``Cache-Control: no-store``.
* **What it can hold**: at most ``max_connections`` connections; at the cap a new client
  replaces the connection idle the longest (a half-sent request cannot lock an admin out), and
  waits in the kernel's accept queue while every slot is inside a request. A connection that
  has not sent a whole request within ``idle_timeout`` seconds (a half-sent request, an idle
  keep-alive) is closed,
  and so is one that a request keeps busy longer than ``request_timeout``. One screenshot is
  encoded at a time, shared by every request that asks meanwhile and reused for
  ``screenshot_reuse`` seconds.
* **What it logs**: one line per kind of error per minute, never one per request; ``accept()``
  failing while file descriptors run out is one such kind, without a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from kiosk.errors import KioskError
from kiosk.logsetup import Throttle, ThrottleFilter
from kiosk.net import is_loopback_host
from kiosk.redact import redact, register_secret
from kiosk.timeouts import wait_event

log = logging.getLogger(__name__)
# aiohttp's own per-request error lines go here, through a throttle.
_http_log = logging.getLogger(__name__ + ".http")
_http_log.addFilter(ThrottleFilter(60.0))

StatusFn = Callable[[], Mapping[str, Any]]
ScreenshotFn = Callable[[], Awaitable[bytes | None]]

_NO_STORE = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@dataclass
class Metrics:
    """Counters and gauges exported in the Prometheus text format."""

    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def describe(self, name: str, text: str) -> None:
        self.help[name] = text

    def render(self) -> str:
        lines: list[str] = []
        for kind, table in (("counter", self.counters), ("gauge", self.gauges)):
            names = sorted({name for name, _ in table})
            for name in names:
                if name in self.help:
                    lines.append(f"# HELP {name} {self.help[name]}")
                lines.append(f"# TYPE {name} {kind}")
                for (n, labels), value in sorted(table.items()):
                    if n != name:
                        continue
                    label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    suffix = f"{{{label_text}}}" if label_text else ""
                    lines.append(f"{name}{suffix} {value:g}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise KioskError(f"status.listen: expected host:port, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class StatusOptions:
    """How the endpoint guards itself (mapped from ``status:`` of the config)."""

    token: str | None = None
    """Bearer token every request must carry; None: no authentication."""
    screenshots: bool = True
    """False: ``/screenshot.png`` answers 404 and nothing is ever captured for it."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names accepted in the ``Host`` header besides IP addresses and this machine's."""
    max_connections: int = 16
    idle_timeout: float = 5.0
    request_timeout: float = 20.0
    screenshot_timeout: float = 5.0
    screenshot_reuse: float = 1.0


@dataclass
class _Conn:
    transport: asyncio.Transport
    since: float
    busy: bool = False


class _Server(web.Server):
    """aiohttp's low-level server, telling the owner when a connection opens and closes."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        on_open: Callable[[RequestHandler, asyncio.Transport], None],
        on_close: Callable[[RequestHandler], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._on_open = on_open
        self._on_close = on_close

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._on_open(handler, transport)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._on_close(handler)


def _retrieve(task: asyncio.Task[bytes | None]) -> None:
    # Every waiter may have timed out; the failure is still reported to the next one.
    if not task.cancelled():
        task.exception()


class StatusServer:
    def __init__(
        self,
        listen: str,
        status: StatusFn,
        metrics: Callable[[], str],
        screenshot: ScreenshotFn,
        options: StatusOptions | None = None,
    ) -> None:
        self._host, self._port = parse_listen(listen)
        self._status = status
        self._metrics = metrics
        self._screenshot = screenshot
        self.options = options or StatusOptions()
        if self.options.token is not None:
            register_secret(self.options.token)
        self._token = (self.options.token or "").encode()
        self._hosts = self._allowed_hosts()
        self._server: _Server | None = None
        self._sock: socket.socket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._conns: dict[RequestHandler, _Conn] = {}
        self._changed = asyncio.Event()  # a connection closed or finished a request
        self._errors = Throttle(60.0)
        self._shot_task: asyncio.Task[bytes | None] | None = None
        self._shot_cache: tuple[float, bytes] | None = None
        self.screenshots_encoded = 0
        self.accept_retry = 0.5
        self.port: int | None = None

    # --- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """A URL that reaches the endpoint from this machine (loopback for a wildcard bind)."""
        if _is_wildcard(self._host):
            host = "127.0.0.1" if self._host != "::" else "[::1]"
        else:
            host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def public_url(self) -> str:
        """The URL to tell an admin: this machine's name for a wildcard bind."""
        if _is_wildcard(self._host):
            return f"http://{socket.gethostname()}:{self.port}"
        return self.url

    def _allowed_hosts(self) -> frozenset[str]:
        me = socket.gethostname().lower()
        names = {"localhost", me, f"{me}.local", self._host.lower()}
        names.update(h.lower().rstrip(".") for h in self.options.allowed_hosts)
        return frozenset(n for n in names if n)

    def host_allowed(self, host_header: str | None) -> bool:
        """A ``Host`` header names this machine: an IP literal, or a known name (no rebinding)."""
        if not host_header:
            return False
        text = host_header.strip().lower()
        if text.startswith("["):
            host = text[1 : text.find("]")] if "]" in text else ""
        else:
            host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host.rstrip(".") in self._hosts
        return True

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                self._host or None,
                self._port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE,
            )
            family, kind, proto, _, addr = infos[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(addr)
                sock.listen(64)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise KioskError(
                f"status.listen: cannot listen on {self._host}:{self._port}: {why}"
            ) from exc
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._server = _Server(
            self._dispatch,
            self._opened,
            self._closed,
            keepalive_timeout=self.options.idle_timeout,
            logger=_http_log,
            access_log=None,
            max_line_size=4096,
            max_field_size=4096,
            max_headers=64,
        )
        self._tasks = [
            asyncio.create_task(self._accept_loop(sock), name="status-accept"),
            asyncio.create_task(self._reaper(), name="status-reaper"),
        ]
        self._announce()

    def announcement(self) -> list[tuple[int, str]]:
        """The start-up log lines (level, text): where to look, and a warning when exposed."""
        where = f"{self.public_url}/status"
        if _is_wildcard(self._host):
            where += " (listening on all addresses)"
        lines = [(logging.INFO, f"status: {where}")]
        if not is_loopback_host(self._host) and self.options.token is None:
            shows = "participant names (/status)"
            if self.options.screenshots:
                shows += " and the room's own camera picture (/screenshot.png)"
            lines.append(
                (
                    logging.WARNING,
                    f"status endpoint listens beyond this machine ({self._host or '*'}) WITHOUT "
                    f"authentication: anyone on the network can see {shows}; "
                    "set status.token_file, or listen on 127.0.0.1",
                )
            )
        return lines

    def _announce(self) -> None:
        for level, text in self.announcement():
            log.log(level, "%s", text)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for handler, conn in list(self._conns.items()):
            if not conn.busy:  # idle keep-alives and half-sent requests: nothing to finish
                conn.transport.abort()
                self._conns.pop(handler, None)
        if self._server is not None:
            if self._conns:
                await self._server.shutdown(0.5)  # a request in progress gets half a second
            self._server = None
        for conn in list(self._conns.values()):
            conn.transport.abort()
        self._conns.clear()
        if self._shot_task is not None:
            self._shot_task.cancel()

    @property
    def connections(self) -> int:
        return len(self._conns)

    # --- connections -------------------------------------------------------------------------

    def _error(self, kind: str, message: str, *args: object) -> None:
        """One log line per kind of error per minute, with the count of those held back."""
        held = self._errors.allow(kind)
        if held is None:
            return
        suffix = f" ({held} more in the last minute)" if held else ""
        log.warning("status endpoint: " + message + suffix, *args)

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        assert self._server is not None
        while True:
            # Every slot inside a request: let new clients wait in the kernel's accept queue
            # until one finishes, rather than refusing them.
            while len(self._conns) >= self.options.max_connections and not self._idle():
                self._changed.clear()
                await wait_event(self._changed, 0.25)
            try:
                conn, _addr = await loop.sock_accept(sock)
            except OSError as exc:
                name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
                self._error(f"accept:{name}", "accept() failed: %s", exc.strerror or name)
                await asyncio.sleep(self.accept_retry)  # out of fds: let some close first
                continue
            if len(self._conns) >= self.options.max_connections and not self._evict_idle():
                conn.close()  # every slot is answering a request: this client tries again
                self._error("full", "all %d connections busy; refused one", len(self._conns))
                continue
            try:
                conn.setblocking(False)
                await loop.connect_accepted_socket(self._server, conn)
            except OSError as exc:
                conn.close()
                self._error("connect", "could not set up a connection: %s", exc.strerror or exc)

    def _idle(self) -> list[tuple[float, RequestHandler]]:
        return [
            (conn.since, handler)
            for handler, conn in self._conns.items()
            if not conn.busy and conn.transport.get_write_buffer_size() == 0
        ]

    def _evict_idle(self) -> bool:
        """At the cap, make room for a new client: close the connection idle the longest.

        Half-sent requests and idle keep-alives cannot keep a new client (an admin's /status)
        out; a connection inside a request is never closed for this.
        """
        idle = self._idle()
        if not idle:
            return False
        _, handler = min(idle, key=lambda item: item[0])
        conn = self._conns.pop(handler)
        conn.transport.abort()
        self._error("evict", "connection cap (%d) reached; closing idle ones", len(self._conns) + 1)
        return True

    def _opened(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        self._conns[handler] = _Conn(transport, time.monotonic())

    def _closed(self, handler: RequestHandler) -> None:
        self._conns.pop(handler, None)
        self._changed.set()

    async def _reaper(self) -> None:
        """Close half-sent requests, idle keep-alives and requests that take too long."""
        opts = self.options
        tick = max(0.05, min(0.5, opts.idle_timeout / 4))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for conn in list(self._conns.values()):
                age = now - conn.since
                flushing = conn.transport.get_write_buffer_size() > 0
                if age > opts.request_timeout or (
                    not conn.busy and not flushing and age > opts.idle_timeout
                ):
                    conn.transport.abort()

    # --- requests ----------------------------------------------------------------------------

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        conn = self._conns.get(request.protocol) if request.protocol is not None else None
        if conn is not None:
            conn.busy = True
        try:
            response = await self._answer(request)
        finally:
            if conn is not None:
                conn.busy = False
                conn.since = time.monotonic()  # the idle clock restarts after each request
            self._changed.set()
        response.headers.update(_NO_STORE)
        return response

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        if not self.host_allowed(request.headers.get("Host")):
            self._error("host", "refused a request for another host name (DNS rebinding?)")
            return web.Response(status=421, text="unknown host name\n")
        if self._token and not self._authorized(request.headers.get("Authorization", "")):
            self._error("auth", "refused a request without the right bearer token")
            return web.Response(
                status=401,
                text="authentication required\n",
                headers={"WWW-Authenticate": 'Bearer realm="kiosk"'},
            )
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="GET only\n", headers={"Allow": "GET, HEAD"})
        path = request.path
        if path == "/status":
            body = redact(json.dumps(dict(self._status()), indent=2, default=str))
            return web.Response(text=body, content_type="application/json")
        if path == "/metrics":
            return web.Response(
                text=redact(self._metrics()), content_type="text/plain", charset="utf-8"
            )
        if path == "/screenshot.png" and self.options.screenshots:
            return await self._answer_screenshot()
        if path == "/":
            paths = "/status /metrics" + (" /screenshot.png" if self.options.screenshots else "")
            return web.Response(text=f"kiosk: {paths}\n")
        return web.Response(status=404, text="not found\n")

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.strip().partition(" ")
        given = value.strip().encode("utf-8", "replace")
        # compare_digest's time does not depend on where the values differ.
        ok = hmac.compare_digest(given, self._token)
        return scheme.lower() == "bearer" and ok

    async def _answer_screenshot(self) -> web.Response:
        try:
            png = await self.shared_screenshot()
        except TimeoutError:
            return web.Response(status=503, text="screen busy\n")
        except Exception as exc:  # a failing capture is one 500 and one log line per minute
            self._error("screenshot", "screenshot failed: %s", type(exc).__name__)
            return web.Response(status=500, text="screenshot failed\n")
        if png is None:
            return web.Response(status=503, text="no screen yet\n")
        return web.Response(body=png, content_type="image/png")

    async def shared_screenshot(self) -> bytes | None:
        """The screen as PNG: one capture at a time, shared and reused for a short while."""
        now = time.monotonic()
        cached = self._shot_cache
        if cached is not None and now - cached[0] < self.options.screenshot_reuse:
            return cached[1]
        if self._shot_task is None or self._shot_task.done():
            self._shot_task = asyncio.create_task(self._capture(), name="status-screenshot")
            self._shot_task.add_done_callback(_retrieve)
        return await asyncio.wait_for(
            asyncio.shield(self._shot_task), timeout=self.options.screenshot_timeout
        )

    async def _capture(self) -> bytes | None:
        self.screenshots_encoded += 1
        png = await self._screenshot()
        if png is not None:
            self._shot_cache = (time.monotonic(), png)
        return png
