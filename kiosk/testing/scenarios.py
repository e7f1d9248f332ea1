"""Reliability scenarios shared by the quick tests (few cycles) and the benches (many cycles).

Each scenario returns a :class:`Outcome`: how many faults were injected, how many recovered,
and the measured times; the tests assert on it, the benches print it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.app.kiosk import Kiosk
from kiosk.app.machine import CallState
from kiosk.devserver.server import DevServer
from kiosk.testing.reliability import (
    REPO,
    BotProc,
    DevServerProc,
    Resources,
    free_port,
    in_call_with_frames,
    kiosk_config,
    percentile_summary,
    remote_frames,
    resources,
    run_kiosk,
    stop_kiosk,
)
from kiosk.testing.reliability import _env as _child_env
from kiosk.testing.rooms import loopback_room
from kiosk.testing.tcpproxy import TcpProxy
from kiosk.testing.waits import wait_until

log = logging.getLogger("reliability")


@dataclass
class Outcome:
    fault: str
    injected: int = 0
    recovered: int = 0
    detect_s: list[float] = field(default_factory=list)
    recover_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "injected": self.injected,
            "recovered": self.recovered,
            "detect_s": percentile_summary(self.detect_s),
            "recover_s": percentile_summary(self.recover_s),
            "failures": self.failures,
            **self.extra,
        }


@contextlib.asynccontextmanager
async def kiosk_running(k: Kiosk) -> AsyncIterator[asyncio.Task[int]]:
    task = await run_kiosk(k)
    try:
        yield task
    finally:
        await stop_kiosk(k, task)


@contextlib.asynccontextmanager
async def dev_server_with_bots(
    workdir: Path, bots: int = 1, *, bot_name: str | None = None
) -> AsyncIterator[DevServerProc]:
    """A dev server on a free port and ``bots`` publishing bots, both child processes logging
    into ``workdir``; both stopped on exit."""
    srv = DevServerProc(free_port(), workdir / "devserver.log")
    srv.start()
    await srv.wait_ready()
    bot = BotProc(srv.url, bots, workdir / "bots.log", name=bot_name)
    bot.start()
    try:
        yield srv
    finally:
        bot.stop()
        srv.stop()


async def _first_call(k: Kiosk, participants: int = 1) -> None:
    await wait_until(
        lambda: in_call_with_frames(k, min_participants=participants), 40, "the first call"
    )


async def server_crash(
    cycles: int,
    workdir: Path,
    *,
    bots: int = 1,
    down_s: float = 0.5,
    recover_limit: float = 60.0,
    settle_s: float = 0.0,
) -> Outcome:
    """kill -9 the dev server mid-call, restart it on the same port; the kiosk must come back.

    recover_s: from the restarted server answering REST to the kiosk showing frames from the
    (rejoined) bots on a new connection. ``settle_s``: stay in the call this long before the
    next crash (the kiosk resets its retry backoff only after a call was stable for 30 s).
    """
    out = Outcome("server kill -9 + restart")
    async with dev_server_with_bots(workdir, bots) as srv:
        k = Kiosk(kiosk_config(srv.url))
        async with kiosk_running(k):
            await _first_call(k, bots)
            for i in range(cycles):
                old = k.status()["connection_id"]
                joins_before = k.stats.joins
                t_kill = time.monotonic()
                srv.kill9()
                out.injected += 1
                try:
                    out.detect_s.append(
                        await wait_until(
                            lambda: k.machine.state != CallState.IN_CALL, 20, "the kiosk to notice"
                        )
                    )
                except AssertionError as exc:
                    out.failures.append(f"cycle {i}: {exc}")
                await asyncio.sleep(max(0.0, down_s - (time.monotonic() - t_kill)))
                srv.start()
                t_ready = await srv.wait_ready()

                def rejoined(old: str | None = old) -> bool:
                    return in_call_with_frames(k, min_participants=bots, not_connection=old)

                try:
                    await wait_until(
                        rejoined, recover_limit, "the kiosk back in the call with frames"
                    )
                except AssertionError as exc:
                    out.failures.append(f"cycle {i}: {exc}; status={k.status()['state']}")
                    continue
                out.recover_s.append(time.monotonic() - t_ready)
                out.recovered += 1
                if settle_s and i < cycles - 1:
                    await asyncio.sleep(settle_s)
                log.info(
                    "crash cycle %d: back after %.2f s (joins %d → %d)",
                    i,
                    out.recover_s[-1],
                    joins_before,
                    k.stats.joins,
                )
            out.extra["joins"] = k.stats.joins
            out.extra["resumes"] = k.stats.resumes
            out.extra["loop_stalls"] = k.stalls.stalls
            out.extra["loop_stall_longest_s"] = round(k.stalls.longest_s, 2)
            out.extra["loop_stall_total_s"] = round(k.stalls.tracker.total_s, 2)
    return out


@dataclass(frozen=True)
class NetFault:
    """One fault on the signaling path: ``reset``, ``blackhole`` (``seconds``) or ``slow``."""

    kind: str
    seconds: float = 0.0
    latency: float = 0.0
    bytes_per_second: float | None = None

    @property
    def label(self) -> str:
        if self.kind == "blackhole":
            return f"blackhole {self.seconds:g} s"
        if self.kind == "slow":
            rate = f", {self.bytes_per_second / 1000:g} kB/s" if self.bytes_per_second else ""
            return f"slow link {self.latency * 1000:g} ms{rate} for {self.seconds:g} s"
        return "connection reset"


@dataclass
class FaultResult:
    fault: NetFault
    detected_after: float | None  # injection → the kiosk's signaling loss (None: never noticed)
    recovered_after: float | None  # end of the fault → in call again, every stream with frames
    joins: int  # new joins this fault caused
    resumes: int  # successful `connect` resumes this fault caused
    frames_kept_flowing: bool


@contextlib.asynccontextmanager
async def proxied_call(bots: int = 1) -> AsyncIterator[tuple[Kiosk, TcpProxy, DevServer]]:
    """Dev server + in-process bots straight to it + kiosk whose REST and WebSocket go through a
    TcpProxy. The caller has installed the loopback ICE seam."""
    async with loopback_room(bots, retry_seconds=1.0) as room:
        port = int(room.url.rsplit(":", 1)[1])
        proxy = TcpProxy(port)
        await proxy.start()
        k = Kiosk(kiosk_config(f"http://{proxy.address}", websocket_host=proxy.address))
        try:
            async with kiosk_running(k):
                await wait_until(
                    lambda: in_call_with_frames(k, min_participants=bots), 30, "the first call"
                )
                yield k, proxy, room.server
        finally:
            await proxy.stop()


async def inject(
    k: Kiosk, proxy: TcpProxy, fault: NetFault, *, bots: int = 1, recover_limit: float = 60.0
) -> FaultResult:
    """Inject one fault into a running proxied call and measure detection and recovery."""
    joins0, resumes0, lost0 = k.stats.joins, k.stats.resumes, k.stats.reconnects
    t0 = time.monotonic()
    detected: float | None = None
    dropped_frames = False

    async def watch(until: float) -> None:
        nonlocal detected, dropped_frames
        last = remote_frames(k)
        next_check = time.monotonic() + 2.0
        while time.monotonic() < until:
            if detected is None and k.stats.reconnects > lost0:
                detected = time.monotonic() - t0
            now = time.monotonic()
            if now >= next_check:  # media runs over UDP: it should not notice signaling trouble
                cur = remote_frames(k)
                # Every stream of the same call must have advanced in the last 2 s.
                if (
                    k.machine.state == CallState.IN_CALL
                    and set(cur) == set(last)
                    and not all(cur[c] > n for c, n in last.items())
                ):
                    dropped_frames = True
                last, next_check = cur, now + 2.0
            await asyncio.sleep(0.05)

    if fault.kind == "reset":
        proxy.reset()
        fault_end = t0
    elif fault.kind == "blackhole":
        proxy.blackhole(fault.seconds)
        await watch(t0 + fault.seconds)
        fault_end = time.monotonic()
    elif fault.kind == "slow":
        proxy.slow(fault.latency, fault.bytes_per_second)
        await watch(t0 + fault.seconds)
        proxy.heal()
        fault_end = time.monotonic()
    else:
        raise ValueError(f"unknown fault {fault.kind!r}")

    def back() -> bool:
        nonlocal detected
        if detected is None and k.stats.reconnects > lost0:
            detected = time.monotonic() - t0
        client = k.client
        signaling = client.signaling if client is not None else None
        return (
            signaling is not None
            and signaling.connected
            and in_call_with_frames(k, min_participants=bots)
        )

    recovered: float | None
    try:
        await asyncio.sleep(0.2)  # let a reset surface before asking whether all is well
        await wait_until(back, recover_limit, f"recovery from {fault.label}")
        recovered = time.monotonic() - fault_end
    except AssertionError:
        recovered = None
    # Frames must really be moving again, not just counted before.
    before = remote_frames(k)
    with contextlib.suppress(AssertionError):
        await wait_until(
            lambda: in_call_with_frames(k, min_participants=bots, baseline=before),
            10,
            "frames after recovery",
        )
    return FaultResult(
        fault,
        detected,
        recovered,
        k.stats.joins - joins0,
        k.stats.resumes - resumes0,
        not dropped_frames,
    )


class ChurnDriver:
    """The kiosk.testing.churn_driver child: one bot joins/leaves on command (outside the
    measured process)."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log_file = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kiosk.testing.churn_driver",
            self.url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            cwd=REPO,
            env=_child_env(),
        )
        log_file.close()

    async def _command(self, line: str, expect: str) -> str:
        assert (
            self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        )
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        async with asyncio.timeout(30):
            while True:
                out = (await self.proc.stdout.readline()).decode().strip()
                if not out and self.proc.stdout.at_eof():
                    raise AssertionError(f"churn driver exited; see {self.log_path}")
                if out.startswith(expect):
                    return out

    async def join(self) -> str:
        return (await self._command("join", "JOINED")).split()[1]

    async def leave(self) -> None:
        await self._command("leave", "LEFT")

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def churn(cycles: int, workdir: Path, *, sample_every: int = 5) -> Outcome:
    """A bot joins and leaves ``cycles`` times against one kiosk; the kiosk must show it each time
    and its resources must not grow. Dev server and bot run in child processes."""
    out = Outcome("participant churn (bot joins + leaves)")
    samples: list[tuple[int, Resources]] = []
    async with dev_server_with_bots(workdir, 1, bot_name="Steady") as srv:
        driver = ChurnDriver(srv.url, workdir / "churn.log")
        await driver.start()
        k = Kiosk(kiosk_config(srv.url))
        try:
            async with kiosk_running(k):
                await _first_call(k)
                for i in range(cycles):
                    out.injected += 1
                    t0 = time.monotonic()
                    cid = await driver.join()

                    def shown(c: str = cid) -> bool:
                        return remote_frames(k).get(c, 0) > 0

                    def gone(c: str = cid) -> bool:
                        return c not in remote_frames(k)

                    try:
                        await wait_until(shown, 20, f"frames from {cid}")
                        await driver.leave()
                        await wait_until(gone, 20, f"{cid} gone from the screen")
                    except AssertionError as exc:
                        out.failures.append(f"cycle {i}: {exc}")
                        with contextlib.suppress(AssertionError, TimeoutError):
                            await driver.leave()
                        continue
                    out.recovered += 1
                    out.recover_s.append(time.monotonic() - t0)
                    if i % sample_every == 0 or i == cycles - 1:
                        await asyncio.sleep(0.3)  # let closed peer connections finish their tasks
                        samples.append((i, resources()))
                        log.info("churn %d: %s", i, samples[-1][1].row())
                out.extra["samples"] = samples
                out.extra["joins"] = k.stats.joins
                out.extra["reconnects"] = k.stats.reconnects
        finally:
            await driver.stop()
    return out


