"""Render benchmark: the kiosk's CPU for N remote streams, side by side with pure VP8 decode.

    .venv/bin/python bench/render.py            # N = 1, 2, 4, 8, 16 (< 10 min), writes docs
    .venv/bin/python bench/render.py --quick    # N = 1, 2, short windows (~1 min), docs untouched
    # rooms larger than the screen: loop-thread ms per frame, a fake call, before/after side by
    # side (the kiosk package of REV vs this tree), section "Rooms larger than the screen":
    .venv/bin/python bench/render.py --participants 8,100,1000 --baseline REV

For every N these processes run on loopback only (each measured on its own):

1. **server** (this script, ``--role server``): the dev server.
2. **bots** (``--role bots``, one process for N <= 4, two above): N bots publishing the
   latency-stamped test pattern (VP8, 640x480@30 by default, video only). They report the
   frames each bot's track actually handed to its encoder (achieved send fps) and their CPU.
3. **kiosk** (``--role kiosk``): the real :class:`kiosk.app.kiosk.Kiosk` on SDL's dummy
   display at 1920x1080, camera and microphone off (it only receives and draws). After a
   warm-up it measures its own CPU (psutil, all threads), the loop thread's CPU inside
   ``Renderer.draw`` + ``Display.update``, received and drawn frames per stream, RSS/PSS and
   received bitrate over a window; then, outside that window, it samples glass-to-glass
   latency by decoding the test pattern's timestamp strip from the *display surface* (main
   view and thumbnails) and, at the same instants, from the newest decoded frame.
4. **decode** (``--role decode``), after 1–3 have exited: the test pattern encoded once with
   aiortc's own VP8 encoder at the per-stream bitrate the kiosk received, then decoded N times
   over with ``av.CodecContext.create("libvpx", "r")`` (what aiortc's ``Vp8Decoder`` uses) —
   the pure decode cost of the same streams.

When the bots cannot send the nominal frame rate (2-core machine), the largest such N are
repeated in a clearly labelled *light* mode (320x240@15 by default, ``--light``).

Every wait is bounded; children get SIGTERM then SIGKILL. Results: a table on stdout and the
section "## Render (bench/render.py)" of docs/benchmarks.md with an SVG plot beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import psutil
from _common import (
    PREFIX,
    CpuWindow,
    Series,
    cpu_seconds,
    fmt,
    markdown_table,
    memory_of,
    subsection,
    summarize,
    svg_line_chart,
    write_section,
)
from _common import (
    emit as emit_report,
)

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
SECTION = "## Render (bench/render.py)"
SESSION = "BenchRoom"
SECRET = "MY_SECRET"
SCREEN = (1920, 1080)


def emit(event: str, **data: Any) -> None:
    """Report ``event`` to the orchestrator (a ``BENCH {json}`` line)."""
    emit_report({"event": event, **data})


# =================================================================================================
# roles: server (the dev server) and bots
# =================================================================================================


async def media_role(args: argparse.Namespace) -> int:
    """``--role server``: the dev server alone; ``--role bots``: N bots against ``--server``."""
    from aiortc.mediastreams import MediaStreamTrack

    from kiosk.bot import Bot, BotOptions, bot_names, token_provider
    from kiosk.devserver.media import AiortcMediaBackend
    from kiosk.devserver.server import DevServer, DevServerOptions
    from kiosk.logsetup import setup_logging
    from kiosk.media import ice, patches
    from kiosk.media.devices import LocalMedia
    from kiosk.media.testpattern import TestPatternTrack
    from kiosk.media.tone import ToneTrack

    setup_logging("WARNING", "plain")

    class CountingPattern(TestPatternTrack):
        """The bots' test pattern, counting the frames the encoder actually pulled."""

        sent = 0

        async def recv(self) -> Any:
            frame = await super().recv()
            self.sent += 1
            return frame

    class CountingBot(Bot):
        tracks: list[CountingPattern]

        def _local_media(self) -> LocalMedia:
            o = self.options
            if not hasattr(self, "tracks"):
                self.tracks = []
            video = CountingPattern(self.name, o.width, o.height, o.fps)
            self.tracks.append(video)
            audio: MediaStreamTrack | None = (
                ToneTrack(220.0 * (1.0 + 0.25 * self.index)) if o.audio else None
            )
            return LocalMedia(
                audio=audio,
                video=video,
                type_of_video="CUSTOM",
                video_dimensions=(o.width, o.height),
                frame_rate=o.fps,
            )

        @property
        def sent(self) -> int:
            return sum(t.sent for t in getattr(self, "tracks", []))

    settings = ice.IceSettings.loopback()
    patches.install(settings)  # this process's entry: as `kiosk devserver` / `kiosk bot` do
    srv: DevServer | None = None
    url = args.server
    if args.role == "server":
        srv = DevServer(
            DevServerOptions(port=0, tls=False, secret=SECRET), media=AiortcMediaBackend(settings)
        )
        await srv.start()
        url = srv.url
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bots: list[CountingBot] = []
    tasks: list[asyncio.Task[None]] = []
    if args.role == "bots":
        options = BotOptions(
            server=url,
            session=SESSION,
            secret=SECRET,
            count=args.count,
            width=args.width,
            height=args.height,
            fps=args.fps,
            audio=args.audio,
            ice=settings,
        )
        tokens = token_provider(options)
        first = args.first_bot  # several bot processes: distinct names and pitches
        names = bot_names(None, first + args.count)[first:]
        bots = [CountingBot(name, first + i, options, tokens) for i, name in enumerate(names)]
        tasks = [asyncio.create_task(b.run(stop), name=f"bot-{b.name}") for b in bots]
    emit("ready", url=url)
    me = psutil.Process()
    deadline = time.monotonic() + args.max_seconds  # never outlive a crashed orchestrator
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            emit(
                "tick",
                wall=time.time(),
                sent=[b.sent for b in bots],
                joined=sum(b.joined.is_set() for b in bots),
                cpu_s=cpu_seconds(me),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()
        if srv is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.stop(), 10)
    return 0


# =================================================================================================
# role: kiosk (the measured process)
# =================================================================================================


def _kiosk_config(url: str) -> KioskConfig:
    from kiosk.testing.configs import loopback_kiosk_config

    return loopback_kiosk_config(
        url,
        secret=SECRET,
        session={"id": SESSION, "name": "Bench kiosk"},
        media={"camera": {"device": "none"}, "microphone": {"device": "none"}},
        display={"size": f"{SCREEN[0]}x{SCREEN[1]}"},
        status={"enabled": False},
        logging={"level": "WARNING", "format": "plain"},
    )


