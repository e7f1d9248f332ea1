"""Status LEDs with gpiozero's mock pins: pin levels follow the call state."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.app.indicators import call_pattern
from kiosk.app.machine import CallState
from kiosk.controls.leds import Leds, LedSpec
from kiosk.testing.waits import wait_until

CALL, MUTED, CAMERA = 5, 6, 13


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.close()


@pytest.fixture
def leds(factory: MockFactory) -> Iterator[Leds]:
    leds = Leds(LedSpec(CALL), LedSpec(MUTED), LedSpec(CAMERA), pin_factory=factory)
    assert leds.available
    yield leds
    leds.close()


async def sample(pin: object, seconds: float, every: float = 0.01) -> list[bool]:
    """The pin level every `every` seconds for `seconds`."""
    values = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        values.append(bool(pin.state))  # type: ignore[attr-defined]
        await asyncio.sleep(every)
    return values


def state_changes(pin: object) -> int:
    """Level changes the mock pin recorded (its first entry is the initial level)."""
    return len(pin.states) - 1  # type: ignore[attr-defined]


def blink_periods(pin: object) -> list[float]:
    """Durations of the completed on/off phases recorded by the mock pin."""
    states = pin.states  # type: ignore[attr-defined]
    # states[i].timestamp is the time since the previous change
    return [s.timestamp for s in states[2:]]


async def test_call_led_is_off_idle_and_steady_in_a_call(leds: Leds, factory: MockFactory) -> None:
    pin = factory.pin(CALL)
    leds.show(call_pattern(CallState.IDLE), mic_muted=False, camera_off=False)
    assert not any(await sample(pin, 0.1))
    leds.show(call_pattern(CallState.IN_CALL), mic_muted=False, camera_off=False)
    values = await sample(pin, 0.3)
    assert all(values)
    leds.show(call_pattern("idle"), mic_muted=False, camera_off=False)  # plain strings work too
    assert not any(await sample(pin, 0.1))


@pytest.mark.parametrize("state", [CallState.JOINING, "reconnecting"])
async def test_call_led_blinks_slowly_while_joining_or_reconnecting(
    leds: Leds, factory: MockFactory, state: CallState | str
) -> None:
    pin = factory.pin(CALL)
    before = state_changes(pin)
    leds.show(call_pattern(state), mic_muted=False, camera_off=False)
    await wait_until(lambda: state_changes(pin) >= before + 4, 5, "two slow blinks")
    periods = blink_periods(pin)
    assert periods
    assert all(0.4 <= p <= 0.9 for p in periods), periods  # 0.5 s on, 0.5 s off


async def test_call_led_blinks_fast_on_error(leds: Leds, factory: MockFactory) -> None:
    pin = factory.pin(CALL)
    before = state_changes(pin)
    leds.show(call_pattern(CallState.ERROR), mic_muted=False, camera_off=False)
    await wait_until(lambda: state_changes(pin) >= before + 4, 5, "two fast blinks")
    periods = blink_periods(pin)
    assert all(0.05 <= p <= 0.35 for p in periods), periods


async def test_showing_the_same_state_again_does_not_restart_the_blink(
    leds: Leds, factory: MockFactory
) -> None:
    pin = factory.pin(CALL)
    before = state_changes(pin)
    leds.show(call_pattern(CallState.JOINING), mic_muted=False, camera_off=False)
    # a status refresh every 0.1 s must not keep the LED stuck in its first "on" phase
    deadline = time.monotonic() + 5
    while state_changes(pin) < before + 3 and time.monotonic() < deadline:
        leds.show(call_pattern(CallState.JOINING), mic_muted=False, camera_off=False)
        await asyncio.sleep(0.1)
    assert state_changes(pin) >= before + 3, "the blink restarted on every refresh"
    assert all(0.4 <= p <= 0.9 for p in blink_periods(pin)), blink_periods(pin)
    assert leds.pattern("call") == "slow"


async def test_muted_and_camera_leds_follow_the_flags(leds: Leds, factory: MockFactory) -> None:
    muted, camera = factory.pin(MUTED), factory.pin(CAMERA)
    leds.show(call_pattern(CallState.IN_CALL), mic_muted=True, camera_off=False)
    assert (muted.state, camera.state) == (True, False)
    leds.show(call_pattern(CallState.IN_CALL), mic_muted=False, camera_off=True)
    assert (muted.state, camera.state) == (False, True)
    leds.show(call_pattern(CallState.IDLE), mic_muted=True, camera_off=True)
    assert (muted.state, camera.state) == (True, True)


async def test_active_low_led_is_inverted(factory: MockFactory) -> None:
    leds = Leds(LedSpec(CALL, active_high=False), pin_factory=factory)
    pin = factory.pin(CALL)
    try:
        leds.show(call_pattern(CallState.IDLE), mic_muted=False, camera_off=False)
        assert pin.state is True  # off = high for an LED wired to 3V3
        leds.show(call_pattern(CallState.IN_CALL), mic_muted=False, camera_off=False)
        assert pin.state is False
    finally:
        leds.close()


async def test_pwm_led_goes_fully_on_in_a_call() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    leds = Leds(LedSpec(CALL, pwm=True), pin_factory=factory)
    pin = factory.pin(CALL)
    try:
        leds.show(
            call_pattern(CallState.IN_CALL), mic_muted=True, camera_off=True
        )  # absent LEDs: ignored
        assert pin.state == 1.0
        leds.show(call_pattern(CallState.IDLE), mic_muted=False, camera_off=False)
        assert pin.state == 0.0
    finally:
        leds.close()
        factory.close()


async def test_close_switches_off_and_releases(factory: MockFactory) -> None:
    leds = Leds(LedSpec(CALL), pin_factory=factory)
    leds.show(call_pattern(CallState.IN_CALL), mic_muted=False, camera_off=False)
    leds.close()
    leds.close()
    leds.show(call_pattern(CallState.IN_CALL), mic_muted=False, camera_off=False)  # no-op, no crash
    again = Leds(LedSpec(CALL), pin_factory=factory)
    assert again.available
    again.close()


async def test_gpio_unavailable_logs_one_warning_and_show_is_a_no_op(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        leds = Leds(LedSpec(CALL), LedSpec(MUTED), pin_factory="lgpio")
        leds.show(call_pattern(CallState.IN_CALL), mic_muted=True, camera_off=False)
    assert not leds.available
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1
    assert "without LEDs" in records[0].getMessage()
    assert "lgpio" in records[0].getMessage()


def test_call_pattern_for_every_state() -> None:
    assert {s: call_pattern(s) for s in CallState} == {
        CallState.IDLE: "off",
        CallState.JOINING: "slow",
        CallState.IN_CALL: "on",
        CallState.RECONNECTING: "slow",
        CallState.LEAVING: "slow",
        CallState.ERROR: "fast",
    }
    assert call_pattern("nonsense") == "off"
