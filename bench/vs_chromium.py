"""Benchmark: the kiosk against a Chromium room page, receiving the same session (not a test).

    .venv/bin/python bench/vs_chromium.py [--quick] [--counts 1,4,8] [--seconds 10]
                                          [--mode sequential|together] [--bots light|full]
                                          [--jitter both|marker|aiortc] [--json out.json]

Processes (all on 127.0.0.1, every one started and ended by this script):

* dev server (``--role devserver``): ``kiosk.devserver`` without TLS (openvidu-browser 2.32.2
  accepts ``ws://`` tokens, so plain WebSocket keeps it simple), aiortc media backend;
* bots (``--role bots``): K participants publishing 640x480@30 VP8 test pattern (with the
  latency code strip) + a tone each. ``--bots light`` (default) encodes the pattern *once* and
  gives every bot's sender the same encoded frames (one libvpx encoder instead of K: a full bot
  costs ~18 % of a core, K=8 would saturate this 2-core machine before any receiver runs);
  ``--bots full`` runs ``kiosk.bot`` as shipped;
* kiosk (``--role kiosk``): ``kiosk.app.kiosk.Kiosk`` on SDL's dummy display at 1280x720,
  drawing everything (main view + thumbnails), playing room audio to SDL's dummy audio device;
* Chromium: Debian's ``/usr/bin/chromium`` headless via Playwright with ``bench/chromium_page``
  (openvidu-browser 2.32.2, one ``<video>`` per stream in a grid filling a 1280x720 viewport).

For each K the receivers are measured one after the other (``--mode sequential``, default: the
kiosk joins, is measured, leaves; then Chromium) so neither steals CPU from the other; the load
of the machine and of the dev server + bots is reported for each window. ``--mode together``
joins both and measures them over the same window.

Per receiver: CPU (user+system of every process of the receiver over the window, in % of one
core; for Chromium every chromium process: browser, renderer, GPU, utility), memory (PSS summed
over those processes, RSS where PSS is unavailable), displayed fps per stream (kiosk: tile
redraws with a new frame; Chromium: requestVideoFrameCallback), glass-to-glass latency
median/p95 (the test pattern's time stamp read back from what was drawn: kiosk from its screen
surface right after ``Display.update``, Chromium by drawing the ``<video>`` into a canvas in the
frame callback; at most 10 reads per stream per second), and join time (kiosk: first token
request → first remote frame drawn; Chromium: ``session.connect`` → first presented frame; the
page's token is fetched before, so Chromium's figure leaves out one REST round trip).

``--jitter both`` (default) measures everything with ``kiosk.media.jitter.install()`` in the
dev server and the kiosk ("marker"), and then K=1 again without it ("aiortc") for the before/after
latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import psutil
from _common import PREFIX as TAG
from _common import cpu_seconds, emit, fmt, memory_of, percentile

from kiosk import eventloop

SCRIPT = str(Path(__file__).resolve())
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAGE_DIR = HERE / "chromium_page"
OVB_VERSION = "2.32.2"
OVB_BUNDLE = (
    ROOT / "tests/interop/node_modules/ovb232/static/js" / f"openvidu-browser-{OVB_VERSION}.min.js"
)
CHROMIUM = Path(os.environ.get("KIOSK_BENCH_CHROMIUM", "/usr/bin/chromium"))
SECRET = "MY_SECRET"
VIEWPORT = (1280, 720)
SAMPLE_SECONDS = 0.1  # latency reads per stream at most every 100 ms
TOTAL_BUDGET = 570.0  # seconds: the whole bench stays under 10 minutes
NUDGES = ((0, 0), (1, -2), (1, 0), (0, -2), (1, -1), (0, -1), (2, -2), (2, -4), (-1, 2))
CHROMIUM_ARGS = (  # as tests/interop (docs/interop.md), minus the fake capture devices
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
)


async def stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.readline():
        pass


# --- role: dev server -------------------------------------------------------------------------


async def role_devserver(args: argparse.Namespace) -> None:
    from kiosk.devserver.media import AiortcMediaBackend
    from kiosk.devserver.server import DevServer, DevServerOptions
    from kiosk.media import ice, patches

    reader = await stdin_lines()
    settings = ice.IceSettings.loopback()
    patches.install(settings, marker_jitter=args.marker)
    server = DevServer(
        DevServerOptions(port=0, tls=False, secret=SECRET), media=AiortcMediaBackend(settings)
    )
    await server.start()
    emit({"url": server.url})
    try:
        await until_eof(reader)
    finally:
        await asyncio.wait_for(server.stop(), 20)


# --- role: bots -------------------------------------------------------------------------------


class SharedVp8:
    """One test pattern, encoded once with libvpx (PyAV), fanned out to every bot's sender."""

    def __init__(self, name: str, width: int, height: int, fps: int) -> None:
        import av

        from kiosk.media.testpattern import TestPatternTrack

        self.source = TestPatternTrack(name, width, height, fps)
        self.time_base = fractions.Fraction(1, 90000)
        codec: Any = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = self.time_base
        codec.framerate = fps
        codec.bit_rate = 1_000_000
        codec.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "auto-alt-ref": "0",
            "error-resilient": "1",
            "g": "3000",  # keyframes on request (PLI) only, as a WebRTC encoder does
        }
        codec.open()
        self.codec = codec
        self.tracks: set[SharedTrack] = set()
        self._keyframe = True
        self._last_keyframe = 0.0
        self.task: asyncio.Task[None] | None = None

    def request_keyframe(self) -> None:
        if time.monotonic() - self._last_keyframe >= 0.1:
            self._keyframe = True

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        import av

        while True:
            frame: Any = await self.source.recv()
            yuv = frame.reformat(format="yuv420p")
            yuv.pts, yuv.time_base = frame.pts, frame.time_base
            if self._keyframe:
                self._keyframe = False
                self._last_keyframe = time.monotonic()
                yuv.pict_type = av.video.frame.PictureType.I
            for packet in self.codec.encode(yuv):
                data, pts = bytes(packet), int(packet.pts)
                for track in list(self.tracks):
                    track.push(data, pts)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.source.stop()