async def _inbound_video_bytes(kiosk: Any) -> int:
    """Bytes received so far over all subscriber peer connections (aiortc getStats)."""
    total = 0
    media = kiosk.media
    if media is None:
        return 0
    for sub in list(media.subscribers.values()):
        try:
            report = await asyncio.wait_for(sub.pc.getStats(), 2.0)
        except Exception:  # a peer closing right now: leave it out
            continue
        for stat in report.values():
            # aiortc's inbound-rtp stats carry no byte count; the transport's do (one transport
            # per subscriber peer connection, video only unless the bots send audio)
            if getattr(stat, "type", "") == "transport":
                total += int(getattr(stat, "bytesReceived", 0) or 0)
    return total


@dataclass
class _DrawCounter:
    """Distinct frames drawn per source (a frame shown in the main view and its thumbnail
    counts once)."""

    drawn: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    draw_cpu_s: float = 0.0  # loop-thread CPU inside Renderer.draw + Display.update

    def _timed(self, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.draw_cpu_s += time.thread_time() - t0

        return timed

    def install(self, renderer: Any, display: Any) -> None:
        setattr(renderer, "draw", self._timed(renderer.draw))  # noqa: B010
        setattr(display, "update", self._timed(display.update))  # noqa: B010
        converter = renderer.converter
        original = converter.draw_scaled

        def counting(
            target: Any, source: Any, frame: Any, count: int, dest: Any, **kw: Any
        ) -> bool:
            shown = bool(original(target, source, frame, count, dest, **kw))
            key = id(source)
            if shown and self.last.get(key) != count:
                self.last[key] = count
                self.drawn[key] = self.drawn.get(key, 0) + 1
            return shown

        setattr(converter, "draw_scaled", counting)  # noqa: B010 - instance-level wrapper


def _video_regions(kiosk: Any) -> list[tuple[str, str, tuple[int, int, int, int]]]:
    """(kind, connection id, (x, y, w, h)) of every remote picture on screen right now."""
    from kiosk.screen.layout import Rect, fit_rect
    from kiosk.screen.tiles import frame_size

    renderer, media = kiosk.renderer, kiosk.media
    layout = renderer.layout if renderer is not None else None
    if layout is None or media is None:
        return []
    out: list[tuple[str, str, tuple[int, int, int, int]]] = []

    def picture(cid: str, rect: Rect, main: bool) -> None:
        source = media.frames.get(cid)
        frame = source.latest() if source is not None else None
        size = frame_size(frame) if frame is not None else None
        if size is None:
            return
        dest = fit_rect(size[0], size[1], rect)
        if not main and dest.w > 8 and dest.w % 8:  # the renderer's thumbnail width rule
            cut = dest.w % 8
            dest = Rect(dest.x + cut // 2, dest.y, dest.w - cut, dest.h)
        out.append(("main" if main else "thumb", cid, (dest.x, dest.y, dest.w, dest.h)))

    if kiosk.main_id in media.frames:
        picture(kiosk.main_id, layout.main, True)
    for slot in layout.tiles:
        if slot.id in media.frames:
            picture(slot.id, slot.rect, False)
    return out


def _read_screen(surface: Any, region: tuple[int, int, int, int]) -> Any:
    import numpy as np
    import pygame

    x, y, w, h = region
    pixels = pygame.surfarray.pixels3d(surface)
    try:
        return np.ascontiguousarray(pixels[x : x + w, y : y + h, :].transpose(1, 0, 2))
    finally:
        del pixels  # unlock the surface


def _read_stamp(surface: Any, region: tuple[int, int, int, int]) -> int | None:
    """The test-pattern timestamp shown at ``region`` of the screen, or None.

    Tries the computed picture rectangle first; if that fails, reads single rows of the strip
    between its ends on screen (it spans the picture's full width and starts and ends with a
    white guard cell)."""
    import numpy as np

    from kiosk.media.testpattern import CELLS, STRIP_FRACTION, STRIP_TOP_FRACTION, read_timestamp

    x, y, w, h = region
    x0 = max(0, x - 8)
    x1 = min(surface.get_width(), x + w + 8)
    image = _read_screen(surface, (x0, y, x1 - x0, h))
    stamp = read_timestamp(image[:, x - x0 : x - x0 + w])
    if stamp is not None:
        return stamp
    # Row by row through the strip: on small thumbnails the name label covers the lower rows
    # of the strip's left end, the upper rows stay readable. One row, repeated to a picture's
    # height, is a picture whose strip is that row; the CRC rejects misreads.
    top = int(h * STRIP_TOP_FRACTION)
    bottom = min(h, int(h * (STRIP_TOP_FRACTION + STRIP_FRACTION)))
    for row in range(top + 1, bottom - 1):
        line = image[row : row + 1]
        bright = np.flatnonzero(line.astype(np.float32).mean(axis=(0, 2)) > 128)
        if len(bright) < CELLS // 4:
            continue
        segment = line[:, int(bright[0]) : int(bright[-1]) + 1]
        stamp = read_timestamp(np.repeat(segment, 40, axis=0))
        if stamp is not None:
            return stamp
    return None


async def kiosk_role(args: argparse.Namespace) -> int:
    from kiosk.app import machine as m
    from kiosk.app.kiosk import Kiosk
    from kiosk.logsetup import setup_logging
    from kiosk.media import ice, patches
    from kiosk.media.testpattern import TIMESTAMP_MODULO, read_timestamp

    setup_logging("WARNING", "plain")
    patches.install(ice.IceSettings.loopback())  # this process's entry: as `kiosk run` does
    kiosk = Kiosk(_kiosk_config(args.server))
    run = asyncio.create_task(kiosk.run(duration=args.max_seconds))
    try:
        # 1. wait (bounded) until every stream has frames on the kiosk
        t0 = time.monotonic()
        wait_until = t0 + args.join_timeout
        while time.monotonic() < wait_until and not run.done():
            media = kiosk.media
            if (
                media is not None
                and len(media.frames) >= args.count
                and all(f.frame_count > 0 for f in media.frames.values())
            ):
                break
            await asyncio.sleep(0.1)
        media = kiosk.media
        streams = len(media.frames) if media is not None else 0
        emit(
            "joined",
            streams=streams,
            seconds=round(time.monotonic() - t0, 2),
            state=str(kiosk.machine.state),
        )
        if media is None or kiosk.renderer is None or run.done():
            emit("result", error=f"kiosk not in the call: state {kiosk.machine.state}")
            return 1
        counter = _DrawCounter()
        counter.install(kiosk.renderer, kiosk.display)
        await asyncio.sleep(args.warmup)

        # 2. the measured window: nothing but the kiosk runs in this process
        cids = sorted(media.frames)
        frames0 = {c: media.frames[c].frame_count for c in cids}
        sources = {c: id(media.frames[c]) for c in cids}
        drawn0 = dict(counter.drawn)
        draw_cpu0 = counter.draw_cpu_s
        draws0 = kiosk.renderer.stats.draws
        bytes0 = await _inbound_video_bytes(kiosk)
        cpu = CpuWindow()
        emit("window_start", wall=time.time())
        cpu.start()
        await asyncio.sleep(args.seconds)
        sample = cpu.stop()
        emit("window_end", wall=time.time())
        frames1 = {
            c: media.frames[c].frame_count if c in media.frames else frames0[c] for c in cids
        }
        drawn1 = dict(counter.drawn)
        draw_cpu_s = counter.draw_cpu_s - draw_cpu0
        draws1 = kiosk.renderer.stats.draws
        bytes1 = await _inbound_video_bytes(kiosk)
        mem = memory_of()
        visible = sorted({cid for _kind, cid, _r in _video_regions(kiosk)})
        if args.screenshot:
            import pygame

            pygame.image.save(kiosk.display.surface, args.screenshot)
        recv_fps = [(frames1[c] - frames0[c]) / sample.wall_s for c in cids]
        drawn_fps = [
            (drawn1.get(sources[c], 0) - drawn0.get(sources[c], 0)) / sample.wall_s for c in cids
        ]

        # 3. latency, outside the CPU window: read the timestamp strip off the display surface
        latencies: dict[str, list[float]] = {"main": [], "thumb": [], "decoded": []}
        failed = 0
        attempts = 0
        sample_until = time.monotonic() + max(5.0, args.samples * 0.1)
        readable = 0
        while (
            readable < args.samples
            and attempts < 3 * args.samples
            and time.monotonic() < sample_until
        ):
            await asyncio.sleep(random.uniform(0.01, 0.04))  # random phase vs the 30 fps frames
            regions = _video_regions(kiosk)
            if not regions:
                continue
            # every other sample from the main view, the rest round-robin over thumbnails
            thumbs = [r for r in regions if r[0] == "thumb"] or regions
            kind, cid, region = (
                regions[0] if attempts % 2 == 0 else thumbs[(attempts // 2) % len(thumbs)]
            )
            attempts += 1
            now_ms = round(time.time() * 1000)
            stamp = _read_stamp(kiosk.display.surface, region)
            # the same stream's newest decoded frame, at the same instant: splits the latency
            # into "until decoded" and "decoded until on screen"
            latest = media.frames[cid].latest() if cid in media.frames else None
            decoded = (
                read_timestamp(latest.to_ndarray(format="rgb24")) if latest is not None else None
            )
            if decoded is not None:
                latencies["decoded"].append(float((now_ms - decoded) % TIMESTAMP_MODULO))
            if stamp is None:
                failed += 1
                continue
            latencies[kind].append(float((now_ms - stamp) % TIMESTAMP_MODULO))
            readable += 1
        emit(
            "result",
            cpu_s=sample.cpu_s,
            wall_s=sample.wall_s,
            streams=len(cids),
            recv_fps=recv_fps,
            drawn_fps=drawn_fps,
            visible=[cids.index(c) for c in visible if c in cids],
            draws_per_s=(draws1 - draws0) / sample.wall_s,
            draw_cpu_s=draw_cpu_s,
            bitrate_per_stream=(bytes1 - bytes0) * 8 / sample.wall_s / max(1, len(cids)),
            rss=mem.rss,
            pss=mem.pss,
            latency_main=latencies["main"],
            latency_thumb=latencies["thumb"],
            latency_decoded=latencies["decoded"],
            latency_failed=failed,
            latency_attempts=attempts,
        )
        return 0
    finally:
        kiosk.post(m.Shutdown())
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(run, 15)


# =================================================================================================
# role: decode (pure PyAV decode of the same kind of stream)
# =================================================================================================


def encode_pattern(width: int, height: int, fps: int, bitrate: int, frames: int) -> list[bytes]:
    """``frames`` encoded VP8 frames of the test pattern, made by aiortc's own encoder (same
    libvpx settings as the bots) at ``bitrate``, depacketized back to the VP8 bitstream."""
    import av
    from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

    from kiosk.media.testpattern import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE, PatternRenderer

    pattern = PatternRenderer("Alice", width, height)
    encoder = Vp8Encoder()
    encoder.target_bitrate = bitrate
    start = time.time()
    out: list[bytes] = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(pattern.render(start + i / fps), format="rgb24")
        frame.pts = i * VIDEO_CLOCK_RATE // fps
        frame.time_base = VIDEO_TIME_BASE
        payloads, _ts = encoder.encode(frame)
        data = b"".join(vp8_depayload(p) for p in payloads)
        if data:
            out.append(data)
    return out


def decode_role(args: argparse.Namespace) -> int:
    import av

    per_stream = max(1, round(args.seconds * args.fps))
    bitstream = encode_pattern(args.width, args.height, args.fps, args.bitrate, per_stream)
    size = sum(len(b) for b in bitstream)
    contexts = [av.CodecContext.create("libvpx", "r") for _ in range(args.count)]
    decoded = 0
    cpu = CpuWindow()
    cpu.start()
    # Whole passes (each starts with the keyframe) until >= 1 s of CPU: psutil's CPU times
    # tick in 10 ms, too coarse for one pass of a single stream.
    for _ in range(50):
        for data in bitstream:  # N streams advancing together, like the kiosk's decoders
            for ctx in contexts:
                decoded += len(ctx.decode(av.Packet(data)))
        if cpu.stop().cpu_s >= 1.0:
            break
    sample = cpu.stop()
    emit(
        "result",
        cpu_s=sample.cpu_s,
        wall_s=sample.wall_s,
        frames=decoded,
        bitrate=size * 8 * args.fps / max(1, len(bitstream)),
    )
    return 0


# =================================================================================================
# orchestrator
# =================================================================================================


@dataclass
class Point:
    mode: str  # "full" or "light"
    n: int
    width: int
    height: int
    fps: int
    error: str | None = None
    send_fps: list[float] = field(default_factory=list)
    bots_joined: int = 0
    bot_procs: int = 1
    bots_cpu_pct: float = math.nan
    server_cpu_pct: float = math.nan
    machine_cpu_pct: float = math.nan
    kiosk: dict[str, Any] = field(default_factory=dict)
    decode: dict[str, Any] = field(default_factory=dict)

    # derived values ---------------------------------------------------------------------------
    @property
    def kiosk_cpu_pct(self) -> float:
        k = self.kiosk
        return 100.0 * k["cpu_s"] / k["wall_s"] if k.get("wall_s") else math.nan

    @property
    def recv_total_fps(self) -> float:
        return float(sum(self.kiosk.get("recv_fps", []))) or math.nan

    @property
    def drawn_total_fps(self) -> float:
        return float(sum(self.kiosk.get("drawn_fps", []))) or math.nan

    @property
    def draw_cpu_pct(self) -> float:
        k = self.kiosk
        return 100.0 * k.get("draw_cpu_s", math.nan) / k["wall_s"] if k.get("wall_s") else math.nan

    @property
    def cpu_ms_per_drawn(self) -> float:
        return 10.0 * self.kiosk_cpu_pct / self.drawn_total_fps

    @property
    def decode_ms_per_frame(self) -> float:
        d = self.decode
        return 1000.0 * d["cpu_s"] / d["frames"] if d.get("frames") else math.nan

    @property
    def decode_cpu_pct(self) -> float:
        """Pure decode CPU for what the kiosk actually received (same frames per second)."""
        return self.decode_ms_per_frame * self.recv_total_fps / 10.0

    @property
    def decode_cpu_nominal_pct(self) -> float:
        """Pure decode CPU for N streams at the nominal frame rate."""
        return self.decode_ms_per_frame * self.n * self.fps / 10.0

    @property
    def ratio(self) -> float:
        return self.kiosk_cpu_pct / self.decode_cpu_pct

    @property
    def visible_drawn_fps(self) -> list[float]:
        """Drawn fps of the streams that have a place on the screen (the rest sit behind the
        strip's "+k" tile and are decoded but not drawn)."""
        drawn = self.kiosk.get("drawn_fps", [])
        return [drawn[i] for i in self.kiosk.get("visible", []) if i < len(drawn)]

    @property
    def other_cpu_pct(self) -> float:
        """CPU of everything else on the machine during the window (% of one core)."""
        return self.machine_cpu_pct - self.kiosk_cpu_pct - self.bots_cpu_pct - self.server_cpu_pct

    @property
    def latencies(self) -> list[float]:
        return [*self.kiosk.get("latency_main", []), *self.kiosk.get("latency_thumb", [])]


class Child:
    """A child process of this script speaking ``BENCH {json}`` lines; stderr to a log file."""

    def __init__(self, name: str, logdir: Path) -> None:
        self.name = name
        self.log = logdir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ticks: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None
        self._tick = asyncio.Event()

    async def start(self, argv: Sequence[str], env: dict[str, str]) -> None:
        with self.log.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(SCRIPT),
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").strip()
            if not text.startswith(PREFIX):
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(text[len(PREFIX) :])
                if event.get("event") == "tick":
                    self.ticks.append(event)
                    self._tick.set()
                else:
                    await self.events.put(event)
        await self.events.put({"event": "exit"})

    async def expect(self, name: str, within: float) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no '{name}' within {within:g} s ({self.tail()})")
            event = await asyncio.wait_for(self.events.get(), left)
            if event.get("event") == name:
                return event
            if event.get("event") == "exit":
                raise RuntimeError(f"{self.name} exited before '{name}' ({self.tail()})")

    async def wait_tick(self, ok: Callable[[dict[str, Any]], bool], within: float) -> None:
        """Wait until the newest tick satisfies ``ok`` (TimeoutError after ``within`` s)."""
        deadline = time.monotonic() + within
        while not (self.ticks and ok(self.ticks[-1])):
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc is not None and self.proc.returncode is not None):
                raise TimeoutError(f"{self.name}: condition not met within {within:g} s")
            self._tick.clear()
            await asyncio.wait_for(self._tick.wait(), left)

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log.read_text(errors="replace").strip().splitlines()
            if lines:
                return "last log line: " + lines[-1][-200:]
        return f"log {self.log}"

    async def stop(self, grace: float = 15.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), 5)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)


def _tick_at(ticks: list[dict[str, Any]], wall: float) -> dict[str, Any] | None:
    """The media tick closest to ``wall``."""
    return min(ticks, key=lambda t: abs(float(t["wall"]) - wall), default=None)


async def run_point(
    opts: argparse.Namespace, mode: str, n: int, width: int, height: int, fps: int, logdir: Path
) -> Point:
    point = Point(mode, n, width, height, fps)
    env = dict(
        os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1"
    )
    common = ["--count", str(n), "--size", f"{width}x{height}", "--fps", str(fps)]
    budget = opts.join_timeout + opts.warmup + opts.seconds + opts.samples * 0.1 + 60
    server = Child(f"server-{mode}-{n}", logdir)
    procs = max(1, min(n, opts.bot_procs or (1 if n <= 4 else 2)))
    shares = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    bots = [Child(f"bots{i}-{mode}-{n}", logdir) for i in range(procs)]
    kiosk = Child(f"kiosk-{mode}-{n}", logdir)
    point.bot_procs = procs
    try:
        await server.start(["--role", "server", "--max-seconds", str(budget)], env)
        url = (await server.expect("ready", 30))["url"]
        for i, child in enumerate(bots):
            await child.start(
                [
                    "--role",
                    "bots",
                    "--count",
                    str(shares[i]),
                    "--first-bot",
                    str(sum(shares[:i])),
                    *common[2:],
                    "--server",
                    url,
                    "--max-seconds",
                    str(budget),
                    *(["--audio"] if opts.audio else []),
                ],
                env,
            )
        for i, child in enumerate(bots):
            await child.expect("ready", 30)
            # let every bot publish before the kiosk joins (bounded)
            want = shares[i]

            def all_joined(tick: dict[str, Any], want: int = want) -> bool:
                return int(tick["joined"]) >= want

            with contextlib.suppress(TimeoutError):
                await child.wait_tick(all_joined, opts.join_timeout)
        await kiosk.start(
            [
                "--role",
                "kiosk",
                *common,
                "--server",
                url,
                "--seconds",
                str(opts.seconds),
                "--warmup",
                str(opts.warmup),
                "--samples",
                str(opts.samples),
                "--join-timeout",
                str(opts.join_timeout),
                "--max-seconds",
                str(budget),
                "--screenshot",
                str(logdir / f"screen-{mode}-{n}.png"),
            ],
            env,
        )
        joined = await kiosk.expect("joined", opts.join_timeout + 30)
        if joined["streams"] < n:
            print(
                f"  N={n}: only {joined['streams']} of {n} streams reached the kiosk "
                f"after {joined['seconds']} s",
                flush=True,
            )
        start = await kiosk.expect("window_start", opts.warmup + 30)
        psutil.cpu_percent(None)
        end = await kiosk.expect("window_end", opts.seconds + 30)
        point.machine_cpu_pct = psutil.cpu_percent(None) * psutil.cpu_count()
        point.kiosk = await kiosk.expect("result", opts.samples * 0.1 + 40)
        if "error" in point.kiosk:
            point.error = str(point.kiosk["error"])
        point.bots_cpu_pct = 0.0
        for child in (*bots, server):
            a, b = _tick_at(child.ticks, start["wall"]), _tick_at(child.ticks, end["wall"])
            if a is None or b is None or b["wall"] <= a["wall"]:
                continue
            dt = float(b["wall"]) - float(a["wall"])
            cpu_pct = 100.0 * (float(b["cpu_s"]) - float(a["cpu_s"])) / dt
            if child is server:
                point.server_cpu_pct = cpu_pct
            else:
                point.send_fps += [(y - x) / dt for x, y in zip(a["sent"], b["sent"], strict=True)]
                point.bots_joined += int(b["joined"])
                point.bots_cpu_pct += cpu_pct
    except (TimeoutError, RuntimeError) as exc:
        point.error = str(exc)
    finally:
        await kiosk.stop()
        for child in bots:
            await child.stop()
        await server.stop()
    if point.error is None:
        bitrate = int(point.kiosk.get("bitrate_per_stream") or 500_000)
        decode = Child(f"decode-{mode}-{n}", logdir)
        try:
            await decode.start(
                [
                    "--role",
                    "decode",
                    *common,
                    "--bitrate",
                    str(max(bitrate, 50_000)),
                    "--seconds",
                    str(opts.decode_seconds),
                ],
                env,
            )
            point.decode = await decode.expect("result", 120)
        except (TimeoutError, RuntimeError) as exc:
            point.error = f"decode: {exc}"
        finally:
            await decode.stop()
    return point


# --- reporting ----------------------------------------------------------------------------------


def _min_mean(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"{min(values):.1f} / {sum(values) / len(values):.1f}"


HEADERS = [
    "mode",
    "N",
    "bot send fps min/mean",
    "kiosk recv fps min/mean",
    "drawn fps min/mean (on screen)",
    "kiosk CPU %",
    "of which drawing %",
    "CPU ms/drawn frame",
    "pure decode CPU %",
    "kiosk/decode",
    "RSS MB",
    "PSS MB",
    "latency med/p95 ms (n)",
    "decoded-frame latency med ms",
    "bots CPU % (procs)",
    "server CPU %",
    "other processes CPU %",
]


def table_rows(points: Sequence[Point]) -> list[list[str]]:
    rows: list[list[str]] = []
    for p in points:
        mode = f"{p.mode} {p.width}x{p.height}@{p.fps}"
        if p.error:
            rows.append([mode, str(p.n), f"error: {p.error}"] + [""] * (len(HEADERS) - 3))
            continue
        k = p.kiosk
        lat = summarize(p.latencies)
        pss = k.get("pss")
        attempts = k.get("latency_attempts", 0)
        rows.append(
            [
                mode,
                str(p.n),
                _min_mean(p.send_fps),
                _min_mean(k.get("recv_fps", [])),
                f"{_min_mean(p.visible_drawn_fps)} ({len(p.visible_drawn_fps)}/{p.n})",
                fmt(p.kiosk_cpu_pct),
                fmt(p.draw_cpu_pct),
                fmt(p.cpu_ms_per_drawn, 2),
                fmt(p.decode_cpu_pct),
                fmt(p.ratio, 2),
                fmt(k["rss"] / 2**20, 0),
                fmt(pss / 2**20 if pss else None, 0),
                f"{fmt(lat.median, 0)} / {fmt(lat.p95, 0)} ({lat.count}/{attempts})",
                fmt(summarize(k.get("latency_decoded", [])).median, 0),
                f"{fmt(p.bots_cpu_pct)} ({p.bot_procs})",
                fmt(p.server_cpu_pct),
                fmt(p.other_cpu_pct),
            ]
        )
    return rows


def verdicts(points: Sequence[Point]) -> list[str]:
    full = {p.n: p for p in points if p.mode == "full" and not p.error}
    out: list[str] = []
    p16 = full.get(16)
    if p16 is not None:
        recv = p16.kiosk.get("recv_fps", [])
        drawn = p16.visible_drawn_fps
        ok = len(recv) == 16 and min(recv) >= 29 and bool(drawn) and min(drawn) >= 29
        out.append(
            f"16 streams all at >= 29 fps: {'MET' if ok else 'NOT MET'} (received "
            f"min/mean {_min_mean(recv)} fps over {len(recv)} streams; drawn "
            f"{_min_mean(drawn)} fps on the {len(drawn)} streams with a place on "
            f"screen; the bots sent {_min_mean(p16.send_fps)} fps)"
        )
    else:
        out.append("16 streams all at >= 29 fps: not measured")
    p8 = full.get(8)
    if p8 is not None:
        ok = p8.ratio <= 2.0
        out.append(
            f"CPU <= 2x pure decode at N=8: {'MET' if ok else 'NOT MET'} "
            f"(kiosk {p8.kiosk_cpu_pct:.0f} % vs decode {p8.decode_cpu_pct:.0f} %: "
            f"{p8.ratio:.2f}x)"
        )
    else:
        out.append("CPU <= 2x pure decode at N=8: not measured")
    meds = {p.n: summarize(p.latencies).median for p in full.values() if p.latencies}
    if meds:
        worst_n = max(meds, key=lambda n: meds[n])
        ok = all(v <= 50 for v in meds.values())
        out.append(
            f"latency median <= 50 ms: {'MET' if ok else 'NOT MET'} (worst: "
            f"{meds[worst_n]:.0f} ms at N={worst_n})"
        )
    else:
        out.append("latency median <= 50 ms: not measured")
    return out


def plot(points: Sequence[Point], path: Path) -> None:
    full = [p for p in points if p.mode == "full"]
    labels = [f"N={p.n}" for p in full]

    def vals(f: Any) -> list[float | None]:
        return [None if p.error else float(f(p)) for p in full]

    if not full:
        return
    title = f"kiosk CPU vs pure VP8 decode, {full[0].width}x{full[0].height}@{full[0].fps}"
    chart = svg_line_chart(
        title,
        labels,
        [
            Series("kiosk CPU %", vals(lambda p: p.kiosk_cpu_pct)),
            Series("kiosk drawing CPU %", vals(lambda p: p.draw_cpu_pct)),
            Series("pure decode CPU %", vals(lambda p: p.decode_cpu_pct)),
            Series("2x pure decode", vals(lambda p: 2 * p.decode_cpu_pct), dashed=True),
        ],
        y_label="% of one core",
    )
    path.write_text(chart, encoding="utf-8")


def machine_line() -> str:
    freq = psutil.cpu_freq()
    return (
        f"{platform.machine()}, {psutil.cpu_count()} cores"
        f"{f' @ {freq.max:.0f} MHz' if freq and freq.max else ''}, "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, Python "
        f"{platform.python_version()}"
    )


def markdown_section(
    points: Sequence[Point], opts: argparse.Namespace, plot_name: str | None, started: float
) -> str:
    import aiortc
    import av

    lines = [
        f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} on "
        f"{machine_line()}; aiortc {aiortc.__version__}, PyAV {av.__version__}; "
        f"`{' '.join(['bench/render.py', *opts.argv])}` "
        f"({time.time() - started:.0f} s).",
        "",
        "Setup: the dev server, the N bots and the kiosk each in a process of their own (CPU "
        f"measured per process), dummy SDL display {SCREEN[0]}x{SCREEN[1]}, kiosk camera and "
        f"microphone off, bots {'with' if opts.audio else 'without'} audio. Measured window "
        f"{opts.seconds:g} s after {opts.warmup:g} s warm-up.",
        "",
        markdown_table(HEADERS, table_rows(points)),
        "Targets:",
        "",
        *[f"- {v}" for v in verdicts(points)],
        "",
        "How to read it:",
        "",
        "- *bot send fps*: frames each bot's test pattern handed to its VP8 encoder; below the "
        "nominal rate means the bots' processes (encoding N streams; the number of processes "
        "is in brackets after their CPU) are saturated, not the kiosk. *light* rows repeat "
        "such an N with lighter bots (smaller picture, lower frame rate) — clearly not the "
        "640x480@30 target load.",
        "- *kiosk recv fps*: decoded frames per stream (`LatestFrame.frame_count`); *drawn fps*: "
        "distinct frames per stream the renderer put on the screen (main view or thumbnail).",
        "- *kiosk CPU %*: user+system CPU of the kiosk process (all threads: aiortc decoders, "
        "RTP/SRTP, the pygame loop) in % of one core; *of which drawing*: the loop thread's "
        "CPU inside `Renderer.draw` + `Display.update` (colour conversion, scaling, blits). "
        "*CPU ms/drawn frame* = kiosk CPU / drawn frames.",
        "- *pure decode CPU %*: libvpx decode (`av.CodecContext.create('libvpx', 'r')`, what "
        "aiortc uses) of the test pattern, encoded with aiortc's VP8 settings at the bitrate "
        "the kiosk received, scaled to the frames per second the kiosk received; "
        "*kiosk/decode* is the ratio of the two.",
        "- *latency*: glass-to-glass, wall clock at sampling minus the timestamp read with "
        "`read_timestamp` from the display surface (main view and thumbnails; the number of "
        "readable samples in brackets). It includes bot encode, two aiortc hops through the "
        "dev server, decode, the render tick and on average half a frame interval of waiting "
        "for the next frame. Every other sample is taken from the main view, the rest "
        "from the thumbnails; on small thumbnails (N >= 8 at 1920x1080) the name label covers "
        "most of the code strip, so part of those samples is unreadable (counted, not "
        "guessed).",
        "- *decoded-frame latency*: the same reading taken at the same instants from the "
        "stream's newest decoded frame (`LatestFrame.latest()`): the difference to the screen "
        "latency is what drawing adds.",
        "- *other processes CPU %*: the rest of the machine during the window (whole machine "
        "minus kiosk minus bots+server), in % of one core: anything far above zero means "
        "other work competed with the bench for the cores and the numbers are pessimistic.",
        "",
    ]
    if plot_name:
        lines += [f"![kiosk CPU vs pure decode]({plot_name})", ""]
    return "\n".join(lines)


ANALYSIS = "### Analysis (written by hand; bench/render.py keeps it)"


def _kept_analysis(document: str) -> str:
    """The hand-written analysis subsection of our section, to carry over a re-run."""
    return subsection(subsection(document, SECTION), ANALYSIS)


def write_results(points: Sequence[Point], opts: argparse.Namespace, started: float) -> None:
    if opts.json:
        Path(opts.json).write_text(json.dumps([p.__dict__ for p in points], indent=1))
    if opts.docs:
        docs = ROOT / "docs"
        plot_name = "benchmarks-render.svg"
        plot(points, docs / plot_name)
        body = markdown_section(points, opts, plot_name, started)
        doc = docs / "benchmarks.md"
        kept = _kept_analysis(doc.read_text(encoding="utf-8")) if doc.exists() else ""
        write_section(doc, SECTION, body + ("\n" + kept if kept else ""))
        print(f"\nwrote {docs / 'benchmarks.md'} and {docs / plot_name}")


async def orchestrate(opts: argparse.Namespace) -> int:
    started = time.time()
    counts = [int(c) for c in opts.counts.split(",")]
    width, height = opts.width, opts.height
    points: list[Point] = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        logdir = Path(opts.logdir) if opts.logdir else Path(tmp)
        logdir.mkdir(parents=True, exist_ok=True)
        for n in counts:
            print(f"N={n}: {width}x{height}@{opts.fps} …", flush=True)
            p = await run_point(opts, "full", n, width, height, opts.fps, logdir)
            points.append(p)
            print(markdown_table(HEADERS, table_rows([p])).splitlines()[-1], flush=True)
        light_ns: list[int] = []
        if opts.light == "on":
            light_ns = counts
        elif opts.light == "auto":
            light_ns = [
                p.n
                for p in points
                if not p.error and p.send_fps and min(p.send_fps) < 0.9 * opts.fps
            ][-2:]
        lw, lh, lf = opts.light_width, opts.light_height, opts.light_fps
        for n in light_ns:
            if time.time() - started > opts.time_budget:
                print(f"light mode N={n}: skipped (time budget)", flush=True)
                continue
            print(f"N={n}: light mode {lw}x{lh}@{lf} (bots saturated at full size) …", flush=True)
            p = await run_point(opts, "light", n, lw, lh, lf, logdir)
            points.append(p)
            print(markdown_table(HEADERS, table_rows([p])).splitlines()[-1], flush=True)
    print()
    print(markdown_table(HEADERS, table_rows(points)))
    for v in verdicts(points):
        print(v)
    write_results(points, opts, started)
    return 0 if all(p.error is None for p in points) else 1


# =================================================================================================
# --participants: the loop thread's cost of a frame in a room larger than the screen (issue 12)
# =================================================================================================

TILES_SECTION = "## Rooms larger than the screen (bench/render.py --participants)"


class _CountingSource:
    """A FrameSource over shared decoded frames: a new frame every ``bump`` (no pixels copied)."""

    def __init__(self, frames: list[Any]) -> None:
        self.frames = frames
        self.frame_count = 1

    def latest(self) -> Any:
        return self.frames[self.frame_count % len(self.frames)]


def tiles_role(args: argparse.Namespace) -> int:
    """``--role tiles``: in this process (the ``kiosk`` package on PYTHONPATH is the code under
    test), a real Kiosk with a fake call of N remote participants draws on a 1920x1080 surface;
    per frame, the loop thread's CPU (``time.thread_time``) for what the render loop does each
    iteration: ``Kiosk.room_view()`` (the builder), ``Renderer.draw`` and
    ``Renderer.tiled_ids`` (the video plan's question in ``Kiosk._on_frame``). Two cases: no
    new frame (the 60 Hz tick between frames: pure overhead) and a new frame on every source."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import av
    import numpy as np
    import pygame

    from kiosk.app import machine as m
    from kiosk.app.kiosk import Kiosk
    from kiosk.openvidu.events import StreamInfo
    from kiosk.openvidu.session_model import Participant, SessionModel
    from kiosk.screen.renderer import Renderer
    from kiosk.testing.configs import loopback_kiosk_config

    rng = np.random.default_rng(1)
    frames = [
        av.VideoFrame.from_ndarray(
            rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        for _ in range(3)
    ]

    class Media:
        def __init__(self) -> None:
            self.frames: dict[str, _CountingSource] = {}
            self.local_frame: Any = None

        def levels(self) -> dict[str, float]:
            return {}

    def measure(n: int) -> dict[str, Any]:
        now = [100.0]
        config = loopback_kiosk_config("http://127.0.0.1:9", display={"layout": "speaker"})
        kiosk = Kiosk(config, clock=lambda: now[0])
        model = SessionModel()
        media = Media()
        for i in range(n):
            cid = f"con_{i}"
            stream = StreamInfo(f"str_{i}", i, True, True, True, True, "CAMERA", 30.0, (320, 240))
            model.participants[cid] = Participant(cid, f"Person {i}", "", i, stream)
            media.frames[cid] = _CountingSource(frames)
        kiosk.client = cast(Any, SimpleNamespace(connection_id="me", model=model))
        kiosk.media = cast(Any, media)
        renderer = Renderer(pygame.Surface(SCREEN))
        kiosk.renderer = renderer
        for event in (m.Start(), m.TokenObtained(), m.Joined()):
            kiosk.machine.handle(event, now[0])

        def frame(bump: bool) -> tuple[float, int]:
            now[0] += 1 / 60
            if bump:
                for source in media.frames.values():
                    source.frame_count += 1
            t0 = time.thread_time()
            view = kiosk.room_view()
            renderer.draw(view, now[0])
            renderer.tiled_ids(view)
            return (time.thread_time() - t0) * 1000, len(view.tiles)

        for _ in range(20):
            frame(True)  # warm-up: layout, texts, converters
        row: dict[str, Any] = {"participants": n}
        for case, bump in (("idle", False), ("frames", True)):
            # A new frame on all 1,000 sources costs the bump loop; it is outside the timing.
            ms = sorted(frame(bump)[0] for _ in range(args.frames))
            row[case + "_median_ms"] = statistics.median(ms)
            row[case + "_mean_ms"] = statistics.fmean(ms)
        row["tiles"] = frame(False)[1]
        row["rss_mib"] = psutil.Process().memory_info().rss / 2**20
        return row

    pygame.font.init()
    out = [measure(int(c)) for c in args.participants.split(",")]
    print("TILES " + json.dumps(out), flush=True)
    return 0


def _export(rev: str, into: Path) -> Path:
    """The ``kiosk`` package of ``rev`` (git archive) under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "kiosk"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=60)
    return into


