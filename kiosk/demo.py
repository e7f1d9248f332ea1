"""``kiosk demo``: the dev server, three bots and the kiosk, in one process.

Everything stays on 127.0.0.1 (ICE restricted to loopback). With a display (``DISPLAY`` or
``WAYLAND_DISPLAY`` set) the kiosk opens a window; without one it runs on SDL's dummy driver,
prints the status URL and writes a screenshot every few seconds. Ctrl-C (or ``--duration``)
leaves the call cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from kiosk import eventloop
from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.bot import BotOptions, run_bots
from kiosk.config import parse_config
from kiosk.devserver.media import AiortcMediaBackend
from kiosk.devserver.server import DevServer, DevServerError, DevServerOptions
from kiosk.logsetup import install_loop_exception_handler, setup_logging
from kiosk.media import ice, patches

log = logging.getLogger("kiosk.demo")

SECRET = "MY_SECRET"
SESSION = "DemoRoom"


def has_display(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


JOIN_BEFORE_SECONDS = 60.0


def demo_calendar(server_url: str, start: datetime, minutes: int = 30) -> bytes:
    """The demo room's calendar: the demo meeting (linking to the dev server's session) and a
    later meeting on another server (listed, never joined)."""
    stamp = "%Y%m%dT%H%M%SZ"
    start = start.astimezone(UTC)
    end = start + timedelta(minutes=minutes)
    later = start + timedelta(hours=1)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kiosk demo//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:demo-1@kiosk\r\nDTSTAMP:{start:{stamp}}\r\n"
        f"DTSTART:{start:{stamp}}\r\nDTEND:{end:{stamp}}\r\nSUMMARY:Demo meeting\r\n"
        f"LOCATION:{server_url}/#/{SESSION}\r\nEND:VEVENT\r\n"
        f"BEGIN:VEVENT\r\nUID:demo-2@kiosk\r\nDTSTAMP:{start:{stamp}}\r\n"
        f"DTSTART:{later:{stamp}}\r\nDTEND:{later + timedelta(minutes=30):{stamp}}\r\n"
        "SUMMARY:Partner call (another server)\r\n"
        "LOCATION:https://meet.example.com/#/partners\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


async def _serve_calendar(body: bytes) -> tuple[web.AppRunner, str]:
    """The demo calendar as an .ics address on 127.0.0.1 (a free port)."""

    async def room_ics(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/demo-room.ics", room_ics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{port}/demo-room.ics"


def demo_config(
    server_url: str, *, windowed: bool, status_listen: str, calendar_url: str | None = None
) -> str:
    display = (
        "{driver: auto, fullscreen: false, size: 1280x720, allow_quit: true}"
        if windowed
        else "{driver: dummy, fullscreen: false, size: 1920x1080}"
    )
    calendar = (
        f'calendar: {{url: "{calendar_url}", join_before_minutes: {JOIN_BEFORE_SECONDS / 60:g}, '
        "refresh_seconds: 10}\n"
        if calendar_url
        else ""
    )
    return f"""
server: {{url: "{server_url}", secret: {SECRET}}}
session: {{id: {"Lobby" if calendar_url else SESSION}, name: "Meeting room 4.01",
           auto_join: {"false" if calendar_url else "true"}}}
media:
  camera: {{device: test-pattern}}
  microphone: {{device: test-tone}}
  speaker: {{device: {"default" if windowed else "none"}}}
