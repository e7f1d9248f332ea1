"""The display adapter and the render loop, on SDL's dummy driver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import av
import numpy as np
import pygame
import pytest

from kiosk.errors import DisplayError
from kiosk.screen.display import Display, DisplaySettings, KeyEvent
from kiosk.screen.renderer import run_render_loop
from kiosk.screen.roomview import RoomState, RoomView, TileInfo


@pytest.fixture
def display(monkeypatch: pytest.MonkeyPatch) -> Iterator[Display]:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    d = Display(DisplaySettings(driver="dummy", fullscreen=False, size=(640, 360)))
    d.open()
    yield d
    d.close()


def test_open_windowed_dummy(display: Display) -> None:
    assert display.surface.get_size() == (640, 360)
    assert display.driver_name == "dummy"
    assert pygame.mouse.get_visible() is False
    assert display.screensaver_allowed is False
    assert pygame.display.get_allow_screensaver() is False


@pytest.mark.parametrize("driver", ["x11", "wayland"])
def test_unavailable_driver_is_a_clear_display_error(
    driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # restored after the test
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent-kiosk-test")
    d = Display(DisplaySettings(driver=driver, fullscreen=False, size=(320, 200)))  # type: ignore[arg-type]
    with pytest.raises(DisplayError) as info:
        d.open()
    message = str(info.value)
    assert f"'{driver}'" in message and "\n" not in message
    assert not d.is_open


def test_unknown_driver_name_rejected() -> None:
    with pytest.raises(DisplayError, match=r"display\.driver"):
        Display(DisplaySettings(driver="vga"))  # type: ignore[arg-type]


def test_surface_before_open_is_an_error() -> None:
    with pytest.raises(DisplayError, match="not open"):
        _ = Display(DisplaySettings(driver="dummy")).surface


async def test_render_loop_draws_pings_forwards_keys_and_stops(display: Display) -> None:
    stop = asyncio.Event()
    frames = 0
    keys: list[KeyEvent] = []
    views = {"n": 0}

    def get_view() -> RoomView:
        views["n"] += 1
        state: RoomState = "idle" if views["n"] < 5 else "in_call"
        return RoomView(state, room_name="Lobby", tiles=[TileInfo("self", "Lobby", is_self=True)])

    def on_frame() -> None:
        nonlocal frames
        frames += 1
        if frames == 3:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0))
        if frames >= 12:
            stop.set()

    started = time.monotonic()
    renderer = await asyncio.wait_for(
        run_render_loop(display, get_view, stop, max_fps=50, on_frame=on_frame, on_key=keys.append),
        timeout=10,
    )
    elapsed = time.monotonic() - started
    assert frames == 12
    assert elapsed >= 11 / 50 * 0.8  # paced, not spinning
    assert [(k.name, k.down) for k in keys] == [("space", True)]
    assert renderer.stats.draws == 12
    # In a call now: the screensaver stays off; it was allowed on the idle page.
    assert display.screensaver_allowed is False


async def test_render_loop_yields_to_other_tasks(display: Display) -> None:
    stop = asyncio.Event()
    ticks = 0

    async def other() -> None:
        nonlocal ticks
        for _ in range(20):
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    count = 0

    def on_frame() -> None:
        nonlocal count
        count += 1
        if count >= 5:
            stop.set()

    await asyncio.wait_for(
        run_render_loop(display, lambda: RoomView("idle"), stop, max_fps=1000, on_frame=on_frame),
        timeout=10,
    )
    await task
    assert ticks == 20


async def test_quit_event_sets_stop_or_calls_on_quit(display: Display) -> None:
    stop = asyncio.Event()
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    await asyncio.wait_for(
        run_render_loop(display, lambda: RoomView("idle"), stop, max_fps=100), timeout=10
    )
    assert stop.is_set()
    assert display.screensaver_allowed is True  # idle page

    stop2 = asyncio.Event()
    quits: list[bool] = []

    def on_quit() -> None:
        quits.append(True)
        stop2.set()

    pygame.event.post(pygame.event.Event(pygame.QUIT))
    await asyncio.wait_for(
        run_render_loop(display, lambda: RoomView("idle"), stop2, on_quit=on_quit), timeout=10
    )
    assert quits == [True]


async def test_failing_key_handler_does_not_stop_the_screen(display: Display) -> None:
    stop = asyncio.Event()
    count = 0

    def bad(_: KeyEvent) -> None:
        raise RuntimeError("boom")

    def on_frame() -> None:
        nonlocal count
        count += 1
        if count == 1:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_n, mod=0))
        if count >= 4:
            stop.set()

    await asyncio.wait_for(
        run_render_loop(display, lambda: RoomView("idle"), stop, on_frame=on_frame, on_key=bad),
        timeout=10,
    )
    assert count == 4


class CountingSource:
    def __init__(self) -> None:
        self.frame_count = 0
        self.frame: av.VideoFrame | None = None

    def push(self, color: tuple[int, int, int]) -> None:
        arr = np.full((360, 640, 3), color, np.uint8)
        self.frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
        self.frame_count += 1

    def latest(self) -> av.VideoFrame | None:
        return self.frame


async def test_loop_draws_video_only_when_frames_arrive(display: Display) -> None:
    src = CountingSource()
    stop = asyncio.Event()
    view = RoomView(
        "in_call",
        tiles=[
            TileInfo("self", "Lobby", is_self=True),
            TileInfo("con_a", "Alice", frames=src),
        ],
        main_id="con_a",
    )

    async def producer() -> None:
        for i in range(10):  # 10 frames at ~25 fps while the screen ticks at 100 Hz
            src.push((200, 30 + i * 20, 30))
            await asyncio.sleep(0.04)
        await asyncio.sleep(0.05)
        stop.set()

    task = asyncio.create_task(producer())
    renderer = await asyncio.wait_for(
        run_render_loop(display, lambda: view, stop, max_fps=100), timeout=10
    )
    await task
    assert renderer.stats.draws > 15
    # Each frame is drawn once on main and once as a thumbnail; ticks without one draw nothing.
    assert 2 * 5 <= renderer.stats.video_blits <= 2 * 10
    assert renderer.layout is not None
    c = display.surface.get_at(renderer.layout.main.center)
    assert abs(c.g - (30 + 9 * 20)) <= 12  # the last frame is on screen


def test_fullscreen_native_size_then_close_and_reopen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    d = Display(DisplaySettings(driver="auto", fullscreen=True))
    surface = d.open()
    w, h = surface.get_size()
    assert w > 0 and h > 0
    assert d.open() is surface  # idempotent
    d.close()
    assert not d.is_open
    d.update([pygame.Rect(0, 0, 10, 10)])  # closed: a no-op, not a crash
    assert d.poll().keys == []
    d2 = Display(DisplaySettings(driver="dummy", fullscreen=False, size=(320, 240)))
    assert d2.open().get_size() == (320, 240)
    d2.close()
