"""Micro-benchmark of the screen's per-frame draw cost (not a test).

    SDL_VIDEODRIVER=dummy .venv/bin/python bench/render_micro.py [--frames 300]
    # CPU surface path vs SDL-renderer textures side by side (Mesa llvmpipe GLES2 under Xvfb):
    xvfb-run -s "-screen 0 1920x1080x24" env SDL_RENDER_DRIVER=opengles2 \
        .venv/bin/python bench/render_micro.py --driver x11 --drawing surface,textures

For 1, 4, 9 and 16 participants at 1920x1080 on SDL's dummy driver it times
``Renderer.draw`` + ``Display.update`` per tick in three situations:

* all-new: every source has a new frame on every tick (worst case);
* main-only: only the main participant has a new frame;
* idle-tick: no new frame at all (the 60 Hz tick between frames).

Per case: median (min) wall ms per tick, and the loop thread's own CPU ms per tick
(``time.thread_time``: what the asyncio loop pays; a GL driver's own threads are not in it).

Sources are decoded-like yuv420p frames: 1280x720 for the main participant, 640x480 for the
others, cycling through a few different pictures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import av
import numpy as np

from kiosk.screen.display import DRAWINGS, Display, DisplaySettings
from kiosk.screen.renderer import Renderer
from kiosk.screen.roomview import RoomView, TileInfo


class BenchSource:
    def __init__(self, w: int, h: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.frames = [
            av.VideoFrame.from_ndarray(
                rng.integers(0, 255, (h, w, 3), dtype=np.uint8), format="rgb24"
            ).reformat(format="yuv420p")
            for _ in range(3)
        ]
        self.frame_count = 1

    def bump(self) -> None:
        self.frame_count += 1

    def latest(self) -> av.VideoFrame:
        return self.frames[self.frame_count % len(self.frames)]


def run(n: int, frames: int, display: Display) -> dict[str, float]:
    sources = [BenchSource(1280, 720, 0)] + [BenchSource(640, 480, i) for i in range(1, n)]
    tiles = [TileInfo("self", "Lobby", is_self=True, frames=sources[0])] if n == 1 else []
    if n > 1:
        tiles = [TileInfo("self", "Lobby", is_self=True, frames=sources[1])]
        tiles.append(TileInfo("con_0", "Main Speaker", frames=sources[0], speaking=True))
        tiles += [
            TileInfo(f"con_{i}", f"Person {i}", frames=sources[i], mic_muted=i % 3 == 0)
            for i in range(2, n)
        ]
    main_id = tiles[0].id if n == 1 else "con_0"
    view = RoomView("in_call", room_name="Lobby", tiles=tiles, main_id=main_id)
    renderer = Renderer(display.surface, painter=display.painter)
    display.update(renderer.draw(view, 0.0))

    results: dict[str, float] = {}
    now = 0.0
    for case in ("all-new", "main-only", "idle-tick"):
        times: list[float] = []
        cpu: list[float] = []
        for _ in range(frames):
            if case == "all-new":
                for s in sources:
                    s.bump()
            elif case == "main-only":
                sources[0].bump()
            now += 1 / 60
            t0, c0 = time.perf_counter(), time.thread_time()
            display.update(renderer.draw(view, now))
            times.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        results[case] = statistics.median(times) * 1000
        results[case + " min"] = min(times) * 1000
        results[case + " cpu"] = statistics.mean(cpu) * 1000
    shown = len(renderer.layout.tiles) if renderer.layout else 0
    results["shown"] = shown
    return results


def one_frame(display: Display, frames: int) -> dict[str, float]:
    """One 640x480 frame to a ~1180x885 main view, nothing else on screen (the issue's
    per-frame figure): median wall ms and mean loop-thread CPU ms per new frame."""
    source = BenchSource(640, 480, 7)
    view = RoomView(
        "in_call", room_name="Lobby", tiles=[TileInfo("a", "A", frames=source)], main_id="a"
    )
    renderer = Renderer(display.surface, painter=display.painter)
    display.update(renderer.draw(view, 0.0))
    times: list[float] = []
    cpu: list[float] = []
    for i in range(frames):
        source.bump()
        t0, c0 = time.perf_counter(), time.thread_time()
        display.update(renderer.draw(view, (i + 1) / 60))
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return {"wall": statistics.median(times) * 1000, "cpu": statistics.mean(cpu) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--driver", default="dummy", choices=("dummy", "x11", "kmsdrm", "wayland"))
    parser.add_argument(
        "--drawing", default="surface", help="comma-separated: " + ", ".join(DRAWINGS)
    )
    args = parser.parse_args()
    for drawing in args.drawing.split(","):
        if drawing not in DRAWINGS:
            parser.error(f"--drawing: {drawing!r} is not one of {', '.join(DRAWINGS)}")
        settings: Any = DisplaySettings(
            driver=args.driver, fullscreen=False, size=(1920, 1080), drawing=drawing
        )
        display = Display(settings)
        display.open()
        try:
            name = display.renderer_name + (" (accelerated)" if display.accelerated else "")
            print(
                f"\n{drawing}: {args.driver} driver, renderer {name}; 1920x1080, "
                f"{args.frames} ticks per case; median (min) wall ms, mean loop-thread CPU ms"
            )
            f = one_frame(display, args.frames)
            print(f"one 640x480 frame -> main view: {f['wall']:.3f} ms wall, {f['cpu']:.3f} ms CPU")
            print(
                f"{'tiles':>5} {'in strip':>8} {'all-new':>24} {'main-only':>24} {'idle-tick':>24}"
            )
            for n in (1, 4, 9, 16):
                r = run(n, args.frames, display)
                cells = " ".join(
                    f"{r[c]:>7.2f} ({r[c + ' min']:5.2f}) {r[c + ' cpu']:6.2f}"
                    for c in ("all-new", "main-only", "idle-tick")
                )
                print(f"{n:>5} {int(r['shown']):>8} {cells}")
        finally:
            display.close()


if __name__ == "__main__":
    main()