ice: {{host_addresses: ["127.0.0.1"], loopback_only: true}}
display: {display}
status: {{listen: "{status_listen}"}}
{calendar}"""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _start_devserver(port: int, settings: ice.IceSettings) -> DevServer:
    for candidate in (port, 0) if port else (0,):
        server = DevServer(
            DevServerOptions(host="127.0.0.1", port=candidate, secret=SECRET, tls=False),
            media=AiortcMediaBackend(settings),
        )
        try:
            await server.start()
            return server
        except DevServerError as exc:
            log.warning("dev server: %s — trying a free port", exc)
    raise DevServerError("dev server: no port to listen on")


async def run_demo(
    *,
    duration: float | None,
    bots: int,
    port: int,
    status_port: int,
    screenshot: Path | None,
    windowed: bool,
    meeting_in: float = 2.0,
) -> int:
    install_loop_exception_handler()
    settings = ice.IceSettings.loopback()  # installed by main_from_args
    server = await _start_devserver(port, settings)
    stop_bots = asyncio.Event()
    bot_task = asyncio.create_task(
        run_bots(
            BotOptions(server=server.url, session=SESSION, secret=SECRET, count=bots, ice=settings),
            stop_bots,
        ),
        name="demo-bots",
    )
    listen = f"127.0.0.1:{status_port if _port_free(status_port) else 0}"
    # The room's calendar books the demo meeting: the kiosk joins join_before ahead of it.
    start = datetime.now(UTC) + timedelta(seconds=JOIN_BEFORE_SECONDS + meeting_in)
    calendar, calendar_url = await _serve_calendar(demo_calendar(server.url, start))
    print(
        f"kiosk demo: calendar books 'Demo meeting' at {start.astimezone():%H:%M:%S}; "
        f"the kiosk joins {JOIN_BEFORE_SECONDS:g} s before it (in {meeting_in:g} s)"
    )
    config = parse_config(
        demo_config(server.url, windowed=windowed, status_listen=listen, calendar_url=calendar_url),
        "<demo>",
    )
    kiosk = Kiosk(config, ice=settings)
    shots = asyncio.create_task(_announce_and_shoot(kiosk, screenshot), name="demo-screens")
    try:
        code = await kiosk.run(duration=duration)
    finally:
        shots.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await shots
        stop_bots.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bot_task, 10)
        await calendar.cleanup()
        await server.stop()
    return code


async def _announce_and_shoot(kiosk: Kiosk, path: Path | None) -> None:
    await kiosk.ready.wait()
    if kiosk.status_server is None:
        return
    url = kiosk.status_server.url
    print(f"kiosk demo: status {url}/status  metrics {url}/metrics  screen {url}/screenshot.png")
    if path is not None:
        print(f"kiosk demo: writing the screen to {path} every 5 s")
    sys.stdout.flush()
    last_state = ""
    while True:
        await asyncio.sleep(5 if kiosk.machine.state == m.CallState.IN_CALL else 1)
        if path is not None:
            png = await kiosk.screenshot()
            if png:
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(png)
                tmp.replace(path)
        status = kiosk.status()
        line = json.dumps(
            {
                "state": status["state"],
                "participants": [f"{p['name']} {p['fps']:.0f} fps" for p in status["participants"]],
                "session": status["session_id"],
            }
        )
        if line != last_state:
            print(f"kiosk demo: {line}")
            sys.stdout.flush()
            last_state = line


def default_screenshot_path(env: Mapping[str, str] = os.environ) -> Path:
    """Outside the working tree: the user's runtime directory, else the temp directory."""
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        return Path(runtime) / "kiosk-demo.png"
    return Path(tempfile.gettempdir()) / f"kiosk-demo-{os.getuid()}.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, help="leave and exit after S seconds")
    parser.add_argument("--bots", type=int, default=3, help="synthetic participants (default 3)")
    parser.add_argument("--port", type=int, default=4443, help="dev server port (default 4443)")
    parser.add_argument(
        "--status-port", type=int, default=8787, help="status endpoint port (default 8787)"
    )
    parser.add_argument(
        "--screenshot",
        default=None,
        help="where to write the screen every few seconds (default "
        "$XDG_RUNTIME_DIR/kiosk-demo.png, else kiosk-demo-<uid>.png in the temp directory; "
        "'' = never)",
    )
    parser.add_argument(
        "--headless", action="store_true", help="dummy display even where a display exists"
    )
    parser.add_argument(
        "--join-in",
        type=float,
        default=2.0,
        help="seconds until the calendar's demo meeting opens and the kiosk joins (default 2)",
    )
    parser.add_argument("--log-level", default="INFO")


def main_from_args(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, "plain")
    if not 0 <= args.bots <= 16:
        print(f"kiosk demo: --bots: expected 0–16, got {args.bots}", file=sys.stderr)
        return 2
    windowed = has_display() and not args.headless
    if not windowed:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    patches.install(ice.IceSettings.loopback())
    return eventloop.run(
        run_demo(
            duration=args.duration,
            bots=args.bots,
            port=args.port,
            status_port=args.status_port,
            screenshot=default_screenshot_path()
            if args.screenshot is None
            else (Path(args.screenshot) if args.screenshot else None),
            windowed=windowed,
            meeting_in=min(max(args.join_in, 0.0), 3600.0),
        )
    )
