"""Benchmark: the kiosk on a Raspberry Pi's CPU budget, emulated with cgroup v1 quotas (not a test).

    sudo .venv/bin/python bench/pi_budget.py [--profiles pi4,pi5] [--counts 1,2,4,6,8,12,16]
                                             [--seconds 8] [--warmup 4] [--json out.json]
                                             [--factor pi4=0.25 --factor pi5=0.5]
                                             [--workers 0,3] [--decoding bounded,unbounded]

Only the kiosk process is capped; the dev server and the K bots run in their own processes,
unlimited (they stand for the OpenVidu server and the other participants, which are not on the
Pi). The roles are bench/vs_chromium.py's (``--role devserver|bots|kiosk``: light bots, one
shared 640x480@30 VP8 encoding; the kiosk on SDL's dummy display at 1280x720, marker-bit jitter
buffer, camera and microphone off).

A Pi has four cores, each ``factor`` times as fast as one core of this machine (see
docs/benchmarks.md for where the factors come from). The kiosk process gets a cgroup with
``cpu.cfs_quota_us`` = 4 × factor × period (the whole process) and every one of its threads a
child group of its own at 1 × factor (a thread cannot use more than one core); threads started
later (aiortc's decoder threads start with each stream) are moved every 0.2 s. The group's
``cpu.shares`` is large so that it gets its quota on a busy machine. Needs the cgroup
v1 ``cpu`` controller mounted at /sys/fs/cgroup/cpu and root.

``--workers 0,3`` runs each profile once per ``media.workers`` value, side by side. The media
worker processes are children of the kiosk: they share its group (the Pi's four cores) and each
of their threads gets its own one-core group like the kiosk's threads (so a worker's loop, like
the kiosk's, has at most one Pi core). ``--decoding bounded,unbounded`` runs each once with the
kiosk's bounded decode backlog (kiosk.media.decode_backlog, the default) and once with aiortc's
own unbounded decoder queue.

Per K and profile: received fps per stream (frames decoded), drawn fps per stream on screen
(tile redraws with a new frame), glass-to-glass latency (the test pattern's time stamp read off
the screen), the loop thread's CPU use against its one-core quota (headroom = the part of its
quota it left unused) and how often it was throttled, and the CPU of the kiosk and its workers
in Pi cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _common import fmt
from vs_chromium import Child, KioskReceiver, TreeUsage

CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000
CORES = 4
# Pi core = factor x one core of the bench machine (docs/benchmarks.md, "Pi budget").
DEFAULT_FACTORS = {"x86": 0.0, "pi4": 0.25, "pi5": 0.5}  # x86: no quota, the reference
TOTAL_BUDGET = 900.0  # seconds for the whole run
SHARES = 16 * 1024  # the kiosk's group weighs as much as 16 busy threads outside it
STAGE = ["start"]  # what the run is waiting for (named when a step times out)


def stage(name: str) -> None:
    STAGE[0] = name


def _write(path: Path, value: str) -> None:
    path.write_text(value)


@dataclass
class CpuBudget:
    """A cgroup for one process (4 x factor cores) with a child group per thread (1 x factor)."""

    pid: int
    factor: float
    root: Path = field(init=False)
    threads: dict[int, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = CGROUP_CPU / f"kiosk-pibudget-{self.pid}"

    def start(self) -> None:
        self.root.mkdir()
        _write(self.root / "cpu.cfs_period_us", str(PERIOD_US))
        quota = round(CORES * self.factor * PERIOD_US) if self.factor > 0 else -1
        _write(self.root / "cpu.cfs_quota_us", str(quota))
        # A group competes with each task outside it as one: without a large weight a loaded
        # machine would give the whole kiosk the share of one thread, far below its quota.
        _write(self.root / "cpu.shares", str(SHARES))
        _write(self.root / "cgroup.procs", str(self.pid))
        if self.factor > 0:
            self.place_threads()

    def _tids(self) -> list[int]:
        """Every thread of the kiosk and of its child processes (media workers)."""
        pids = [self.pid]
        with contextlib.suppress(psutil.Error):
            pids += [p.pid for p in psutil.Process(self.pid).children(recursive=True)]
        tids: list[int] = []
        for pid in pids:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                tids += [int(name) for name in os.listdir(f"/proc/{pid}/task")]
        return tids

    def place_threads(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            for tid in self._tids():
                if tid in self.threads:
                    continue
                group = self.root / f"t{tid}"
                group.mkdir(exist_ok=True)
                _write(group / "cpu.cfs_period_us", str(PERIOD_US))
                _write(group / "cpu.cfs_quota_us", str(round(self.factor * PERIOD_US)))
                try:
                    _write(group / "tasks", str(tid))
                except OSError:  # the thread ended meanwhile
                    group.rmdir()
                    continue
                self.threads[tid] = group

    def throttled(self, tid: int) -> tuple[int, int, float]:
        """(periods, throttled periods, throttled seconds) of one thread's group."""
        stat: dict[str, int] = {}
        if tid not in self.threads:
            return (0, 0, 0.0)
        with contextlib.suppress(OSError):
            for line in (self.threads[tid] / "cpu.stat").read_text().splitlines():
                key, value = line.split()
                stat[key] = int(value)
        return (
            stat.get("nr_periods", 0),
            stat.get("nr_throttled", 0),
            stat.get("throttled_time", 0) / 1e9,
        )

    def remove(self) -> None:
        for group in self.threads.values():
            with contextlib.suppress(OSError):
                group.rmdir()
        self.threads.clear()
        for _ in range(50):  # the process's threads leave the group when it has exited
            try:
                self.root.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