def _tiles_run(code: Path, opts: argparse.Namespace) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
        "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--role",
            "tiles",
            "--participants",
            opts.participants,
            "--frames",
            str(opts.frames),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=opts.max_seconds,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("TILES "):
            rows: list[dict[str, Any]] = json.loads(line[6:])
            return rows
    raise RuntimeError(f"tiles run failed ({done.returncode}): {done.stderr[-2000:]}")


def tiles_compare(opts: argparse.Namespace) -> int:
    """Before (``--baseline REV``) and after (this tree), interleaved ``--rounds`` times; the
    median over rounds of each run's median frame."""
    started = time.time()
    variants: list[tuple[str, Path]] = []
    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as tmp:
        if opts.baseline:
            variants.append((f"before ({opts.baseline})", _export(opts.baseline, Path(tmp))))
        variants.append(("after (this tree)", ROOT))
        runs: dict[str, list[list[dict[str, Any]]]] = {name: [] for name, _ in variants}
        for r in range(opts.rounds):
            for name, code in variants:
                print(f"round {r + 1}/{opts.rounds}: {name} …", flush=True)
                runs[name].append(_tiles_run(code, opts))
    load = os.getloadavg()
    counts = [int(c) for c in opts.participants.split(",")]
    headers = ["participants"]
    for name, _ in variants:
        headers += [f"{name}: ms/frame idle", "new frames", "tiles/view", "RSS MiB"]
    if len(variants) == 2:
        headers += ["after/before idle", "after/before new frames"]
    rows: list[list[str]] = []
    for i, n in enumerate(counts):
        row = [str(n)]
        med: dict[str, tuple[float, float]] = {}
        for name, _ in variants:
            idle = statistics.median(run[i]["idle_median_ms"] for run in runs[name])
            new = statistics.median(run[i]["frames_median_ms"] for run in runs[name])
            med[name] = (idle, new)
            rss = max(run[i]["rss_mib"] for run in runs[name])
            row += [f"{idle:.2f}", f"{new:.2f}", str(runs[name][0][i]["tiles"]), f"{rss:.0f}"]
        if len(variants) == 2:
            (b_idle, b_new), (a_idle, a_new) = med[variants[0][0]], med[variants[1][0]]
            row += [f"{a_idle / b_idle:.2f}", f"{a_new / b_new:.2f}"]
        rows.append(row)
    table = markdown_table(headers, rows)
    print()
    print(table)
    print(f"load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if opts.docs:
        cmd = "bench/render.py " + " ".join(opts.argv)
        body = (
            f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} on "
            f"{machine_line()}; `{cmd}` ({time.time() - started:.0f} s), load average "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) at the end.\n\n"
            "The loop thread's CPU (`time.thread_time`) per frame for what the render loop does "
            "each iteration — `Kiosk.room_view()`, `Renderer.draw`, `Renderer.tiled_ids` — with N "
            "announced remote participants (a fake call; every one with a 320x240 video source) "
            f"on a {SCREEN[0]}x{SCREEN[1]} surface (SDL dummy driver), median over "
            f"{opts.frames} frames, median of {opts.rounds} interleaved runs. *idle*: no new "
            "frame (the tick between frames); *new frames*: every source has a new one (the "
            "shown tiles convert and scale theirs). *tiles/view*: TileInfo objects in the view "
            "each frame. Before and after run the same script against the `kiosk` package of "
            "each tree, alternately, so they share the machine's load; read the ratios, not "
            "the absolute numbers.\n\n" + table
        )
        doc = ROOT / "docs" / "benchmarks.md"
        text = doc.read_text(encoding="utf-8") if doc.exists() else ""
        kept = subsection(subsection(text, TILES_SECTION), ANALYSIS)
        write_section(doc, TILES_SECTION, body + ("\n" + kept if kept else ""))
        print("wrote docs/benchmarks.md")
    return 0


