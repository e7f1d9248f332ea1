"""Presence from a PIR sensor: the pure tracker, and gpiozero's MotionSensor on a MockFactory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gpiozero.pins.mock import MockFactory

from kiosk.room.occupancy import Occupancy, PirSensor, PirSpec

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_presence_holds_after_motion_and_empty_since() -> None:
    occ = Occupancy(hold=5 * MIN, now=T0)
    assert occ.empty_since(T0) == T0
    assert occ.motion(True, T0 + MIN) is True
    assert occ.present(T0 + 30 * MIN)  # motion still active
    assert occ.motion(False, T0 + 2 * MIN) is False
    assert occ.present(T0 + 6 * MIN)
    assert not occ.present(T0 + 7 * MIN)
    assert occ.empty_since(T0 + 8 * MIN) == T0 + 7 * MIN
    assert occ.motion(True, T0 + 9 * MIN) is True


async def test_pir_on_a_mock_pin_reaches_the_loop() -> None:
    factory = MockFactory()
    seen: list[bool] = []
    changed = asyncio.Event()

    def on_motion(active: bool) -> None:
        seen.append(active)
        changed.set()

    sensor = PirSensor(PirSpec(pin=23), on_motion, asyncio.get_running_loop(), pin_factory=factory)
    try:
        assert sensor.available and sensor.error is None
        pin = factory.pin(23)
        for level, expected in ((True, [True]), (False, [True, False])):
            changed.clear()
            pin.drive_high() if level else pin.drive_low()
            await asyncio.wait_for(changed.wait(), 5)
            assert seen == expected
    finally:
        sensor.close()


async def test_unavailable_pin_runs_without_a_sensor() -> None:
    factory = MockFactory()
    factory.pin(5)  # reserve nothing; use an invalid pin number instead
    sensor = PirSensor(
        PirSpec(pin=99), lambda active: None, asyncio.get_running_loop(), pin_factory=factory
    )
    assert not sensor.available
    assert sensor.error is not None and "GPIO 99" in str(sensor.error)
