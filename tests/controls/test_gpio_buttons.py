"""GPIO buttons with gpiozero's mock pins: actions reach the loop thread, debounced, long press."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.controls.actions import Action
from kiosk.controls.buttons import ButtonLogic, Buttons, ButtonSpec
from kiosk.errors import HardwareError

JOIN, NEXT, MUTE, CAMERA = 17, 27, 22, 23


class Recorder:
    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.threads: set[int] = set()
        self.times: list[float] = []

    def __call__(self, action: Action) -> None:
        self.actions.append(action)
        self.threads.add(threading.get_ident())
        self.times.append(time.monotonic())


async def settle(predicate: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def quiet(seconds: float) -> None:
    """Let callbacks that would (wrongly) arrive have their chance."""
    await asyncio.sleep(seconds)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.close()


def make(factory: MockFactory, rec: Recorder, **specs: ButtonSpec) -> Buttons:
    mapping = {Action(name): spec for name, spec in specs.items()}
    return Buttons(mapping, rec, asyncio.get_running_loop(), pin_factory=factory)


async def test_each_button_reaches_the_sink_on_the_loop_thread(factory: MockFactory) -> None:
    rec = Recorder()
    buttons = make(
        factory,
        rec,
        next=ButtonSpec(NEXT, bounce_time=0.01),
        mute_mic=ButtonSpec(MUTE, bounce_time=0.01),
        camera=ButtonSpec(CAMERA, bounce_time=0.01),
    )
    try:
        assert buttons.available
        assert buttons.error is None
        for pin_no in (NEXT, MUTE, CAMERA):
            pin = factory.pin(pin_no)
            await asyncio.to_thread(pin.drive_low)  # press: pulled-up pin goes to GND
            await asyncio.sleep(0.02)
            await asyncio.to_thread(pin.drive_high)
            await asyncio.sleep(0.02)
        await settle(lambda: len(rec.actions) == 3)
        await quiet(0.05)
        assert rec.actions == [Action.NEXT, Action.MUTE_MIC, Action.CAMERA]
        assert rec.threads == {threading.get_ident()}  # the loop's thread, not gpiozero's
    finally:
        buttons.close()


async def test_short_press_of_join_leave_acts_on_release(factory: MockFactory) -> None:
    rec = Recorder()
    buttons = make(factory, rec, join_leave=ButtonSpec(JOIN, bounce_time=0.01, hold_seconds=0.3))
    pin = factory.pin(JOIN)
    try:
        await asyncio.to_thread(pin.drive_low)
        await quiet(0.1)
        assert rec.actions == []  # could still become a long press
        await asyncio.to_thread(pin.drive_high)
        await settle(lambda: len(rec.actions) == 1)
        await quiet(0.4)  # past hold_seconds: no late rejoin
        assert rec.actions == [Action.JOIN_LEAVE]
        assert rec.threads == {threading.get_ident()}
    finally:
        buttons.close()


async def test_holding_join_leave_gives_rejoin_only(factory: MockFactory) -> None:
    rec = Recorder()
    buttons = make(factory, rec, join_leave=ButtonSpec(JOIN, bounce_time=0.01, hold_seconds=0.2))
    pin = factory.pin(JOIN)
    try:
        pressed_at = time.monotonic()
        await asyncio.to_thread(pin.drive_low)
        await settle(lambda: len(rec.actions) == 1)
        # rejoin comes while the button is still held, after hold_seconds
        assert rec.actions == [Action.REJOIN]
        assert rec.times[0] - pressed_at >= 0.19
        await quiet(0.35)  # still held: no repeat
        await asyncio.to_thread(pin.drive_high)
        await quiet(0.1)
        assert rec.actions == [Action.REJOIN]  # and no plain join_leave on release
        assert rec.threads == {threading.get_ident()}
        # a later short press is a plain join_leave again
        await asyncio.to_thread(pin.drive_low)
        await asyncio.sleep(0.03)
        await asyncio.to_thread(pin.drive_high)
        await settle(lambda: len(rec.actions) == 2)
        assert rec.actions == [Action.REJOIN, Action.JOIN_LEAVE]
    finally:
        buttons.close()


def chatter(pin: object, edges: int) -> None:
    """A bouncing contact: alternate low/high quickly, ending low (pressed)."""
    for i in range(edges):
        if i % 2 == 0:
            pin.drive_low()  # type: ignore[attr-defined]
        else:
            pin.drive_high()  # type: ignore[attr-defined]
        time.sleep(0.002)


async def test_bounces_within_bounce_time_count_once(factory: MockFactory) -> None:
    rec = Recorder()
    buttons = make(
        factory,
        rec,
        next=ButtonSpec(NEXT, bounce_time=0.08),
        join_leave=ButtonSpec(JOIN, bounce_time=0.08, hold_seconds=0.4),
    )
    try:
        nxt = factory.pin(NEXT)
        await asyncio.to_thread(chatter, nxt, 7)  # press with bounces
        await asyncio.sleep(0.15)
        await asyncio.to_thread(chatter, nxt, 6)  # release with bounces (ends high)
        await asyncio.to_thread(nxt.drive_high)
        await asyncio.sleep(0.15)
        join = factory.pin(JOIN)
        await asyncio.to_thread(chatter, join, 5)
        await asyncio.sleep(0.15)
        await asyncio.to_thread(join.drive_high)
        await asyncio.to_thread(chatter, join, 4)  # release bounce: low-high-low-high
        await asyncio.to_thread(join.drive_high)
        await settle(lambda: len(rec.actions) >= 2)
        await quiet(0.2)
        assert rec.actions == [Action.NEXT, Action.JOIN_LEAVE]
    finally:
        buttons.close()


async def test_presses_slower_than_bounce_time_all_count(factory: MockFactory) -> None:
    rec = Recorder()
    buttons = make(factory, rec, next=ButtonSpec(NEXT, bounce_time=0.02))
    pin = factory.pin(NEXT)
    try:
        for _ in range(3):
            await asyncio.to_thread(pin.drive_low)
            await asyncio.sleep(0.04)
            await asyncio.to_thread(pin.drive_high)
            await asyncio.sleep(0.04)
        await settle(lambda: len(rec.actions) == 3)
        assert rec.actions == [Action.NEXT] * 3
    finally:
        buttons.close()


async def test_pull_down_button_is_pressed_when_driven_high(factory: MockFactory) -> None:
    rec = Recorder()
    buttons = make(factory, rec, camera=ButtonSpec(CAMERA, pull_up=False, bounce_time=0.01))
    pin = factory.pin(CAMERA)
    try:
        await asyncio.to_thread(pin.drive_high)
        await settle(lambda: len(rec.actions) == 1)
        await asyncio.to_thread(pin.drive_low)
        await quiet(0.05)
        assert rec.actions == [Action.CAMERA]
    finally:
        buttons.close()


async def test_close_releases_the_pins_and_stops_actions(factory: MockFactory) -> None:
    rec = Recorder()
    buttons = make(factory, rec, next=ButtonSpec(NEXT, bounce_time=0.01))
    buttons.close()
    buttons.close()  # idempotent
    assert not buttons.available
    # the pin is free again: another owner can take it
    again = make(factory, rec, next=ButtonSpec(NEXT, bounce_time=0.01))
    try:
        assert again.available
    finally:
        again.close()
    pin = factory.pin(NEXT)
    pin.drive_low()
    pin.drive_high()
    await quiet(0.05)
    assert rec.actions == []


class DeniedFactory:
    """A pin factory like lgpio's on a Pi where the user is not in the gpio group."""

    def reserve_pins(self, *args: object) -> None:
        raise PermissionError(13, "Permission denied", "/dev/gpiochip0")

    def pin(self, *args: object) -> None:
        raise PermissionError(13, "Permission denied", "/dev/gpiochip0")

    def release_pins(self, *args: object) -> None:
        pass

    def release_all(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("pin_factory", "words"),
    [
        ("lgpio", ["lgpio", "Raspberry Pi 5"]),  # module not installed here
        ("native", ["not a Raspberry Pi"]),  # not a Pi
        ("no-such-factory", ["no-such-factory"]),
        (DeniedFactory(), ["permission", "gpio group", "/dev/gpiochip0"]),
    ],
)
async def test_gpio_unavailable_logs_one_warning_and_runs_without_buttons(
    pin_factory: object, words: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        with caplog.at_level(logging.WARNING):
            buttons = Buttons(
                {Action.JOIN_LEAVE: ButtonSpec(JOIN), Action.NEXT: ButtonSpec(NEXT)},
                rec,
                asyncio.get_running_loop(),
                pin_factory=pin_factory,
            )
    assert not buttons.available
    assert isinstance(buttons.error, HardwareError)
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "\n" not in message
    assert "without buttons" in message
    for word in words:
        assert word.lower() in message.lower()
    assert [str(w.message) for w in leaked] == []  # gpiozero's own warnings stay quiet
    buttons.close()


async def test_a_bad_pin_names_the_button(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    with caplog.at_level(logging.WARNING):
        buttons = make(factory, rec, next=ButtonSpec(NEXT), camera=ButtonSpec(99))
    assert not buttons.available
    assert "camera button on pin 99" in str(buttons.error)
    # the button that was set up before the failure was released again
    again = make(factory, rec, next=ButtonSpec(NEXT))
    assert again.available
    again.close()


async def test_no_buttons_configured_touches_no_gpio(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        buttons = Buttons({}, Recorder(), asyncio.get_running_loop(), pin_factory="lgpio")
    assert not buttons.available
    assert buttons.error is None
    assert caplog.records == []


def test_button_logic_debounce_and_hold() -> None:
    join = ButtonLogic(Action.JOIN_LEAVE, 0.05)
    assert join.pressed(0.0) is None
    assert join.released(0.01) is None  # bounce
    assert join.pressed(0.02) is None  # bounce
    assert join.released(0.5) is Action.JOIN_LEAVE
    assert join.pressed(0.52) is None  # release bounce
    assert join.released(0.53) is None
    assert join.pressed(1.0) is None
    assert join.held() is Action.REJOIN
    assert join.held() is None  # once per press
    assert join.released(4.0) is None
    assert join.held() is None  # not pressed
    nxt = ButtonLogic(Action.NEXT, 0.05)
    assert nxt.pressed(0.0) is Action.NEXT
    assert nxt.held() is None
    assert nxt.released(1.0) is None
