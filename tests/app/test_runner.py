"""The appliance end to end: real dev server, real bots, the kiosk drawing on the dummy display."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pygame
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.app.sdnotify import SystemdNotifier
from kiosk.config import KioskConfig
from kiosk.devserver.media import AiortcMediaBackend
from kiosk.devserver.server import DevServer, DevServerOptions
from kiosk.media import ice
from kiosk.media.testpattern import read_timestamp
from kiosk.openvidu.session_model import display_name_from_metadata
from kiosk.testing.configs import SECRET, loopback_kiosk_config
from kiosk.testing.rooms import Room, loopback_room
from kiosk.testing.waits import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("loopback_ice")]
LOOPBACK = ice.IceSettings.loopback()


def _config(url: str, *, secret: str = SECRET, **sections: Mapping[str, Any]) -> KioskConfig:
    """The runner tests' kiosk: 960x540 at 30 fps, a 3 s server timeout, loopback media."""
    return loopback_kiosk_config(
        url,
        secret=secret,
        server={"timeout_seconds": 3, **sections.pop("server", {})},
        display={"size": "960x540", "max_fps": 30, **sections.pop("display", {})},
        **sections,
    )


@pytest.fixture()
async def room() -> AsyncIterator[Room]:
    async with loopback_room(2) as room:
        yield room


def _active_names(server: DevServer) -> set[str]:
    names: set[str] = set()
    for session in server.state.sessions.values():
        for conn in session.connections.values():
            if conn.status == "active":
                names.add(display_name_from_metadata(conn.client_data or ""))
    return names


async def test_boots_into_the_call_draws_every_participant_and_leaves_cleanly(room: Room) -> None:
    # display.strip is honoured (a 16:9 screen would put the strip at the bottom by itself)
    kiosk = Kiosk(_config(room.server.url, display={"strip": "side"}))
    run = asyncio.create_task(kiosk.run())
    try:
        await wait_until(lambda: kiosk.machine.state == m.CallState.IN_CALL, 20, "in call")
        await wait_until(
            lambda: (
                kiosk.media is not None
                and len(kiosk.media.frames) == 2
                and all(f.frame_count > 10 for f in kiosk.media.frames.values())
            ),
            20,
            "frames from both bots",
        )
        assert kiosk.stats.first_remote_frame_at is not None
        # What the room sees: the main view shows a live test pattern whose timestamp is readable
        # off the screen, and the thumbnails carry the names.
        png = await kiosk.screenshot()
        assert png is not None
        image = pygame.surfarray.array3d(pygame.image.load(io.BytesIO(png))).swapaxes(0, 1)
        layout = kiosk.renderer.layout if kiosk.renderer else None
        assert layout is not None
        assert layout.placement == "side"
        x, y, w, h = layout.main.x, layout.main.y, layout.main.w, layout.main.h
        main = image[y : y + h, x : x + w]
        cols = np.nonzero(main.max(axis=(0, 2)) > 40)[0]  # the video inside the letterbox
        stamp = read_timestamp(main[:, cols[0] : cols[-1] + 1])
        assert stamp is not None, "timestamp unreadable on the main view"
        latency = (int(time.time() * 1000) - stamp) % (1 << 24)
        assert latency < 5000
        # The admin's view over HTTP: names, frames, no secret, no token.
        async with httpx.AsyncClient(base_url=kiosk.status_server.url, timeout=5) as http:  # type: ignore[union-attr]
            status = (await http.get("/status")).json()
            text = (await http.get("/status")).text + (await http.get("/metrics")).text
        assert status["state"] == "in_call"
        assert sorted(p["name"] for p in status["participants"]) == ["Alice", "Bob"]
        assert all(p["frames_received"] > 0 for p in status["participants"])
        assert "MY_SECRET" not in text and "tok_" not in text
        assert "Lobby kiosk" in _active_names(room.server)
    finally:
        kiosk.post(m.Shutdown())
        started = time.monotonic()
        code = await asyncio.wait_for(run, 10)
    assert code == 0
    assert time.monotonic() - started < 5.0
    # It left with leaveRoom: gone from the server at once, not evicted later.
    assert "Lobby kiosk" not in _active_names(room.server)


