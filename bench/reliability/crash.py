"""Bench: kill -9 the dev server mid-call N times (default 20); recovery time median/max.

    .venv/bin/python bench/reliability/crash.py [--cycles 20] [--bots 2] [--out result.json]

The dev server and the bots run as child processes (``kiosk devserver --loopback``,
``kiosk bot --loopback``), the kiosk in this process. Recovery time is measured from the
restarted server answering REST to the kiosk showing frames of every bot on a new connection.
By default the call runs 32 s between crashes (the kiosk resets its retry backoff after a call
was stable for 30 s); ``--settle 0`` crashes back to back and shows the backoff growing.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _setup import emit, start, workdir

from kiosk.testing.scenarios import server_crash


async def main(args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    out = await server_crash(
        args.cycles,
        workdir("crash"),
        bots=args.bots,
        down_s=args.down,
        settle_s=args.settle,
        recover_limit=args.limit,
    )
    result = out.summary()
    result["wall_s"] = round(time.monotonic() - t0, 1)
    result["recover_all_s"] = [round(v, 2) for v in out.recover_s]
    emit(result, args.out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--bots", type=int, default=2)
    parser.add_argument("--down", type=float, default=0.5, help="seconds the server stays dead")
    parser.add_argument(
        "--settle",
        type=float,
        default=32.0,
        help="seconds in the call before the next crash (0: back to back)",
    )
    parser.add_argument("--limit", type=float, default=120.0, help="give up on a cycle after S s")
    parser.add_argument("--out")
    parser.add_argument("--log-level", default="WARNING")
    a = parser.parse_args()
    start(a.log_level)
    asyncio.run(main(a))