def thread_cpu(pid: int, tid: int) -> float:
    with contextlib.suppress(psutil.Error):
        for t in psutil.Process(pid).threads():
            if t.id == tid:
                return float(t.user_time + t.system_time)
    return 0.0


class BudgetKiosk(KioskReceiver):
    """vs_chromium's kiosk child, placed in a :class:`CpuBudget` right after it starts."""

    def __init__(
        self, server: str, session: str, factor: float, workers: int = 0, bounded: bool = True
    ) -> None:
        super().__init__(server, session, marker=True, workers=workers, bounded_decoding=bounded)
        self.factor = factor
        self.workers = workers
        self.bounded = bounded
        self.budget: CpuBudget | None = None
        self._mover: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._main0 = 0.0
        self._thr0 = (0, 0, 0.0)

    async def join(self) -> None:
        await self.child.start()
        # factor 0: the reference row, the same group weight but no quota (the whole machine)
        self.budget = CpuBudget(self.child.pid, self.factor)
        self.budget.start()
        if self.factor > 0:
            self._mover = asyncio.create_task(self._move())
        self.join_s = (await self.child.read(60)).get("join_seconds")

    async def _move(self) -> None:
        assert self.budget is not None
        while True:
            await asyncio.sleep(0.2)
            self.budget.place_threads()

    async def begin(self) -> None:
        await super().begin()
        self._t0 = time.monotonic()
        self._main0 = thread_cpu(self.child.pid, self.child.pid)
        if self.budget is not None:
            self._thr0 = self.budget.throttled(self.child.pid)

    async def end(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        main = (thread_cpu(self.child.pid, self.child.pid) - self._main0) / wall
        p1, n1, s1 = (
            self.budget.throttled(self.child.pid) if self.budget is not None else (0, 0, 0.0)
        )
        p0, n0, s0 = self._thr0
        out = await super().end()
        quota = self.factor if self.factor > 0 else 1.0  # cores (reference: one core here)
        out.update(
            factor=self.factor,
            loop_core_share=main / quota,  # 1.0 = the loop thread used its whole Pi core
            loop_headroom=max(0.0, 1.0 - main / quota),
            loop_throttled=(n1 - n0) / (p1 - p0) if p1 > p0 else 0.0,
            loop_throttled_s=s1 - s0,
            pi_cores=out["cpu_pct"] / 100.0 / quota,
            workers=self.workers,
            decoding="bounded" if self.bounded else "unbounded",
            threads=len(self.budget.threads) if self.budget is not None else 0,
        )
        return out

    async def stop(self) -> None:
        if self._mover is not None:
            self._mover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._mover
            self._mover = None
        await super().stop()
        if self.budget is not None:
            self.budget.remove()
            self.budget = None


async def run_k(
    k: int, profiles: dict[str, float], args: argparse.Namespace
) -> list[dict[str, Any]]:
    server = Child("devserver", "--marker")
    await server.start()
    bots: Child | None = None
    points: list[dict[str, Any]] = []
    try:
        stage("dev server")
        url = str((await server.read(30))["url"])
        session = f"PiBudget{k}"
        bots = Child("bots", "--server", url, "--session", session, "--count", str(k), "--light")
        await bots.start()
        stage(f"{k} bots joining")
        await bots.read(120)
        load = TreeUsage([server.pid, bots.pid])
        for name, factor, workers, decoding in [
            (n, f, w, d)
            for n, f in profiles.items()
            for w in args.worker_counts
            for d in args.decodings
        ]:
            stage(f"kiosk ({name}, workers {workers}, {decoding}) joining")
            kiosk = BudgetKiosk(url, session, factor, workers, bounded=decoding == "bounded")
            try:
                await kiosk.join()
                await asyncio.sleep(args.warmup)
                stage(f"kiosk ({name}, workers {workers}, {decoding}) measuring")
                await kiosk.begin()
                load.begin()
                psutil.cpu_percent(None)
                await asyncio.sleep(args.seconds)
                machine = psutil.cpu_percent(None)
                others = load.end()
                result = await kiosk.end()
            finally:
                await kiosk.stop()
            result.update(
                k=k,
                profile=name,
                machine_cpu_pct=machine,
                loadavg=os.getloadavg()[0],
                server_bots_cpu_pct=others["cpu_pct"],
            )
            points.append(result)
            print(table(points[-1:]), flush=True)
        return points
    finally:
        if bots is not None:
            await bots.stop()
        await server.stop()


def _rates(values: dict[str, float]) -> tuple[float, float, int]:
    rates = list(values.values())
    if not rates:
        return (0.0, 0.0, 0)
    return (min(rates), sum(rates) / len(rates), sum(1 for r in rates if r >= 29.0))


def table(points: Sequence[dict[str, Any]]) -> str:
    rows = [
        "| profile | K | workers | decoding | received fps min/mean (≥29) |"
        " drawn fps min/mean (≥29 of shown) |"
        " latency med / p95 ms | loop thread: share of its core / throttled periods |"
        " kiosk CPU, Pi cores (of 4) | machine CPU % (load) | server+bots % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        rmin, rmean, rok = _rates(p["received_fps"])
        dmin, dmean, dok = _rates(p["displayed_fps"])
        rows.append(
            f"| {p['profile']} ({p['factor'] or 'no quota'}) | {p['k']} | {p.get('workers', 0)}"
            f" | {p.get('decoding', 'bounded')}"
            f" | {fmt(rmin)}/{fmt(rmean)} ({rok}/{len(p['received_fps'])})"
            f" | {fmt(dmin)}/{fmt(dmean)} ({dok}/{len(p['displayed_fps'])})"
            f" | {fmt(p['lat_median'], 0)} / {fmt(p['lat_p95'], 0)}"
            f" | {p['loop_core_share'] * 100:.0f} % / {p['loop_throttled'] * 100:.0f} %"
            f" | {p['pi_cores']:.2f}"
            f" | {fmt(p['machine_cpu_pct'], 0)} ({fmt(p['loadavg'])})"
            f" | {fmt(p['server_bots_cpu_pct'], 0)} |"
        )
    return "\n".join(rows)


def remove_stale_groups() -> list[str]:
    """Remove the groups of earlier runs whose kiosk process is gone (a run killed by a signal
    it could not handle, SIGKILL, leaves them); returns their names."""
    removed: list[str] = []
    for group in CGROUP_CPU.glob("kiosk-pibudget-*"):
        pid = group.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or psutil.pid_exists(int(pid)):
            continue
        with contextlib.suppress(OSError):
            for child in group.iterdir():
                if child.is_dir():
                    child.rmdir()
            group.rmdir()
            removed.append(group.name)
    return removed


def check_cgroup() -> str | None:
    if not (CGROUP_CPU / "cpu.cfs_quota_us").is_file():
        return f"needs the cgroup v1 cpu controller at {CGROUP_CPU} (mount | grep cgroup)"
    if not os.access(CGROUP_CPU, os.W_OK):
        return f"needs write access to {CGROUP_CPU} (run as root)"
    return None


async def orchestrate(args: argparse.Namespace) -> int:
    problem = check_cgroup()
    if problem:
        print(f"bench: {problem}")
        return 2
    for name in remove_stale_groups():
        print(f"bench: removed {CGROUP_CPU / name} (left by an earlier run)")
    # SIGTERM / SIGHUP end the run the way Ctrl-C does: the kiosks stop, their groups go.
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if task is not None:
            loop.add_signal_handler(sig, task.cancel)
    factors = dict(DEFAULT_FACTORS)
    for item in args.factor:
        name, _, value = item.partition("=")
        factors[name] = float(value)
    profiles = {name: factors[name] for name in args.profiles.split(",")}
    counts = [int(x) for x in args.counts.split(",")]
    points: list[dict[str, Any]] = []
    started = time.monotonic()
    for k in counts:
        left = TOTAL_BUDGET - (time.monotonic() - started)
        if left < 40:
            print(f"bench: out of time ({TOTAL_BUDGET:.0f} s budget): K={k} skipped")
            continue
        print(f"bench: K={k} …", flush=True)
        try:
            points += await asyncio.wait_for(run_k(k, profiles, args), min(300, left))
        except (TimeoutError, RuntimeError, OSError) as exc:
            print(f"bench: K={k} failed at {STAGE[0]}: {type(exc).__name__}: {exc}", flush=True)
        except asyncio.CancelledError:
            break
    points.sort(
        key=lambda p: (p["profile"], p["k"], p.get("workers", 0), p.get("decoding", "bounded"))
    )
    print(f"\n{table(points)}\n\nbench took {time.monotonic() - started:.0f} s")
    if args.json:
        write_json(args.json, points)
    return 0


def write_json(path: str, points: list[dict[str, Any]]) -> None:
    Path(path).write_text(json.dumps(points, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="x86,pi4,pi5")
    parser.add_argument("--counts", default="1,2,4,6,8,12,16")
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds after the join")
    parser.add_argument(
        "--factor", action="append", default=[], help="NAME=F: a Pi core is F of one core here"
    )
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument(
        "--workers", default="0", help="media.workers values to compare, e.g. 0,3 (default 0)"
    )
    parser.add_argument(
        "--decoding",
        default="bounded",
        help="decode backlog: bounded, unbounded (aiortc's own queue) or both, side by side",
    )
    args = parser.parse_args(argv)
    args.worker_counts = [int(x) for x in args.workers.split(",")]
    args.decodings = [d for d in args.decoding.split(",") if d]
    if not set(args.decodings) <= {"bounded", "unbounded"}:
        parser.error("--decoding: bounded, unbounded or both (bounded,unbounded)")
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