async def test_buttons_join_mute_next_and_hold_to_rejoin(room: Room) -> None:
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        cfg = _config(
            room.server.url,
            session={"auto_join": False},
            buttons={
                "join_leave": {"pin": 17, "bounce_time": 0.01, "hold_seconds": 0.6},
                "next": {"pin": 27, "bounce_time": 0.01},
                "mute_mic": {"pin": 22, "bounce_time": 0.01},
            },
            leds={"call": {"pin": 5}, "muted": {"pin": 6}},
        )
        kiosk = Kiosk(cfg)
        run = asyncio.create_task(kiosk.run())
        try:
            await wait_until(lambda: kiosk.ready.is_set(), 10, "screen up")
            await asyncio.sleep(0.3)
            assert kiosk.machine.state == m.CallState.IDLE
            call_led, muted_led = factory.pin(5), factory.pin(6)
            assert call_led.state == 0

            def press(pin: int, hold: float = 0.05) -> Callable[[], None]:
                def go() -> None:
                    factory.pin(pin).drive_low()
                    time.sleep(hold)
                    factory.pin(pin).drive_high()

                return go

            await asyncio.to_thread(press(17))
            await wait_until(
                lambda: kiosk.machine.state == m.CallState.IN_CALL, 20, "joined by button"
            )
            await asyncio.sleep(0.2)
            assert call_led.state == 1  # steady in a call
            await wait_until(
                lambda: kiosk.media is not None and len(kiosk.media.frames) == 2,
                10,
                "two remote streams",
            )

            await asyncio.to_thread(press(22))
            await wait_until(lambda: muted_led.state == 1, 5, "muted LED on")
            assert kiosk.media is not None and kiosk.media.muted("audio")

            before = kiosk.main_id
            await asyncio.to_thread(press(27))
            await wait_until(lambda: kiosk.main_id != before, 5, "main view changed")

            joins = kiosk.stats.joins
            await asyncio.to_thread(press(17, hold=1.0))
            await wait_until(
                lambda: (
                    kiosk.stats.joins == joins + 1 and kiosk.machine.state == m.CallState.IN_CALL
                ),
                20,
                "rejoined by hold",
            )
        finally:
            kiosk.post(m.Shutdown())
            assert await asyncio.wait_for(run, 10) == 0
    finally:
        Device.pin_factory = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_server_is_retried_with_backoff_and_joined_when_it_comes_up() -> None:
    port = _free_port()
    kiosk = Kiosk(_config(f"http://127.0.0.1:{port}"))
    run = asyncio.create_task(kiosk.run())
    server: DevServer | None = None
    try:
        await wait_until(
            lambda: "unreachable" in kiosk.machine.status_line_at(time.monotonic()),
            10,
            "an 'unreachable' status line",
        )
        line = kiosk.room_view().status_line
        assert f"127.0.0.1:{port}" in line and "MY_SECRET" not in line
        server = DevServer(
            DevServerOptions(port=port, tls=False), media=AiortcMediaBackend(LOOPBACK)
        )
        await server.start()
        await wait_until(
            lambda: kiosk.machine.state == m.CallState.IN_CALL, 40, "in call by itself"
        )
    finally:
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0
        if server is not None:
            await server.stop()


