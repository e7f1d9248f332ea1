"""A small asyncio TCP proxy for fault injection, loopback only.

Put it between a client and a server on this machine (``TcpProxy(target_port)``; the client
talks to ``proxy.port``) and break the link on purpose:

* :meth:`TcpProxy.reset` — every open connection is torn down with a TCP RST (``SO_LINGER 0``),
  both towards the client and towards the server;
* :meth:`TcpProxy.blackhole` — for N seconds nothing moves in either direction and new
  connections hang (accepted, but not connected upstream), like a pulled cable: TCP keeps the
  bytes and delivers them when the hole closes, unless an end gave up first;
* :meth:`TcpProxy.slow` — every chunk is delayed by ``latency`` (order kept) and the rate is
  capped at ``bytes_per_second`` per direction.

Both the listening address and the target must be loopback addresses: this tool never sends
traffic anywhere else. Every wait is bounded by the fault's own duration; :meth:`stop` closes
everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import time
from dataclasses import dataclass, field

__all__ = ["ProxyStats", "TcpProxy"]

log = logging.getLogger(__name__)

_CHUNK = 65536


def _require_loopback(host: str, what: str) -> None:
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if not ok:
        raise ValueError(f"tcpproxy: {what} must be a loopback address, got {host!r}")


@dataclass
class ProxyStats:
    """Counters a test can assert on."""

    accepted: int = 0
    upstream_failures: int = 0
    resets: int = 0
    bytes_up: int = 0  # client → server
    bytes_down: int = 0  # server → client
    blackholes: int = 0


@dataclass(eq=False)
class _Pipe:
    client_r: asyncio.StreamReader
    client_w: asyncio.StreamWriter
    server_w: asyncio.StreamWriter | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class TcpProxy:
    """Forward ``listen_host:listen_port`` to ``target_host:target_port`` with injectable faults."""

    def __init__(
        self,
        target_port: int,
        *,
        target_host: str = "127.0.0.1",
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        connect_timeout: float = 5.0,
    ) -> None:
        _require_loopback(target_host, "target_host")
        _require_loopback(listen_host, "listen_host")
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.connect_timeout = connect_timeout
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self._open = asyncio.Event()  # set = traffic flows; clear = blackhole
        self._open.set()
        self._hole_timer: asyncio.TimerHandle | None = None
        self.latency = 0.0
        self.bytes_per_second: float | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.listen_port)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._hole_timer is not None:
            self._hole_timer.cancel()
        self._open.set()
        if self._server is not None:
            self._server.close()
        self.reset(count=False)
        tasks = [t for p in self._pipes for t in p.tasks]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self._pipes.clear()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self.listen_port

    @property
    def address(self) -> str:
        """``host:port`` clients should connect to."""
        return f"{self.listen_host}:{self.listen_port}"

    @property
    def connections(self) -> int:
        return len(self._pipes)

    # --- faults ------------------------------------------------------------------------------

    def reset(self, *, count: bool = True) -> int:
        """Tear down every open connection with a TCP RST; returns how many were open."""
        pipes = list(self._pipes)
        for pipe in pipes:
            for writer in (pipe.client_w, pipe.server_w):
                if writer is not None:
                    _abort_with_rst(writer)
            for t in pipe.tasks:
                t.cancel()
        self._pipes.clear()
        if count:
            self.stats.resets += 1
        return len(pipes)

    def blackhole(self, seconds: float | None) -> None:
        """Stop all traffic for ``seconds`` (None: until :meth:`heal`)."""
        self.stats.blackholes += 1
        self._open.clear()
        if self._hole_timer is not None:
            self._hole_timer.cancel()
            self._hole_timer = None
        if seconds is not None:
            self._hole_timer = asyncio.get_running_loop().call_later(seconds, self.heal)

    def heal(self) -> None:
        """End a blackhole and any slow link."""
        if self._hole_timer is not None:
            self._hole_timer.cancel()
            self._hole_timer = None
        self._open.set()
        self.latency = 0.0
        self.bytes_per_second = None

    @property
    def blackholed(self) -> bool:
        return not self._open.is_set()

    def slow(self, latency: float = 0.0, bytes_per_second: float | None = None) -> None:
        """Delay every chunk by ``latency`` seconds and cap the rate (per direction)."""
        if latency < 0 or (bytes_per_second is not None and bytes_per_second <= 0):
            raise ValueError("tcpproxy: latency must be >= 0 and bytes_per_second > 0")
        self.latency = latency
        self.bytes_per_second = bytes_per_second

    # --- plumbing ----------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        pipe = _Pipe(reader, writer)
        self._pipes.add(pipe)
        task = asyncio.current_task()
        try:
            await self._open.wait()  # a blackhole also swallows new connections
            try:
                async with asyncio.timeout(self.connect_timeout):
                    server_r, server_w = await asyncio.open_connection(
                        self.target_host, self.target_port
                    )
            except (OSError, TimeoutError):
                self.stats.upstream_failures += 1
                _abort_with_rst(writer)
                return
            if pipe not in self._pipes:  # reset while connecting
                _abort_with_rst(server_w)
                return
            pipe.server_w = server_w
            up = asyncio.create_task(self._pump(reader, server_w, up=True), name="tcpproxy-up")
            down = asyncio.create_task(self._pump(server_r, writer, up=False), name="tcpproxy-down")
            pipe.tasks.update((up, down))
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            # One side finished (EOF or error): give the other a moment to drain, then close.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait({up, down}, timeout=1.0)
        except asyncio.CancelledError:
            pass
        finally:
            for t in pipe.tasks:
                if t is not task:
                    t.cancel()
            self._pipes.discard(pipe)
            for w in (pipe.client_w, pipe.server_w):
                if w is not None and not w.is_closing():
                    w.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        writer_task = asyncio.create_task(self._deliver(queue, writer, up=up))
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                queue.put_nowait((time.monotonic(), data))
            queue.put_nowait((time.monotonic(), b""))
            await writer_task
        except (OSError, ConnectionError):
            pass
        finally:
            writer_task.cancel()

    async def _deliver(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        while True:
            arrived, data = await queue.get()
            await self._open.wait()
            if self.latency > 0:
                delay = arrived + self.latency - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._open.wait()
            if not data:
                with contextlib.suppress(OSError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            if up:
                self.stats.bytes_up += len(data)
            else:
                self.stats.bytes_down += len(data)
            await writer.drain()
            rate = self.bytes_per_second
            if rate is not None:
                await asyncio.sleep(len(data) / rate)


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