async def rejoin_cycles(cycles: int, workdir: Path) -> Outcome:
    """The kiosk itself leaves and joins again ``cycles`` times (the join/leave button)."""
    from kiosk.controls.actions import Action

    out = Outcome("kiosk leave + join (button)")
    samples: list[tuple[int, Resources]] = []
    async with dev_server_with_bots(workdir) as srv:
        k = Kiosk(kiosk_config(srv.url))
        async with kiosk_running(k):
            await _first_call(k)
            await asyncio.sleep(0.3)
            samples.append((-1, resources()))
            for i in range(cycles):
                out.injected += 1
                t0 = time.monotonic()
                old = k.status()["connection_id"]
                try:
                    k.on_action(Action.JOIN_LEAVE)
                    await wait_until(
                        lambda: k.machine.state == CallState.IDLE, 10, "the kiosk idle"
                    )
                    k.on_action(Action.JOIN_LEAVE)

                    def back(old: str | None = old) -> bool:
                        return in_call_with_frames(k, not_connection=old)

                    await wait_until(back, 20, "the kiosk back in the call with frames")
                except AssertionError as exc:
                    out.failures.append(f"cycle {i}: {exc}")
                    continue
                out.recovered += 1
                out.recover_s.append(time.monotonic() - t0)
            k.on_action(Action.JOIN_LEAVE)
            await wait_until(lambda: k.machine.state == CallState.IDLE, 10, "idle")
            await asyncio.sleep(1.0)
            samples.append((cycles, resources()))
            out.extra["samples"] = samples
            out.extra["joins"] = k.stats.joins
    return out


__all__ = [
    "ChurnDriver",
    "FaultResult",
    "NetFault",
    "Outcome",
    "churn",
    "dev_server_with_bots",
    "inject",
    "kiosk_running",
    "proxied_call",
    "rejoin_cycles",
    "remote_frames",
    "server_crash",
]