async def test_a_server_that_comes_back_is_rejoined_at_once_not_after_the_backoff() -> None:
    """Measured before: after quick restarts the room stayed dark for the rest of a growing
    backoff (23 s). Now an unreachable server's port is tried during the wait."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    kiosk = Kiosk(_config(url))
    # A backoff far longer than the test may wait: only the probe can bring the kiosk back.
    kiosk.machine = m.CallMachine(
        m.MachineConfig(server=url, short_initial_s=30.0, short_cap_s=60.0)
    )
    run = asyncio.create_task(kiosk.run())
    server: DevServer | None = None
    try:
        await wait_until(lambda: kiosk.machine.retry_pending, 10, "a retry scheduled")
        server = DevServer(
            DevServerOptions(port=port, tls=False), media=AiortcMediaBackend(LOOPBACK)
        )
        await server.start()
        up = time.monotonic()
        await wait_until(lambda: kiosk.machine.state == m.CallState.IN_CALL, 10, "back in the call")
        print(f"server up → in call {time.monotonic() - up:.2f} s (backoff was 30 s)")
    finally:
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0
        if server is not None:
            await server.stop()


async def test_wrong_secret_is_an_error_on_screen_not_a_tight_loop(room: Room) -> None:
    kiosk = Kiosk(_config(room.server.url, secret="WRONG_SECRET"))
    attempts = 0
    real = kiosk.tokens.get_token

    async def counting() -> str:
        nonlocal attempts
        attempts += 1
        return await real()

    kiosk.tokens.get_token = counting  # type: ignore[method-assign]
    commands: list[m.Command] = []
    handle = kiosk.machine.handle

    def recording(event: m.Event, now: float) -> list[m.Command]:
        out = handle(event, now)
        commands.extend(out)
        return out

    kiosk.machine.handle = recording  # type: ignore[method-assign]
    run = asyncio.create_task(kiosk.run())
    try:
        await wait_until(lambda: kiosk.machine.state == m.CallState.ERROR, 10, "error state")
        view = kiosk.room_view()
        assert view.state == "error"
        assert "secret" in view.status_line.lower() and "WRONG_SECRET" not in view.status_line
        # The next try is a long backoff away (60 s ± 20 %), not seconds: no tight loop.
        retries = [c for c in commands if isinstance(c, m.ScheduleRetry)]
        assert len(retries) == 1 and retries[0].delay_s >= 45, retries
        assert attempts == 1
    finally:
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0


async def test_keyboard_does_what_the_buttons_do(room: Room) -> None:
    """Real key events through pygame's queue: J joins, M mutes, N/Tab changes main, J leaves;
    Q does nothing while display.allow_quit is false."""
    cfg = _config(room.server.url, session={"auto_join": False}, display={"allow_quit": False})
    kiosk = Kiosk(cfg)
    run = asyncio.create_task(kiosk.run())

    def key(k: int) -> None:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode=""))

    try:
        await wait_until(lambda: kiosk.ready.is_set(), 10, "screen up")
        key(pygame.K_q)
        await asyncio.sleep(0.5)
        assert not run.done() and kiosk.machine.state == m.CallState.IDLE
        key(pygame.K_j)
        await wait_until(lambda: kiosk.machine.state == m.CallState.IN_CALL, 20, "joined by J")
        await wait_until(
            lambda: kiosk.media is not None and len(kiosk.media.frames) == 2,
            10,
            "two remote streams",
        )
        key(pygame.K_m)
        await wait_until(lambda: kiosk.media is not None and kiosk.media.muted("audio"), 5, "muted")
        before = kiosk.main_id
        key(pygame.K_TAB)
        await wait_until(lambda: kiosk.main_id != before, 5, "main view changed by Tab")
        key(pygame.K_f)  # fullscreen toggle: unsupported on the dummy driver, must not crash
        key(pygame.K_j)
        await wait_until(lambda: kiosk.machine.state == m.CallState.IDLE, 10, "left by J")
        assert not run.done()
    finally:
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0


async def test_watchdog_pings_stop_while_the_render_loop_is_blocked(tmp_path: Path) -> None:
    """systemd restarts a hung kiosk only if a hung loop stops the WATCHDOG=1 pings."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.setblocking(False)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    cfg = _config("http://127.0.0.1:9", session={"auto_join": False})
    kiosk = Kiosk(cfg, notifier=notifier)
    run = asyncio.create_task(kiosk.run())

    def drain() -> list[tuple[float, bytes]]:
        out = []
        while True:
            try:
                out.append((time.monotonic(), sock.recv(4096)))
            except BlockingIOError:
                return out

    received: list[bytes] = []

    def seen(wanted: bytes) -> bool:
        received.extend(m for _, m in drain())
        return any(m.startswith(wanted) for m in received)

    try:
        await wait_until(lambda: kiosk.ready.is_set(), 10, "screen up")
        await wait_until(lambda: seen(b"READY=1") and seen(b"WATCHDOG=1"), 10, "READY and a ping")
        drain()  # what was sent before the hang
        blocked_at = time.monotonic()
        time.sleep(2.5)  # noqa: ASYNC251 — deliberately hang the loop: no ping may go out
        # The loop has not run since: whatever is queued on the socket was sent during the hang
        # (a ping from another thread would be here).
        during = [m for _, m in drain() if m == b"WATCHDOG=1"]
        assert during == [], "a WATCHDOG=1 was sent while the loop was blocked"
        assert time.monotonic() - blocked_at >= 2.5
        received.clear()
        await wait_until(lambda: seen(b"WATCHDOG=1"), 5, "pings to resume after the hang")
    finally:
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0
        sock.close()
