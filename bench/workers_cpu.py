"""Benchmark: the kiosk's loop thread with and without media workers, side by side (not a test).

    .venv/bin/python bench/workers_cpu.py [--counts 4,8] [--workers 0,2] [--seconds 15]
                                          [--warmup 8] [--json out.json]

A dev server and K bots (``kiosk bot --loopback``: 320x240 at 15 fps, the reliability benches'
children) run in child processes; the kiosk runs in this process (SDL dummy display 1280x720,
no camera or microphone) once per ``media.workers`` value, in the same room with the same bots.
Per K and workers value: received fps per stream (min/mean, of 15 sent), the CPU of the kiosk's
loop thread (% of one core: what issue 14 wants to relieve), of the rest of the kiosk process
(decoder and other threads), of its worker processes (summed), machine CPU and load.
No quotas (bench/pi_budget.py --workers has those, and needs root and a quiet machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import psutil

from kiosk import eventloop
from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.media import ice, patches
from kiosk.testing.configs import loopback_kiosk_config
from kiosk.testing.reliability import BotProc, DevServerProc, free_port


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


def _thread_cpu(tid: int) -> float:
    for t in psutil.Process().threads():
        if t.id == tid:
            return float(t.user_time + t.system_time)
    return 0.0


async def measure(url: str, k: int, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    config = loopback_kiosk_config(
        url,
        display={"size": "1280x720", "max_fps": 30},
        media={"workers": workers, "camera": {"device": "none"}, "microphone": {"device": "none"}},
    )
    kiosk = Kiosk(config)
    run = asyncio.create_task(kiosk.run())
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            media = kiosk.media
            if (
                kiosk.machine.state == m.CallState.IN_CALL
                and media is not None
                and len(media.frames) >= k
                and all(f.frame_count > 0 for f in media.frames.values())
            ):
                break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"K={k} workers={workers}: no frames from every bot in 120 s")
        await asyncio.sleep(args.warmup)
        media = kiosk.media
        assert media is not None
        me = psutil.Process()
        loop_tid = threading.get_native_id()
        pool = kiosk.workers
        procs = [psutil.Process(p) for p in (pool.pids() if pool else [])]
        frames0 = {c: f.frame_count for c, f in media.frames.items()}
        loop0, proc0 = _thread_cpu(loop_tid), _cpu(me)
        work0 = sum(_cpu(p) for p in procs)
        psutil.cpu_percent(None)
        t0 = time.monotonic()
        await asyncio.sleep(args.seconds)
        wall = time.monotonic() - t0
        machine = psutil.cpu_percent(None)
        loop1, proc1 = _thread_cpu(loop_tid), _cpu(me)
        work1 = sum(_cpu(p) for p in procs)
        fps = [
            (f.frame_count - frames0.get(c, 0)) / wall
            for c, f in media.frames.items()
            if f.frame_count >= frames0.get(c, 0)
        ]
        return {
            "k": k,
            "workers": workers,
            "fps_min": min(fps) if fps else 0.0,
            "fps_mean": sum(fps) / len(fps) if fps else 0.0,
            "streams": len(fps),
            "loop_pct": 100 * (loop1 - loop0) / wall,
            "other_threads_pct": 100 * ((proc1 - proc0) - (loop1 - loop0)) / wall,
            "workers_pct": 100 * (work1 - work0) / wall,
            "machine_pct": machine,
            "load": os.getloadavg()[0],
        }
    finally:
        kiosk.post(m.Shutdown())
        await asyncio.wait_for(run, 30)


def table(points: Sequence[dict[str, Any]]) -> str:
    rows = [
        "| K | workers | received fps min/mean (of 15) | loop thread % of a core |"
        " other kiosk threads % | workers % (sum) | machine CPU % (load) |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in points:
        rows.append(
            f"| {p['k']} | {p['workers']} | {p['fps_min']:.1f}/{p['fps_mean']:.1f}"
            f" ({p['streams']}) | {p['loop_pct']:.0f} | {p['other_threads_pct']:.0f}"
            f" | {p['workers_pct']:.0f} | {p['machine_pct']:.0f} ({p['load']:.1f}) |"
        )
    return "\n".join(rows)


async def orchestrate(args: argparse.Namespace) -> list[dict[str, Any]]:
    patches.install(ice.IceSettings.loopback())
    points: list[dict[str, Any]] = []
    logs = Path(tempfile.mkdtemp(prefix="workers-cpu-"))
    for k in [int(x) for x in args.counts.split(",")]:
        server = DevServerProc(free_port(), logs / f"devserver-{k}.log")
        server.start()
        bots: BotProc | None = None
        try:
            await server.wait_ready(60)
            bots = BotProc(server.url, k, logs / f"bots-{k}.log")
            bots.start()
            for workers in [int(x) for x in args.workers.split(",")]:
                try:
                    points.append(await measure(server.url, k, workers, args))
                except (RuntimeError, TimeoutError) as exc:
                    print(f"bench: {exc}", flush=True)
                    continue
                print(table(points[-1:]), flush=True)
        finally:
            if bots is not None:
                bots.stop()
            server.stop()
    print(f"\n{table(points)}")
    return points


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--counts", default="4,8")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    points = eventloop.run(orchestrate(args))
    if args.json:
        Path(args.json).write_text(json.dumps(points, indent=1))
    return 0 if points else 1


if __name__ == "__main__":
    sys.exit(main())
