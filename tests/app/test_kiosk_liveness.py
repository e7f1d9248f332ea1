"""Liveness: WATCHDOG=1 needs the call loop too; an operation that crashes is a failure."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk, _CallBeat
from kiosk.app.sdnotify import SystemdNotifier
from kiosk.config import KioskConfig
from kiosk.errors import OperationFailed
from kiosk.testing.configs import loopback_kiosk_config
from kiosk.testing.waits import wait_until


def _config(auto_join: bool) -> KioskConfig:
    """No server answers (port 9); no camera, microphone or speaker."""
    return loopback_kiosk_config(
        "http://127.0.0.1:9",
        server={"timeout_seconds": 2},
        session={"auto_join": auto_join},
        display={"max_fps": 15},
        media={"camera": {"device": "none"}, "microphone": {"device": "none"}},
        status={"enabled": False},
    )


async def test_watchdog_stops_while_the_call_loop_is_stuck_though_the_screen_draws(
    tmp_path: Path,
) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.setblocking(False)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    kiosk = Kiosk(_config(auto_join=False), notifier=notifier)
    run = asyncio.create_task(kiosk.run())

    def pings() -> int:
        n = 0
        while True:
            try:
                n += sock.recv(4096) == b"WATCHDOG=1"
            except BlockingIOError:
                return n

    stuck = asyncio.Event()
    try:
        await wait_until(lambda: kiosk.ready.is_set(), 10, "screen up")
        await asyncio.sleep(2.5)
        assert pings() >= 1
        real_get = kiosk._events.get

        async def never() -> m.Event | _CallBeat:  # the call loop takes nothing more
            await stuck.wait()
            return await real_get()

        kiosk._events.get = never  # type: ignore[method-assign]
        assert kiosk.renderer is not None
        frames_before = kiosk.renderer.stats.draws
        await asyncio.sleep(7.0)  # LIVENESS_SECONDS (5) + ticks
        pings()  # those sent before the 5 s ran out
        await asyncio.sleep(3.0)
        assert pings() == 0, "WATCHDOG=1 went out while the call loop was stuck"
        assert kiosk.renderer.stats.draws > frames_before + 10  # the screen kept drawing
        assert kiosk.liveness.stale(kiosk.clock()) == ["call"]
        stuck.set()
        kiosk._events.get = real_get  # type: ignore[method-assign]
        await wait_until(lambda: pings() > 0, 5, "pings to come back")
    finally:
        stuck.set()
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0
        sock.close()


class _CrashingTokens:
    def __init__(self) -> None:
        self.calls = 0

    async def get_token(self) -> str:
        self.calls += 1
        raise TypeError("an old library version says hello")


async def test_an_operation_crashing_outside_the_error_tree_is_a_failure_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tokens = _CrashingTokens()
    kiosk = Kiosk(_config(auto_join=True), tokens=tokens)
    run = asyncio.create_task(kiosk.run())
    try:
        with caplog.at_level(logging.INFO):
            await wait_until(lambda: tokens.calls >= 2, 15, "a retry after the crash")
            assert isinstance(kiosk.machine.last_error, OperationFailed)
            assert "unexpected TypeError" in str(kiosk.machine.last_error)
            assert kiosk.machine.state == m.CallState.RECONNECTING
            await wait_until(lambda: tokens.calls >= 3, 15, "another retry")
        crashes = [r for r in caplog.records if "unexpected TypeError" in r.getMessage()]
        assert len(crashes) >= 2
        assert sum(1 for r in crashes if r.exc_info) == 1  # the traceback once, not per retry
    finally:
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0
