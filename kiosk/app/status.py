"""The status endpoint: how an admin checks a screen in another building.

``GET /status`` (JSON), ``GET /metrics`` (Prometheus text format) and ``GET /screenshot.png``
(what the screen shows now). The data come from callables the runner provides; everything that
leaves here passes through :func:`kiosk.redact.redact` once more, so a secret or token can never
leak even if a caller put one in a field by mistake.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kiosk.errors import KioskError
from kiosk.redact import redact

log = logging.getLogger(__name__)

StatusFn = Callable[[], Mapping[str, Any]]
ScreenshotFn = Callable[[], Awaitable[bytes | None]]


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


class StatusServer:
    def __init__(
        self,
        listen: str,
        status: StatusFn,
        metrics: Callable[[], str],
        screenshot: ScreenshotFn,
    ) -> None:
        self._host, self._port = parse_listen(listen)
        self._status = status
        self._metrics = metrics
        self._screenshot = screenshot
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "::", "") else self._host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/status", self._handle_status)
        app.router.add_get("/metrics", self._handle_metrics)
        app.router.add_get("/screenshot.png", self._handle_screenshot)
        app.router.add_get("/", self._handle_index)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise KioskError(
                f"status.listen: cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from exc
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle_index(self, _request: web.Request) -> web.Response:
        return web.Response(text="kiosk: /status /metrics /screenshot.png\n")

    async def _handle_status(self, _request: web.Request) -> web.Response:
        body = redact(json.dumps(dict(self._status()), indent=2, default=str))
        return web.Response(text=body, content_type="application/json")

    async def _handle_metrics(self, _request: web.Request) -> web.Response:
        return web.Response(
            text=redact(self._metrics()),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _handle_screenshot(self, _request: web.Request) -> web.Response:
        try:
            png = await asyncio.wait_for(self._screenshot(), timeout=5)
        except TimeoutError:
            return web.Response(status=503, text="screen busy\n")
        if png is None:
            return web.Response(status=503, text="no screen yet\n")
        return web.Response(body=png, content_type="image/png")
