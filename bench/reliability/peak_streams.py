"""Peak RSS of the kiosk with N incoming streams (default 8 × 640x480 @ 30 fps).

    MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 \\
    .venv/bin/python bench/reliability/peak_streams.py [--bots 8] [--seconds 60] [--recorded]
                                                       [--out r.json]

The dev server and the bots are child processes (``kiosk devserver --loopback``, ``kiosk bot
--loopback``); the kiosk runs in this process. Once every stream shows frames, RSS, fds and
threads are sampled every second for ``--seconds``; the result has the peak and the mean and the
received fps per stream (CPU is shared with the bots' encoders on this machine: the fps is what
the machine could do, not what the kiosk could). ``--recorded``: the bots send a test pattern
encoded once at start (``kiosk bot --recorded``, kiosk.media.recorded), so no CPU goes to
encoding (on 2 cores the relay and the kiosk still do not keep up with 8 × 30 fps). Everything
stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from typing import Any

from _setup import emit, install_patches, workdir

from kiosk.app.kiosk import Kiosk
from kiosk.testing.configs import SECRET, SESSION
from kiosk.testing.reliability import (
    DevServerProc,
    Proc,
    free_port,
    in_call_with_frames,
    kiosk_config,
    resources,
)
from kiosk.testing.scenarios import kiosk_running
from kiosk.testing.waits import wait_until


async def main(args: argparse.Namespace) -> dict[str, Any]:
    logs = workdir("peak")
    port = free_port()
    srv = DevServerProc(port, logs / "devserver.log")
    srv.start()
    await srv.wait_ready()
    bot_args = ["bot", "--server", srv.url, "--session", SESSION]
    bot_args += ["--count", str(args.bots), "--loopback", "--size", args.size]
    bot_args += ["--fps", str(args.fps), "--log-level", "WARNING"]
    if args.recorded:
        bot_args.append("--recorded")
    bots = Proc(bot_args, logs / "bots.log", env={"KIOSK_OPENVIDU_SECRET": SECRET})
    bots.start()
    k = Kiosk(kiosk_config(srv.url, stall_seconds=30.0))
    samples: list[dict[str, Any]] = []
    try:
        async with kiosk_running(k):
            await wait_until(
                lambda: in_call_with_frames(k, min_participants=args.bots), 180, "all streams"
            )
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.seconds:
                await asyncio.sleep(1.0)
                r = resources(collect=False)
                st = k.status()
                samples.append(
                    {
                        "t_s": round(time.monotonic() - t0, 1),
                        "rss_mib": round(r.rss_kb / 1024, 1),
                        "fds": r.fds,
                        "threads": r.threads,
                        "streams": len(st["participants"]),
                        "fps": [p["fps"] for p in st["participants"]],
                    }
                )
    finally:
        bots.stop()
        srv.stop()
    rss = [s["rss_mib"] for s in samples]
    fps = [f for s in samples[len(samples) // 2 :] for f in s["fps"]]
    return {
        "bots": args.bots,
        "size": args.size,
        "fps_sent": args.fps,
        "recorded": args.recorded,
        "malloc_env": {k2: v for k2, v in os.environ.items() if k2.startswith("MALLOC_")},
        "rss_peak_mib": max(rss) if rss else None,
        "rss_mean_mib": round(statistics.fmean(rss), 1) if rss else None,
        "fds_peak": max((s["fds"] for s in samples), default=None),
        "threads_peak": max((s["threads"] for s in samples), default=None),
        "streams_min": min((s["streams"] for s in samples), default=None),
        "received_fps_median": round(statistics.median(fps), 1) if fps else None,
        "samples": samples,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=8)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--recorded", action="store_true", help="bots send a pre-encoded pattern")
    parser.add_argument("--out")
    a = parser.parse_args()
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_patches()
    emit(asyncio.run(main(a)), a.out)
