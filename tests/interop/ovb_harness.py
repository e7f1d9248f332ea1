"""Harness for driving openvidu-browser in headless Chromium from pytest.

Pieces:

* :func:`require_tools` — skip (locally) or fail (``CI=true``) when Chromium or the npm-installed
  openvidu-browser builds are missing.
* :class:`PageServer` — a tiny aiohttp static server on 127.0.0.1:0 serving ``page/`` and the
  browser bundle of each openvidu-browser version under ``/lib/``.
* :class:`BrowserPeer` — one headless Chromium (Playwright, Debian's ``/usr/bin/chromium``, never a
  downloaded browser) with the test page open; reads ``window.__log`` and calls the page helpers.
* bounded polling on the Python side is :func:`kiosk.testing.waits.wait_until`.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from aiohttp import web

from kiosk.redact import redact, register_secret

HERE = Path(__file__).resolve().parent
PAGE_DIR = HERE / "page"
NODE_MODULES = HERE / "node_modules"
CHROMIUM = Path(os.environ.get("KIOSK_INTEROP_CHROMIUM", "/usr/bin/chromium"))

# openvidu-browser version -> npm alias directory in node_modules (see package.json).
VERSIONS: Mapping[str, str] = {"2.22.0": "ovb222", "2.32.2": "ovb232"}

# Why each flag is there: docs/interop.md.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--ignore-certificate-errors",
    "--autoplay-policy=no-user-gesture-required",
)

DEFAULT_WAIT = 20.0

T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def bundle_path(version: str) -> Path:
    """The browser build (a self-contained bundle defining ``window.OpenVidu``) of *version*."""
    alias = VERSIONS[version]
    return NODE_MODULES / alias / "static" / "js" / f"openvidu-browser-{version}.min.js"


def missing_tools(versions: tuple[str, ...] = tuple(VERSIONS)) -> list[str]:
    problems: list[str] = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"{CHROMIUM} is missing (run tests/interop/setup.sh)")
    for version in versions:
        path = bundle_path(version)
        if not path.is_file():
            problems.append(
                f"openvidu-browser {version} bundle {path.relative_to(HERE)} is missing "
                "(run tests/interop/setup.sh)"
            )
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problems.append("the playwright Python package is not installed in this environment")
    return problems


def require_tools(*versions: str) -> None:
    """Skip with the reason when a tool is missing; under ``CI=true`` that is a failure."""
    problems = missing_tools(versions or tuple(VERSIONS))
    if not problems:
        return
    reason = "; ".join(problems)
    if in_ci():
        pytest.fail(f"interop tools missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


# --- static page server -----------------------------------------------------------------------


class PageServer:
    """Serves ``page/`` and ``/lib/openvidu-browser-<version>.min.js`` on 127.0.0.1:0 (HTTP).

    ``http://127.0.0.1`` is a secure context for Chromium, so getUserMedia works without TLS.
    """

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/index.html", self._index)
        app.router.add_get("/app.js", self._app_js)
        app.router.add_get("/lib/{name}", self._lib)
        app.router.add_get("/favicon.ico", self._no_content)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def page_url(self, *, version: str, token: str, name: str, publish: bool) -> str:
        register_secret(token)  # the URL carries the token: keep it out of failure messages
        query = urlencode(
            {"build": version, "token": token, "name": name, "publish": "1" if publish else "0"}
        )
        return f"{self.base_url}/index.html?{query}"

    @staticmethod
    def _file(path: Path, content_type: str) -> web.FileResponse:
        return web.FileResponse(
            path, headers={"Content-Type": content_type, "Cache-Control": "no-store"}
        )

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return self._file(PAGE_DIR / "index.html", "text/html; charset=utf-8")

    async def _app_js(self, request: web.Request) -> web.StreamResponse:
        return self._file(PAGE_DIR / "app.js", "text/javascript; charset=utf-8")

    async def _lib(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        for version in VERSIONS:
            path = bundle_path(version)
            if name == path.name:
                return self._file(path, "text/javascript; charset=utf-8")
        raise web.HTTPNotFound(text=f"no openvidu-browser build named {name}")

    async def _no_content(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)


# --- the browser ------------------------------------------------------------------------------


class Chromium:
    """One headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright).

    Playwright's ``launch`` gives it a fresh temporary ``--user-data-dir``. Each test gets its own
    browser context (separate cookies, storage and media permissions) from :meth:`new_peer`.
    Always :meth:`stop` it.
    """

    def __init__(self) -> None:
        self._pw: Any = None
        self._browser: Any = None

    async def start(self) -> None:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        try:
            self._browser = await self._pw.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=list(CHROMIUM_ARGS),
                timeout=30_000,
            )
        except BaseException:
            await self.stop()
            raise

    async def new_peer(self, version: str) -> BrowserPeer:
        if self._browser is None:
            raise RuntimeError("Chromium is not running")
        context = await self._browser.new_context(
            ignore_https_errors=True, permissions=["camera", "microphone"]
        )
        try:
            page = await context.new_page()
        except BaseException:
            await context.close()
            raise
        return BrowserPeer(version, context, page)

    async def stop(self) -> None:
        browser, self._browser = self._browser, None
        pw, self._pw = self._pw, None
        try:
            if browser is not None:
                await asyncio.wait_for(browser.close(), 15)
        finally:
            if pw is not None:
                await asyncio.wait_for(pw.stop(), 15)


class BrowserPeer:
    """The test page in one browser context; close it with :meth:`close` (always)."""

    def __init__(self, version: str, context: Any, page: Any) -> None:
        self.version = version
        self.console: list[str] = []
        self._context: Any = context
        self._page: Any = page
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))

    def _on_console(self, msg: Any) -> None:
        if len(self.console) < 2000:
            self.console.append(f"{msg.type}: {msg.text}")

    async def open(self, url: str) -> None:
        try:
            await self._page.goto(url, wait_until="load", timeout=20_000)
        except Exception as exc:  # Playwright's message quotes the URL (and so the token)
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            pytest.fail(
                redact(f"openvidu-browser {self.version}: loading the test page failed: {first}"),
                pytrace=False,
            )

    async def evaluate(self, expression: str, arg: Any = None) -> Any:
        return await asyncio.wait_for(self._page.evaluate(expression, arg), DEFAULT_WAIT)

    async def log(self) -> list[dict[str, Any]]:
        entries = await self.evaluate("() => window.__log || []")
        return list(entries)

    async def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in await self.log() if e.get("event") == name]

    async def state(self) -> dict[str, Any]:
        return dict(await self.evaluate("() => window.__state || {}"))

    async def wait_for(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        what: str,
        limit: float = DEFAULT_WAIT,
    ) -> list[dict[str, Any]]:
        """Poll ``window.__log`` until *predicate* holds; fail naming *what* (with page errors)."""
        deadline = time.monotonic() + limit
        while True:
            entries = await self.log()
            if predicate(entries):
                return entries
            errors = [e for e in entries if e.get("event") == "error"]
            if errors or time.monotonic() >= deadline:
                pytest.fail(
                    redact(
                        f"openvidu-browser {self.version}: {what} "
                        + ("failed" if errors else f"not seen within {limit:.0f} s")
                        + f"; page log: {_short(entries)}; console: {self.console[-8:]}"
                    ),
                    pytrace=False,
                )
            await asyncio.sleep(0.1)

    async def wait_connected(self, limit: float = DEFAULT_WAIT) -> str:
        entries = await self.wait_for(
            lambda log: any(e.get("event") == "connected" for e in log),
            "session.connect",
            limit,
        )
        connected = next(e for e in entries if e.get("event") == "connected")
        return str(connected["connectionId"])

    async def send_signal(self, type_: str, data: str, to: list[str] | None = None) -> None:
        await self.evaluate("([t, d, to]) => window.sendSignal(t, d, to)", [type_, data, to])

    async def video_stats(self) -> list[dict[str, Any]]:
        return list(await self.evaluate("() => window.videoStats()"))

    async def close(self) -> None:
        context, self._context = self._context, None
        page, self._page = self._page, None
        if context is None:
            return
        try:
            if page is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(page.evaluate("() => window.leave && window.leave()"), 3)
        finally:
            await asyncio.wait_for(context.close(), 15)


def _short(entries: list[dict[str, Any]], limit: int = 12) -> list[str]:
    out = []
    for e in entries[-limit:]:
        fields = {k: v for k, v in e.items() if k != "at"}
        out.append(str(fields)[:200])
    return out


async def with_timeout(awaitable: Awaitable[T], what: str, limit: float = DEFAULT_WAIT) -> T:
    """Await with a bound; fail the test naming *what* on timeout."""
    try:
        return await asyncio.wait_for(awaitable, limit)
    except TimeoutError:
        pytest.fail(f"timed out after {limit:.0f} s: {what}", pytrace=False)
