"""Bench: signaling faults through the TCP proxy, each repeated N times.

    .venv/bin/python bench/reliability/netfaults.py [--repeat 3] [--long] [--out result.json]

Faults: connection reset, blackhole 5 s and 20 s (60 s with --long), slow link (300 ms each way,
20 kB/s) and a very slow link (3 s each way: longer than the ping timeout). For each: detection
time (ping timeout or socket error), recovery time (end of fault → in call with frames), and
whether the kiosk resumed (`connect`) or joined anew.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import Any

from _setup import emit, install_patches, workdir

from kiosk.testing.reliability import percentile_summary
from kiosk.testing.scenarios import NetFault, inject, proxied_call


async def main(args: argparse.Namespace) -> None:
    workdir("netfaults")
    faults = [
        NetFault("reset"),
        NetFault("blackhole", seconds=5.0),
        NetFault("blackhole", seconds=20.0),
        NetFault("slow", seconds=15.0, latency=0.3, bytes_per_second=20_000),
        NetFault("slow", seconds=20.0, latency=3.0),
    ]
    if args.long:
        faults.append(NetFault("blackhole", seconds=60.0))
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    async with proxied_call(bots=args.bots) as (k, proxy, _srv):
        for fault in faults:
            results = []
            for _ in range(args.repeat):
                results.append(await inject(k, proxy, fault, bots=args.bots, recover_limit=90.0))
                await asyncio.sleep(2.0)
            rows.append(
                {
                    "fault": fault.label,
                    "injected": len(results),
                    "detected": sum(r.detected_after is not None for r in results),
                    "recovered": sum(r.recovered_after is not None for r in results),
                    "detect_s": percentile_summary(
                        [r.detected_after for r in results if r.detected_after is not None]
                    ),
                    "recover_s": percentile_summary(
                        [r.recovered_after for r in results if r.recovered_after is not None]
                    ),
                    "resumes": sum(r.resumes for r in results),
                    "joins": sum(r.joins for r in results),
                    "frames_kept_flowing": sum(r.frames_kept_flowing for r in results),
                }
            )
            print(rows[-1], flush=True)
    emit({"wall_s": round(time.monotonic() - t0, 1), "faults": rows}, args.out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bots", type=int, default=2)
    parser.add_argument("--long", action="store_true", help="add the 60 s blackhole")
    parser.add_argument("--out")
    parser.add_argument("--log-level", default="WARNING")
    a = parser.parse_args()
    logging.basicConfig(level=a.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_patches()
    asyncio.run(main(a))
