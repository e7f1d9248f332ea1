"""Soak: one kiosk, 4 bots, periodic faults, resources sampled every 10 s.

    .venv/bin/python bench/reliability/soak.py --minutes 30 [--bots 4] [--fault-every 60]
                                               [--heap-trim-seconds 60]
                                               [--csv samples.csv] [--out result.json]

The dev server (``kiosk devserver --loopback``) and the bots (``kiosk bot --loopback``) are child
processes; the kiosk runs in this process with its REST and WebSocket through a TcpProxy.
Every ``--fault-every`` seconds the next fault of the cycle is injected: connection reset,
blackhole 5 s, slow link (300 ms, 20 kB/s for 15 s), dev server kill -9 + restart, blackhole 20 s.
Each sample: RSS, open fds, threads, asyncio tasks, live peer connections, call state and the
received fps of every remote stream. The result has per-fault counts and recovery times and the
slopes of each resource per hour (least squares over the samples after the first 2 minutes).
Everything stays on 127.0.0.1 and stops by itself after --minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import logging
import time
from typing import Any

from _setup import emit, start, workdir

from kiosk.app.kiosk import Kiosk
from kiosk.testing.reliability import (
    BotProc,
    DevServerProc,
    free_port,
    in_call_with_frames,
    kiosk_config,
    percentile_summary,
    resources,
    slope,
)
from kiosk.testing.scenarios import NetFault, inject, kiosk_running
from kiosk.testing.tcpproxy import TcpProxy
from kiosk.testing.waits import wait_until

log = logging.getLogger("soak")

CYCLE = ["reset", "blackhole 5 s", "slow link", "server kill -9", "blackhole 20 s"]


async def _server_kill(k: Kiosk, srv: DevServerProc, bots: int) -> tuple[float | None, int, int]:
    old = k.status()["connection_id"]
    joins, resumes = k.stats.joins, k.stats.resumes
    srv.kill9()
    await asyncio.sleep(0.5)
    srv.start()
    ready = await srv.wait_ready()
    try:
        await wait_until(
            lambda: in_call_with_frames(k, min_participants=bots, not_connection=old),
            90,
            "the kiosk back after a server crash",
        )
    except AssertionError:
        return None, k.stats.joins - joins, k.stats.resumes - resumes
    return time.monotonic() - ready, k.stats.joins - joins, k.stats.resumes - resumes


def _write_csv(path: str, samples: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(samples[0]))
        writer.writeheader()
        writer.writerows(samples)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    logs = workdir("soak")
    port = free_port()
    srv = DevServerProc(port, logs / "devserver.log")
    srv.start()
    await srv.wait_ready()
    proxy = TcpProxy(port)
    await proxy.start()
    bot = BotProc(srv.url, args.bots, logs / "bots.log")
    bot.start()
    k = Kiosk(
        kiosk_config(
            f"http://{proxy.address}",
            websocket_host=proxy.address,
            heap_trim_seconds=args.heap_trim_seconds,
        )
    )
    samples: list[dict[str, Any]] = []
    faults: dict[str, dict[str, Any]] = {
        name: {"injected": 0, "recovered": 0, "recover_s": [], "resumes": 0, "joins": 0}
        for name in CYCLE
    }
    t_start = time.monotonic()
    deadline = t_start + args.minutes * 60

    async def sampler() -> None:
        while True:
            await asyncio.sleep(args.sample_every)
            try:
                r = resources(collect=False)
                st = k.status()
            except Exception as exc:  # a probe problem must not end the soak
                log.warning("sample failed: %r", exc)
                continue
            samples.append(
                {
                    "t_s": round(time.monotonic() - t_start, 1),
                    "rss_mib": round(r.rss_kb / 1024, 1),
                    "fds": r.fds,
                    "threads": r.threads,
                    "tasks": r.tasks,
                    "pcs": r.peer_connections,
                    "state": st["state"],
                    "participants": len(st["participants"]),
                    "min_fps": min((p["fps"] for p in st["participants"]), default=0.0),
                    "heap_trims": k.heap.stats.trims,
                    "trim_released_mib": round(k.heap.stats.released_bytes / 2**20, 1),
                }
            )
            log.info("sample %s", samples[-1])

    try:
        async with kiosk_running(k):
            await wait_until(
                lambda: in_call_with_frames(k, min_participants=args.bots), 60, "the first call"
            )
            sampling = asyncio.create_task(sampler())
            i = 0
            while time.monotonic() + args.fault_every < deadline:
                await asyncio.sleep(args.fault_every)
                name = CYCLE[i % len(CYCLE)]
                i += 1
                entry = faults[name]
                entry["injected"] += 1
                if name == "server kill -9":
                    took, joins, resumes = await _server_kill(k, srv, args.bots)
                else:
                    fault = {
                        "reset": NetFault("reset"),
                        "blackhole 5 s": NetFault("blackhole", seconds=5.0),
                        "blackhole 20 s": NetFault("blackhole", seconds=20.0),
                        "slow link": NetFault(
                            "slow", seconds=15.0, latency=0.3, bytes_per_second=20_000
                        ),
                    }[name]
                    res = await inject(k, proxy, fault, bots=args.bots, recover_limit=90.0)
                    took, joins, resumes = res.recovered_after, res.joins, res.resumes
                entry["joins"] += joins
                entry["resumes"] += resumes
                if took is not None:
                    entry["recovered"] += 1
                    entry["recover_s"].append(took)
                log.warning(
                    "fault %s: recovered after %s s (joins +%d, resumes +%d)",
                    name,
                    None if took is None else round(took, 2),
                    joins,
                    resumes,
                )
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
    finally:
        await proxy.stop()
        bot.stop()
        srv.stop()

    if args.csv and samples:
        _write_csv(args.csv, samples)
    steady = [s for s in samples if s["t_s"] >= min(120.0, args.minutes * 60 / 3)] or samples
    per_hour = {
        key: round(3600 * slope([(s["t_s"], float(s[key])) for s in steady]), 2)
        for key in ("rss_mib", "fds", "threads", "tasks", "pcs")
    }
    return {
        "minutes": args.minutes,
        "bots": args.bots,
        "heap_trim_seconds": k.heap.schedule.interval_s,
        "heap_trims": k.heap.stats.trims,
        "heap_trim_released_mib": round(k.heap.stats.released_bytes / 2**20, 1),
        "samples": len(samples),
        "faults": {
            name: {
                **{k2: v for k2, v in e.items() if k2 != "recover_s"},
                "recover_s": percentile_summary(e["recover_s"]),
            }
            for name, e in faults.items()
        },
        "slopes_per_hour": per_hour,
        "rss_mib_first_last": [samples[0]["rss_mib"], samples[-1]["rss_mib"]] if samples else None,
        "samples_not_in_call": sum(1 for s in samples if s["state"] != "in_call"),
        "kiosk": {
            "joins": k.stats.joins,
            "resumes": k.stats.resumes,
            "reconnects": k.stats.reconnects,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--bots", type=int, default=4)
    parser.add_argument("--fault-every", type=float, default=60.0)
    parser.add_argument("--sample-every", type=float, default=10.0)
    parser.add_argument(
        "--heap-trim-seconds", type=float, default=None, help="media.heap_trim_seconds (0: off)"
    )
    parser.add_argument("--csv")
    parser.add_argument("--out")
    parser.add_argument("--log-level", default="WARNING")
    a = parser.parse_args()
    start(a.log_level, "soak")
    emit(asyncio.run(soak(a)), a.out)
