"""Bench: N participant join/leave cycles (default 1000) against one kiosk; resource slopes.

    .venv/bin/python bench/reliability/churn.py [--cycles 1000] [--rejoins 100] [--out r.json]

Dev server and bots are child processes, so RSS, fds, threads, asyncio tasks and live peer
connections are the kiosk's alone. Slopes are per 100 cycles (least squares over the samples
after the first). ``--rejoins`` then makes the kiosk itself leave and join again that many times.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _setup import emit, start, workdir

from kiosk.testing.reliability import Resources, slope
from kiosk.testing.scenarios import Outcome, churn, rejoin_cycles


def _slopes(samples: list[tuple[int, Resources]]) -> dict[str, float]:
    pts = samples[1:] if len(samples) > 2 else samples
    return {
        "rss_kib_per_100": round(100 * slope([(i, r.rss_kb) for i, r in pts]), 1),
        "fds_per_100": round(100 * slope([(i, r.fds) for i, r in pts]), 3),
        "threads_per_100": round(100 * slope([(i, r.threads) for i, r in pts]), 3),
        "tasks_per_100": round(100 * slope([(i, r.tasks) for i, r in pts]), 3),
        "pcs_per_100": round(100 * slope([(i, r.peer_connections) for i, r in pts]), 3),
    }


def _report(out: Outcome) -> dict[str, Any]:
    samples: list[tuple[int, Resources]] = out.extra.pop("samples")
    result = out.summary()
    result["slopes"] = _slopes(samples)
    result["first"] = samples[0][1].row() if samples else None
    result["last"] = samples[-1][1].row() if samples else None
    return result


async def main(args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "churn": _report(
            await churn(args.cycles, workdir("churn"), sample_every=max(1, args.cycles // 50))
        )
    }
    if args.rejoins:
        results["rejoins"] = _report(await rejoin_cycles(args.rejoins, workdir("rejoin")))
    results["wall_s"] = round(time.monotonic() - t0, 1)
    emit(results, args.out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--rejoins", type=int, default=100)
    parser.add_argument("--out")
    parser.add_argument("--log-level", default="WARNING")
    a = parser.parse_args()
    start(a.log_level)
    asyncio.run(main(a))