def _shared_track_class() -> type[Any]:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class _SharedTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self, shared: SharedVp8) -> None:
            super().__init__()
            self.shared = shared
            self.queue: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue(maxsize=30)
            shared.tracks.add(self)

        def push(self, data: bytes, pts: int) -> None:
            if self.queue.full():  # a sender that stalls gets the newest frames only
                self.queue.get_nowait()
            self.queue.put_nowait((data, pts))

        async def recv(self) -> Any:
            import av

            if self.readyState != "live":
                raise MediaStreamError
            data, pts = await self.queue.get()
            packet = av.Packet(data)
            packet.pts = pts
            packet.time_base = self.shared.time_base
            return packet

        def stop(self) -> None:
            self.shared.tracks.discard(self)
            super().stop()

    return _SharedTrack


SharedTrack: Any = None  # set by role_bots (aiortc is imported only in the roles)


async def role_bots(args: argparse.Namespace) -> None:
    global SharedTrack
    from aiortc import RTCRtpSender

    from kiosk.bot import Bot, BotOptions, bot_names, token_provider
    from kiosk.media import ice, patches
    from kiosk.media.devices import LocalMedia
    from kiosk.media.tone import ToneTrack

    reader = await stdin_lines()
    settings = ice.IceSettings.loopback()
    patches.install(settings)  # bots publish only: the jitter buffer plays no part
    options = BotOptions(
        server=args.server, session=args.session, secret=SECRET, count=args.count, ice=settings
    )
    shared: SharedVp8 | None = None
    bot_class: type[Bot] = Bot
    if args.light:
        SharedTrack = _shared_track_class()
        shared = SharedVp8("Bench", options.width, options.height, options.fps)
        shared.start()
        keep = shared
        original = RTCRtpSender._send_keyframe

        def send_keyframe(self: RTCRtpSender) -> None:  # a PLI reached a bot's video sender
            if self.kind == "video":
                keep.request_keyframe()
            else:
                original(self)

        RTCRtpSender._send_keyframe = send_keyframe  # type: ignore[method-assign]

        class LightBot(Bot):
            def _local_media(self) -> LocalMedia:
                return LocalMedia(
                    audio=ToneTrack(220.0 * (1.0 + 0.25 * self.index)),
                    video=SharedTrack(keep),
                    type_of_video="CUSTOM",
                    video_dimensions=(options.width, options.height),
                    frame_rate=options.fps,
                )

        bot_class = LightBot
    stop = asyncio.Event()
    tokens = token_provider(options)
    bots = [bot_class(n, i, options, tokens) for i, n in enumerate(bot_names(None, args.count))]
    tasks = [asyncio.create_task(b.run(stop)) for b in bots]
    try:
        await asyncio.wait_for(asyncio.gather(*(b.joined.wait() for b in bots)), 60)
        emit({"joined": len(bots), "connections": [b.connection_id for b in bots]})
        await until_eof(reader)
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=15)
        if shared is not None:
            await shared.close()


