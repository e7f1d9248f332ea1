"""Where does the kiosk's memory go across faults? tracemalloc + allocator + object counts.

    .venv/bin/python bench/reliability/memtrace.py [--cycles 12] [--bots 3] [--settle 6]
                                                   [--trim] [--frames 25] [--out result.json]

Like ``crash.py`` (dev server kill -9 + restart, bots as child processes, the kiosk in this
process), but after every recovered cycle it collects garbage and records: RSS, glibc's
``mallinfo2`` (heap in arenas, bytes in use, bytes free inside the heap, mmapped), the bytes
tracemalloc sees Python allocate, and the object count per type. At the end it prints the
allocation sites and the types that grew between the end of the warm-up and the last cycle.
``--trim`` calls ``malloc_trim(0)`` before each sample (is the growth free-but-held memory?).
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import logging
import time
import tracemalloc
from typing import Any

from _setup import emit, install_patches, workdir

from kiosk.app.kiosk import Kiosk
from kiosk.testing.reliability import (
    BotProc,
    DevServerProc,
    free_port,
    in_call_with_frames,
    kiosk_config,
    resources,
)
from kiosk.testing.scenarios import kiosk_running
from kiosk.testing.waits import wait_until

log = logging.getLogger("memtrace")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _MallInfo2


def mallinfo() -> dict[str, float]:
    """Main-arena view only: glibc's mallinfo2 covers the main arena plus mmapped chunks."""
    mi = _libc.mallinfo2()
    mib = 1024 * 1024
    return {
        "heap_mib": round(mi.arena / mib, 1),
        "in_use_mib": round(mi.uordblks / mib, 1),
        "free_in_heap_mib": round(mi.fordblks / mib, 1),
        "mmapped_mib": round(mi.hblkhd / mib, 1),
    }


def type_counts() -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for o in gc.get_objects():
        t = type(o)
        counts[f"{t.__module__}.{t.__qualname__}"] += 1
    return counts


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.frames:
        tracemalloc.start(args.frames)
    logs = workdir("memtrace")
    port = free_port()
    srv = DevServerProc(port, logs / "devserver.log")
    srv.start()
    await srv.wait_ready()
    bot = BotProc(srv.url, args.bots, logs / "bots.log")
    bot.start()
    k = Kiosk(kiosk_config(srv.url, heap_trim_seconds=args.heap_trim_seconds))
    samples: list[dict[str, Any]] = []
    base_snap: tracemalloc.Snapshot | None = None
    base_types: collections.Counter[str] | None = None
    t0 = time.monotonic()
    try:
        async with kiosk_running(k):
            await wait_until(lambda: in_call_with_frames(k, min_participants=args.bots), 60, "call")
            for i in range(args.cycles):
                old = k.status()["connection_id"]
                srv.kill9()
                await asyncio.sleep(0.5)
                srv.start()
                await srv.wait_ready()

                def rejoined(old: str | None = old) -> bool:
                    return in_call_with_frames(k, min_participants=args.bots, not_connection=old)

                await wait_until(
                    rejoined,
                    120,
                    "rejoin",
                )
                await asyncio.sleep(args.settle)
                gc.collect()
                if args.trim:
                    _libc.malloc_trim(0)
                r = resources(collect=False)
                row: dict[str, Any] = {
                    "cycle": i + 1,
                    "t_s": round(time.monotonic() - t0, 1),
                    "rss_mib": round(r.rss_kb / 1024, 1),
                    "fds": r.fds,
                    "threads": r.threads,
                    "tasks": r.tasks,
                    "pcs": r.peer_connections,
                    **mallinfo(),
                }
                if args.frames:
                    row["traced_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                samples.append(row)
                log.warning("sample %s", row)
                if i + 1 == args.warmup:
                    base_types = type_counts()
                    if args.frames:
                        base_snap = tracemalloc.take_snapshot()
            gc.collect()
            end_types = type_counts()
            top_sites: list[str] = []
            if args.frames and base_snap is not None:
                snap = tracemalloc.take_snapshot()
                filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
                diff = snap.filter_traces(filters).compare_to(
                    base_snap.filter_traces(filters), "traceback"
                )
                for stat in diff[: args.top]:
                    if stat.size_diff <= 0:
                        continue
                    frames = " <- ".join(
                        f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}"
                        for f in stat.traceback[:8]
                    )
                    top_sites.append(
                        f"{stat.size_diff / 1024:+.1f} KiB {stat.count_diff:+d} blocks: {frames}"
                    )
            grew = []
            if base_types is not None:
                delta = end_types - base_types
                grew = [f"{n}: +{c}" for n, c in delta.most_common(args.top)]
    finally:
        bot.stop()
        srv.stop()
    after = [s for s in samples if s["cycle"] > args.warmup]
    per_cycle = (
        round((after[-1]["rss_mib"] - after[0]["rss_mib"]) / max(1, len(after) - 1), 3)
        if len(after) > 1
        else None
    )
    return {
        "cycles": args.cycles,
        "bots": args.bots,
        "trim": args.trim,
        "heap_trim_seconds": k.heap.schedule.interval_s,
        "heap_trims": k.heap.stats.trims,
        "tracemalloc_frames": args.frames,
        "rss_growth_per_cycle_after_warmup_mib": per_cycle,
        "samples": samples,
        "top_growth_sites": top_sites,
        "types_grown": grew,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--bots", type=int, default=3)
    parser.add_argument("--settle", type=float, default=6.0)
    parser.add_argument("--frames", type=int, default=25, help="tracemalloc depth (0: off)")
    parser.add_argument("--trim", action="store_true")
    parser.add_argument(
        "--heap-trim-seconds", type=float, default=None, help="media.heap_trim_seconds (0: off)"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out")
    a = parser.parse_args()
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_patches()
    emit(asyncio.run(main(a)), a.out)
