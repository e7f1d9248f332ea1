"""Micro-benchmark of the screen's per-frame draw cost (not a test).

    SDL_VIDEODRIVER=dummy .venv/bin/python bench/render_micro.py [--frames 300]

For 1, 4, 9 and 16 participants at 1920x1080 on SDL's dummy driver it times
``Renderer.draw`` + ``Display.update`` per tick in three situations:

* all-new: every source has a new frame on every tick (worst case);
* main-only: only the main participant has a new frame;
* idle-tick: no new frame at all (the 60 Hz tick between frames).

Sources are decoded-like yuv420p frames: 1280x720 for the main participant, 640x480 for the
others, cycling through a few different pictures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import av
import numpy as np

from kiosk.screen.display import Display, DisplaySettings
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
    renderer = Renderer(display.surface)
    display.update(renderer.draw(view, 0.0))

    results: dict[str, float] = {}
    now = 0.0
    for case in ("all-new", "main-only", "idle-tick"):
        times: list[float] = []
        for _ in range(frames):
            if case == "all-new":
                for s in sources:
                    s.bump()
            elif case == "main-only":
                sources[0].bump()
            now += 1 / 60
            t0 = time.perf_counter()
            display.update(renderer.draw(view, now))
            times.append(time.perf_counter() - t0)
        results[case] = statistics.median(times) * 1000
        results[case + " min"] = min(times) * 1000
    shown = len(renderer.layout.tiles) if renderer.layout else 0
    results["shown"] = shown
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    display = Display(DisplaySettings(driver="dummy", fullscreen=False, size=(1920, 1080)))
    display.open()
    try:
        print(f"1920x1080, dummy driver, {args.frames} ticks per case, median (min) ms per tick")
        print(f"{'tiles':>5} {'in strip':>8} {'all-new':>16} {'main-only':>16} {'idle-tick':>16}")
        for n in (1, 4, 9, 16):
            r = run(n, args.frames, display)
            cells = " ".join(
                f"{r[c]:>8.2f} ({r[c + ' min']:5.2f})"
                for c in ("all-new", "main-only", "idle-tick")
            )
            print(f"{n:>5} {int(r['shown']):>8} {cells}")
    finally:
        display.close()


if __name__ == "__main__":
    main()