# --- role: kiosk ------------------------------------------------------------------------------


@dataclass
class _SlotStats:
    last_count: int = -1
    shown: int = 0
    last_read: float = -1e9
    failed: int = 0
    latencies: list[int] = field(default_factory=list)


async def role_kiosk(args: argparse.Namespace) -> None:
    import pygame

    from kiosk.app import machine
    from kiosk.app.kiosk import Kiosk
    from kiosk.app.wiring import display_settings_from_config
    from kiosk.media import ice, patches
    from kiosk.media.testpattern import TIMESTAMP_MODULO, read_timestamp
    from kiosk.screen.display import Display
    from kiosk.testing.configs import loopback_kiosk_config

    reader = await stdin_lines()
    patches.install(
        ice.IceSettings.loopback(),
        marker_jitter=args.marker,
        bounded_decoding=not args.unbounded_decoding,
    )
    config = loopback_kiosk_config(
        args.server,
        secret=SECRET,
        session={"id": args.session},
        display={"size": args.kiosk_size or f"{VIEWPORT[0]}x{VIEWPORT[1]}"},
        # the speaker keeps its default device (as this bench always had): playback is measured
        media={
            "camera": {"device": "none"},
            "microphone": {"device": "none"},
            "speaker": {},
            "workers": args.workers,  # media worker processes (0: all in the kiosk process)
        },
    )
    slots: dict[str, _SlotStats] = {}
    state = {"measuring": False, "reads": 0, "failed": 0}

    def read_tile(pixels: Any, d: Any) -> int | None:
        # Thumbnails at 1280x720 are ~150 px wide: the 36 cells of the code strip are ~4 px
        # each and one pixel of scaling offset decides. Try the renderer's dest rect first,
        # then a few one- and two-pixel nudges (the CRC rejects a wrong reading).
        for dx, dw in NUDGES:
            x, w = d.x + dx, d.w + dw
            region = pixels[x : x + w, d.y : d.y + d.h].transpose(1, 0, 2)
            stamp = read_timestamp(region)
            if stamp is not None:
                return stamp
        return None

    kiosk_ref: list[Kiosk] = []

    class ProbeDisplay(Display):
        """Reads what was just shown: which tiles got a new frame, and their time stamps."""

        def update(self, rects: Sequence[pygame.Rect]) -> None:
            super().update(rects)
            if not state["measuring"] or not kiosk_ref:
                return
            renderer = getattr(kiosk_ref[0], "renderer", None)
            if renderer is None:
                return
            counts: dict[str, int] = renderer._counts
            looks: dict[str, Any] = renderer._looks
            now = time.monotonic()
            pixels: Any = None
            for key, count in counts.items():
                st = slots.setdefault(key, _SlotStats(last_count=count))
                if count == st.last_count or count < 0:
                    continue
                st.last_count = count
                st.shown += 1
                look = looks.get(key)
                if look is None or look.dest is None or now - st.last_read < SAMPLE_SECONDS:
                    continue
                st.last_read = now
                if pixels is None:
                    pixels = pygame.surfarray.pixels3d(self.surface)
                stamp = read_tile(pixels, look.dest)
                state["reads"] += 1
                if stamp is None:
                    state["failed"] += 1
                    st.failed += 1
                else:
                    now_ms = round(time.time() * 1000)
                    st.latencies.append((now_ms - stamp) % TIMESTAMP_MODULO)
            del pixels  # unlock the surface

    kiosk = Kiosk(config, display=ProbeDisplay(display_settings_from_config(config)))
    kiosk_ref.append(kiosk)
    run = asyncio.create_task(kiosk.run())
    for _ in range(1500):  # 30 s at most
        if kiosk.stats.join_seconds is not None or run.done():
            break
        await asyncio.sleep(0.02)
    emit({"joined": kiosk.stats.join_seconds is not None, "join_seconds": kiosk.stats.join_seconds})
    renderer = kiosk.renderer
    if renderer is None:
        raise RuntimeError("kiosk: no renderer after start")
    started = time.monotonic()
    frames0: dict[str, int] = {}
    draws0 = 0
    while line := (await reader.readline()).decode().strip():
        if line.startswith("promote"):
            emit({"promotions": await promote(kiosk, int(line.split()[1]))})
            continue
        if line == "start":
            for st in slots.values():
                st.shown = st.failed = 0
                st.latencies.clear()
            media = kiosk.media
            frames0 = {cid: f.frame_count for cid, f in media.frames.items()} if media else {}
            draws0 = renderer.stats.video_blits
            state.update(measuring=True, reads=0, failed=0)
            started = time.monotonic()
            emit({"started": True})
        elif line == "stop":
            state["measuring"] = False
            seconds = time.monotonic() - started
            media = kiosk.media
            received = (
                {
                    # a re-subscription starts a new counter: count from zero then
                    cid: (
                        f.frame_count
                        - (frames0.get(cid, 0) if f.frame_count >= frames0.get(cid, 0) else 0)
                    )
                    / seconds
                    for cid, f in media.frames.items()
                }
                if media
                else {}
            )
            layout = renderer.layout
            remote = set(media.frames) if media else set()
            thumbs = (
                {f"\x00tile:{t.id}": t.id for t in layout.tiles if t.id in remote} if layout else {}
            )
            if thumbs:
                shown = {cid: slots[k].shown / seconds for k, cid in thumbs.items() if k in slots}
            else:
                shown = {
                    str(kiosk.main_id): slots[k].shown / seconds for k in slots if k == "\x00main"
                }
            latencies = [
                x
                for key, st in slots.items()
                if key in thumbs or key == "\x00main"
                for x in st.latencies
            ]
            emit(
                {
                    "seconds": seconds,
                    "join_seconds": kiosk.stats.join_seconds,
                    "state": str(kiosk.machine.state),
                    "displayed_fps": shown,
                    "received_fps": received,
                    "video_blits_per_s": (renderer.stats.video_blits - draws0) / seconds,
                    "overflow": layout.overflow.count if layout and layout.overflow else 0,
                    "video_subs": sum(1 for s in media.subscribers.values() if s.video)
                    if media
                    else 0,
                    "subs": len(media.subscribers) if media else 0,
                    "latencies": latencies,
                    "reads": state["reads"],
                    "failed_reads": state["failed"],
                    "slots": {
                        k.replace("\x00", ""): [len(st.latencies), st.failed, st.shown]
                        for k, st in slots.items()
                    },
                }
            )
            if os.environ.get("KIOSK_BENCH_SCREENSHOT"):
                png = await kiosk.screenshot()
                if png:
                    write_bytes(os.environ["KIOSK_BENCH_SCREENSHOT"], png)
            break
    kiosk.post(machine.Shutdown())
    await asyncio.wait_for(run, 20)