# =================================================================================================


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="N = 1, 2 with short windows (~1 min)")
    ap.add_argument("--counts", default="1,2,4,8,16", help="comma-separated N (default 1,2,4,8,16)")
    ap.add_argument("--size", default="640x480", help="bots' video size (default 640x480)")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window per N")
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--samples", type=int, default=100, help="latency samples per N")
    ap.add_argument(
        "--decode-seconds",
        type=float,
        default=5.0,
        help="seconds of each stream decoded in the pure-decode run",
    )
    ap.add_argument("--join-timeout", type=float, default=40.0)
    ap.add_argument(
        "--light",
        choices=["auto", "on", "off"],
        default="auto",
        help="also run a lighter bot mode: auto = for the two largest N where the "
        "bots could not send the nominal fps",
    )
    ap.add_argument("--light-size", default="320x240")
    ap.add_argument("--light-fps", type=int, default=15)
    ap.add_argument("--audio", action="store_true", help="bots also publish their tone")
    ap.add_argument(
        "--no-docs",
        dest="docs",
        action="store_false",
        help="do not write docs/benchmarks.md and the plot",
    )
    ap.add_argument("--json", help="also write raw results to this file")
    ap.add_argument("--logdir", help="keep the children's logs here")
    ap.add_argument(
        "--time-budget",
        type=float,
        default=480.0,
        help="skip light runs once this many seconds have passed",
    )
    ap.add_argument(
        "--participants",
        help="instead: per-frame loop-thread cost for rooms of these sizes, e.g. "
        "8,100,1000 (a fake call in this process; no bots)",
    )
    ap.add_argument(
        "--baseline",
        help="with --participants: also measure the kiosk package "
        "of this git revision, side by side",
    )
    ap.add_argument("--frames", type=int, default=300, help="with --participants: per case")
    ap.add_argument("--rounds", type=int, default=3, help="with --participants: runs per tree")
    # internal: the child processes
    ap.add_argument(
        "--role",
        choices=["orchestrate", "server", "bots", "kiosk", "decode", "tiles"],
        default="orchestrate",
        help=argparse.SUPPRESS,
    )
    ap.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--server", help=argparse.SUPPRESS)
    ap.add_argument(
        "--bot-procs",
        type=int,
        default=0,
        help="processes the bots are spread over (default: 1 for N <= 4, else 2)",
    )
    ap.add_argument("--first-bot", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--screenshot", help=argparse.SUPPRESS)
    ap.add_argument("--bitrate", type=int, default=500_000, help=argparse.SUPPRESS)
    ap.add_argument("--max-seconds", type=float, default=300.0, help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    opts.argv = list(argv)
    opts.width, opts.height = (int(v) for v in opts.size.lower().split("x"))
    opts.light_width, opts.light_height = (int(v) for v in opts.light_size.lower().split("x"))
    if opts.quick:
        opts.counts = "1,2"
        opts.seconds, opts.warmup, opts.samples, opts.decode_seconds = 5.0, 2.0, 40, 3.0
        opts.light = "off" if opts.light == "auto" else opts.light
        opts.docs = False  # a smoke run never replaces the full results in the docs
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.role in ("server", "bots"):
        return asyncio.run(media_role(opts))
    if opts.role == "kiosk":
        return asyncio.run(kiosk_role(opts))
    if opts.role == "decode":
        return decode_role(opts)
    if opts.role == "tiles":
        return tiles_role(opts)
    if opts.participants:
        return tiles_compare(opts)
    return asyncio.run(orchestrate(opts))


if __name__ == "__main__":
    sys.exit(main())