async def promote(kiosk: Any, count: int) -> list[float]:
    """Press "next" until a participant without video is on the main view; seconds from that
    press to the first drawn frame of theirs. ``count`` times, one after the other."""
    from kiosk.controls.actions import Action
    from kiosk.screen.mainview import SELF_ID

    out: list[float] = []
    media, renderer = kiosk.media, kiosk.renderer
    if media is None or renderer is None:
        return out
    for _ in range(count):
        target = None
        for _ in range(64):
            kiosk.on_action(Action.NEXT)
            main = kiosk.view_policy.main
            sub = media.subscribers.get(main)
            if main != SELF_ID and sub is not None and not sub.video and sub.stream.has_video:
                target = main
                break
        if target is None:
            break
        pressed = time.monotonic()
        for _ in range(7500):  # 15 s at most
            if media.receiving_video(target):
                break
            await asyncio.sleep(0.002)
        draws = renderer.stats.draws  # then the next drawn frame: it is on screen
        for _ in range(500):
            if renderer.stats.draws != draws:
                break
            await asyncio.sleep(0.002)
        if media.receiving_video(target):
            out.append(time.monotonic() - pressed)
        await asyncio.sleep(0.5)
    return out


# --- orchestration ----------------------------------------------------------------------------


class Child:
    """A role of this script in its own process, talking ``BENCH {json}`` lines on stdout."""

    def __init__(self, role: str, *extra: str) -> None:
        self.role = role
        self.extra = extra
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            SCRIPT,
            "--role",
            self.role,
            *self.extra,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None if os.environ.get("KIOSK_BENCH_STDERR") else asyncio.subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def read(self, limit: float = 60) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.role}: no report within {limit:.0f} s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), left)
            if not line:
                raise RuntimeError(f"{self.role}: process ended (exit {await self.proc.wait()})")
            text = line.decode(errors="replace").strip()
            if text.startswith(TAG):
                return dict(json.loads(text[len(TAG) :]))

    def send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()  # our own child, by its handle
            await proc.wait()


class TreeUsage:
    """CPU (% of one core) and memory of process trees between ``begin`` and ``end``.

    Unlike ``_common.CpuWindow`` (one process), this follows every child (Chromium's renderer,
    GPU and utility processes); per process it uses ``_common.cpu_seconds`` and ``memory_of``.
    """

    def __init__(self, roots: Sequence[int], only_chromium: bool = False) -> None:
        self.roots = list(roots)
        self.only_chromium = only_chromium
        self.t0 = 0.0
        self.cpu0: dict[int, float] = {}

    def processes(self) -> list[psutil.Process]:
        out: dict[int, psutil.Process] = {}
        for pid in self.roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                for p in [root, *root.children(recursive=True)]:
                    if self.only_chromium and "chrom" not in p.name().lower():
                        continue
                    out[p.pid] = p
        return list(out.values())

    @staticmethod
    def _cpu(p: psutil.Process) -> float | None:
        try:
            return cpu_seconds(p)
        except psutil.Error:
            return None

    def begin(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = {p.pid: c for p in self.processes() if (c := self._cpu(p)) is not None}

    def end(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        used = 0.0
        procs = self.processes()
        for p in procs:
            c = self._cpu(p)
            if c is not None:
                used += c - self.cpu0.get(p.pid, 0.0)
        total, all_pss = 0, True
        for p in procs:
            with contextlib.suppress(psutil.Error):
                memory = memory_of(p.pid)
                total += memory.pss if memory.pss is not None else memory.rss
                all_pss = all_pss and memory.pss is not None
        return {
            "cpu_pct": 100.0 * used / wall,
            "mem_mb": total / 2**20,
            "processes": float(len(procs)),
            "mem_is_pss": 1.0 if all_pss else 0.0,
        }


async def fetch_token(server: str, session: str) -> str:
    from kiosk.openvidu.tokens import RestTokenProvider

    return await RestTokenProvider(server, SECRET, session, ssl_context=None).get_token()


class PageServer:
    """Serves bench/chromium_page and the openvidu-browser bundle on 127.0.0.1:0."""

    def __init__(self) -> None:
        self.runner: Any = None
        self.url = ""
        self.server = ""  # the dev server's base URL (for /token)

    async def start(self) -> None:
        from aiohttp import web

        async def index(_r: web.Request) -> web.StreamResponse:
            return web.FileResponse(PAGE_DIR / "index.html")

        async def script(_r: web.Request) -> web.StreamResponse:
            return web.FileResponse(PAGE_DIR / "bench.js")

        async def bundle(_r: web.Request) -> web.StreamResponse:
            return web.FileResponse(OVB_BUNDLE)

        async def nothing(_r: web.Request) -> web.StreamResponse:
            return web.Response(status=204)

        async def token(request: web.Request) -> web.StreamResponse:
            # the application server of a room app: a token for the session, from the REST API
            text = await fetch_token(self.server, request.query.get("session", ""))
            return web.Response(text=text, headers={"Cache-Control": "no-store"})

        app = web.Application()
        app.router.add_get("/", index)
        app.router.add_get("/bench.js", script)
        app.router.add_get("/lib/openvidu-browser.js", bundle)
        app.router.add_get("/favicon.ico", nothing)
        app.router.add_get("/token", token)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class ChromiumReceiver:
    def __init__(self, pages: PageServer) -> None:
        self.pages = pages
        self.pw: Any = None
        self.browser: Any = None
        self.page: Any = None
        self.diagnosis: Any = None

    async def start(self) -> None:
        from playwright.async_api import async_playwright

        self.pw = await async_playwright().start()
        self.browser = await self.pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS), timeout=30_000
        )

    def pid_roots(self) -> list[int]:
        # Playwright's driver (node) is our child; Chromium is its child: count chromium only.
        return [os.getpid()]

    async def join(self, session: str) -> float | None:
        from urllib.parse import urlencode

        context = await self.browser.new_context(
            viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]}
        )
        self.page = await context.new_page()
        from kiosk.media import testpattern

        strip_h = testpattern.STRIP_FRACTION
        strip_top = getattr(testpattern, "STRIP_TOP_FRACTION", 1.0 - strip_h)
        query = urlencode({"session": session, "strip_top": strip_top, "strip_h": strip_h})
        await self.page.goto(self.pages.url + "?" + query, timeout=20_000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            b = await self.page.evaluate(
                "() => ({p: bench.phase, e: bench.error, f: bench.firstFrameAt,"
                " j: bench.joinStartedAt})"
            )
            if b["e"]:
                raise RuntimeError(f"chromium page: {b['e']}")
            if b["f"] is not None:
                return float(b["f"] - b["j"]) / 1000
            await asyncio.sleep(0.02)
        self.diagnosis = await self.page.evaluate("() => window.benchDiagnose()")
        print(f"bench: Chromium showed no frame within 30 s: {self.diagnosis}", flush=True)
        return None

    async def begin(self) -> None:
        await self.page.evaluate("() => window.benchStart()")

    async def end(self) -> dict[str, Any]:
        return dict(await self.page.evaluate("() => window.benchStop()"))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.browser is not None:
                await asyncio.wait_for(self.browser.close(), 15)
        with contextlib.suppress(Exception):
            if self.pw is not None:
                await asyncio.wait_for(self.pw.stop(), 15)
        self.browser = self.pw = None


def summarise(
    raw_latencies: Sequence[float], fps: dict[str, float], usage: dict[str, float]
) -> dict[str, Any]:
    rates = list(fps.values())
    return {
        **usage,
        "fps_min": min(rates) if rates else 0.0,
        "fps_mean": statistics.fmean(rates) if rates else 0.0,
        "streams_ge_29": sum(1 for r in rates if r >= 29.0),
        "lat_median": statistics.median(raw_latencies) if raw_latencies else None,
        "lat_p95": percentile(raw_latencies, 95) if raw_latencies else None,
        "lat_samples": len(raw_latencies),
    }


class KioskReceiver:
    """The kiosk in its own process (``--role kiosk``)."""

    name = "kiosk"

    def __init__(
        self,
        server: str,
        session: str,
        marker: bool,
        size: str | None = None,
        promotions: int = 0,
        workers: int = 0,
        bounded_decoding: bool = True,
    ) -> None:
        self.child = Child(
            "kiosk", "--server", server, "--session", session, *(["--marker"] * marker),
            *(["--kiosk-size", size] if size else []),
            *(["--workers", str(workers)] if workers else []),
            *([] if bounded_decoding else ["--unbounded-decoding"]),
        )  # fmt: skip
        self.promotions = promotions
        self.window: TreeUsage | None = None
        self.join_s: float | None = None
        self.main0 = 0.0

    async def join(self) -> None:
        await self.child.start()
        self.join_s = (await self.child.read(40)).get("join_seconds")

    def _main_thread_cpu(self) -> float:
        # the asyncio loop thread (RTP/SRTP, jitter buffers, signaling, drawing, audio mixing);
        # the rest are aiortc's decoder threads and SDL's audio thread
        with contextlib.suppress(psutil.Error):
            for t in psutil.Process(self.child.pid).threads():
                if t.id == self.child.pid:
                    return float(t.user_time + t.system_time)
        return 0.0

    async def begin(self) -> None:
        self.window = TreeUsage([self.child.pid])
        self.child.send("start")
        await self.child.read(10)
        self.window.begin()
        self.main0 = self._main_thread_cpu()

    async def end(self) -> dict[str, Any]:
        assert self.window is not None
        wall = time.monotonic() - self.window.t0
        main_pct = 100.0 * (self._main_thread_cpu() - self.main0) / wall
        usage = self.window.end()
        usage["main_thread_cpu_pct"] = main_pct
        promotions: list[float] | None = None
        if self.promotions:  # after the CPU window (promoted video is kept a while), before stop
            self.child.send(f"promote {self.promotions}")
            promotions = (await self.child.read(30 + 20 * self.promotions))["promotions"]
        self.child.send("stop")
        result = await self.child.read(20)
        out = summarise(result["latencies"], result["displayed_fps"], usage)
        out.update(
            join_s=self.join_s,
            received_fps=result["received_fps"],
            displayed_fps=result["displayed_fps"],
            read_failures=f"{result['failed_reads']}/{result['reads']}",
            slots=result["slots"],
            overflow=result["overflow"],
            video_subs=f"{result['video_subs']}/{result['subs']}",
        )
        if promotions is not None:
            times = promotions
            out.update(
                promotions=times,
                promo_median=statistics.median(times) if times else None,
                promo_p95=percentile(times, 95) if times else None,
            )
        return out

    async def stop(self) -> None:
        await self.child.stop()


class ChromiumRun:
    """Chromium with the bench page, measured like the kiosk."""

    name = "chromium"

    def __init__(self, server: str, session: str, pages: PageServer) -> None:
        self.server, self.session = server, session
        self.browser = ChromiumReceiver(pages)
        self.window: TreeUsage | None = None
        self.join_s: float | None = None

    async def join(self) -> None:
        await self.browser.start()
        self.browser.pages.server = self.server
        self.join_s = await self.browser.join(self.session)

    async def begin(self) -> None:
        self.window = TreeUsage(self.browser.pid_roots(), only_chromium=True)
        await self.browser.begin()
        self.window.begin()

    async def end(self) -> dict[str, Any]:
        assert self.window is not None
        usage = self.window.end()
        result = await self.browser.end()
        fps = {s["streamId"]: float(s["fps"]) for s in result["streams"]}
        out = summarise(result["latencies"], fps, usage)
        out.update(
            join_s=self.join_s,
            displayed_fps=fps,
            read_failures=f"{result['failedReads']}/{result['reads']}",
            streams_destroyed=result.get("destroyed", 0),
        )
        return out

    async def stop(self) -> None:
        await self.browser.stop()


Receiver = KioskReceiver | ChromiumRun


async def measure(
    receivers: Sequence[Receiver], seconds: float, warmup: float, load: TreeUsage
) -> dict[str, dict[str, Any]]:
    """Join ``receivers`` (already in the call or not), then measure them over one window."""
    for r in receivers:
        await r.join()
    await asyncio.sleep(warmup)
    for r in receivers:
        await r.begin()
    load.begin()
    psutil.cpu_percent(None)
    await asyncio.sleep(seconds)
    machine = psutil.cpu_percent(None)
    loadavg = os.getloadavg()[0]
    server_load = load.end()
    out: dict[str, dict[str, Any]] = {}
    for r in receivers:
        result = await r.end()
        result.update(
            machine_cpu_pct=machine,
            loadavg=loadavg,
            server_bots_cpu_pct=server_load["cpu_pct"],
        )
        out[r.name] = result
    return out


async def run_point(
    k: int, marker: bool, args: argparse.Namespace, pages: PageServer
) -> dict[str, Any]:
    server = Child("devserver", *(["--marker"] * marker))
    await server.start()
    bots: Child | None = None
    receivers: list[Receiver] = []
    try:
        url = str((await server.read(30))["url"])
        session = f"Bench{k}{'m' if marker else 'a'}"
        bots = Child(
            "bots", "--server", url, "--session", session, "--count", str(k),
            *(["--light"] * (args.bots == "light")),
        )  # fmt: skip
        await bots.start()
        await bots.read(90)
        load = TreeUsage([server.pid, bots.pid])
        point: dict[str, Any] = {"k": k, "jitter": "marker" if marker else "aiortc"}
        receivers = []
        if "kiosk" in args.receivers:
            receivers.append(KioskReceiver(url, session, marker, args.kiosk_size, args.promotions))
        if "chromium" in args.receivers:
            receivers.append(ChromiumRun(url, session, pages))
        if args.mode == "together":
            point.update(await measure(receivers, args.seconds, args.warmup, load))
        else:
            for r in receivers:
                try:
                    point.update(await measure([r], args.seconds, args.warmup, load))
                finally:
                    await r.stop()
        return point
    finally:
        for r in receivers:
            await r.stop()
        if bots is not None:
            await bots.stop()
        await server.stop()


def promo(r: dict[str, Any]) -> str:
    if "promotions" not in r:
        return ""
    return f"{fmt(r['promo_median'], 2)} / {fmt(r['promo_p95'], 2)} ({len(r['promotions'])})"


def table(points: Sequence[dict[str, Any]]) -> str:
    rows = [
        "| K | jitter | receiver | CPU % core | mem MB (PSS) | fps min/mean | ≥29 fps |"
        " latency med / p95 ms (reads) | join s | machine CPU % (load) | server+bots % |"
        " video subs | promotion med / p95 s (n) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        for who in ("kiosk", "chromium"):
            if who not in p:
                continue
            r = p[who]
            rows.append(
                f"| {p['k']} | {p['jitter']} | {who}"
                f" | {fmt(r['cpu_pct'], 0)} | {fmt(r['mem_mb'], 0)}"
                f" | {fmt(r['fps_min'])}/{fmt(r['fps_mean'])}"
                f" | {r['streams_ge_29']}/{p['k']}"
                f" | {fmt(r['lat_median'], 0)} / {fmt(r['lat_p95'], 0)} ({r['lat_samples']})"
                f" | {fmt(r['join_s'], 2)}"
                f" | {fmt(r['machine_cpu_pct'], 0)} ({fmt(r['loadavg'])})"
                f" | {fmt(r['server_bots_cpu_pct'], 0)}"
                f" | {r.get('video_subs', '')}"
                f" | {promo(r)} |"
            )
        if "kiosk" not in p or "chromium" not in p:
            continue
        k, c = p["kiosk"], p["chromium"]

        def ratio(a: Any, b: Any) -> str:
            return f"{a / b:.2f}" if a is not None and b else "–"

        rows.append(
            f"| {p['k']} | {p['jitter']} | kiosk/Chromium | {ratio(k['cpu_pct'], c['cpu_pct'])}"
            f" | {ratio(k['mem_mb'], c['mem_mb'])} | {ratio(k['fps_mean'], c['fps_mean'])} | |"
            f" {ratio(k['lat_median'], c['lat_median'])} | {ratio(k['join_s'], c['join_s'])}"
            " | | | | |"
        )
    return "\n".join(rows)


def tools_present() -> bool:
    return CHROMIUM.is_file() and OVB_BUNDLE.is_file()


async def orchestrate(args: argparse.Namespace) -> int:
    if not tools_present():
        print(
            f"bench: needs {CHROMIUM} and {OVB_BUNDLE.relative_to(ROOT)} (tests/interop/setup.sh)"
        )
        return 2
    counts = [1] if args.quick else [int(x) for x in args.counts.split(",")]
    plan: list[tuple[int, bool]] = []
    if args.jitter in ("both", "marker"):
        plan += [(k, True) for k in counts]
    if args.jitter == "aiortc":
        plan += [(k, False) for k in counts]
    elif args.jitter == "both":
        plan.append((counts[0], False))
    pages = PageServer()
    await pages.start()
    points: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for k, marker in plan:
            left = TOTAL_BUDGET - (time.monotonic() - started)
            if left < 30:
                print(f"bench: out of time (budget {TOTAL_BUDGET:.0f} s): K={k} skipped")
                continue
            print(f"bench: K={k} jitter={'marker' if marker else 'aiortc'} …", flush=True)
            try:
                point = await asyncio.wait_for(run_point(k, marker, args, pages), min(240, left))
            except (TimeoutError, RuntimeError) as exc:
                print(f"bench: K={k} failed: {type(exc).__name__}: {exc}", flush=True)
                continue
            points.append(point)
            print(table(points[-1:]), flush=True)
    finally:
        await pages.stop()
    print(f"\n{table(points)}\n\nbench took {time.monotonic() - started:.0f} s")
    if args.json:
        write_json(args.json, points)
    return 0


def write_bytes(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


def write_json(path: str, points: list[dict[str, Any]]) -> None:
    Path(path).write_text(json.dumps(points, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K=1 only")
    parser.add_argument("--counts", default="1,4,8", help="publisher counts (default 1,4,8)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the join")
    parser.add_argument("--mode", choices=["sequential", "together"], default="sequential")
    parser.add_argument("--bots", choices=["light", "full"], default="light")
    parser.add_argument("--jitter", choices=["both", "marker", "aiortc"], default="both")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument(
        "--receivers", default="kiosk,chromium", help="which receivers (default kiosk,chromium)"
    )
    # internal: the child processes
    parser.add_argument("--role", choices=["devserver", "bots", "kiosk"], help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--session", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--marker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--light", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kiosk-size", help="the kiosk's screen WxH (default 1280x720)")
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--unbounded-decoding", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--promotions", type=int, default=0, help="after the window: time N promotions"
    )
    args = parser.parse_args(argv)
    # Each role on the loop its entry point uses (uvloop where installed; KIOSK_EVENT_LOOP).
    if args.role == "devserver":
        eventloop.run(role_devserver(args))
        return 0
    if args.role == "bots":
        eventloop.run(role_bots(args))
        return 0
    if args.role == "kiosk":
        eventloop.run(role_kiosk(args))
        return 0
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
