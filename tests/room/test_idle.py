"""The pure idle policy with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiosk.room.idle import DisplayMode, IdleFacts, IdlePolicy, IdleSettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
SETTINGS = IdleSettings(standby_after=10 * MIN, meeting_within=15 * MIN)


def test_standby_after_the_delay_when_nothing_happens() -> None:
    policy = IdlePolicy(SETTINGS, T0)
    assert policy.decide(T0 + 9 * MIN, IdleFacts()) is DisplayMode.ON
    assert policy.decide(T0 + 10 * MIN, IdleFacts()) is DisplayMode.STANDBY
    assert policy.reason == "idle for 10 min"


@pytest.mark.parametrize(
    "facts",
    [
        IdleFacts(in_call=True),
        IdleFacts(present=True),
        IdleFacts(meeting_on=True),
        IdleFacts(next_start=T0 + 60 * MIN + 14 * MIN),
    ],
)
def test_busy_room_never_sleeps(facts: IdleFacts) -> None:
    policy = IdlePolicy(SETTINGS, T0)
    assert policy.decide(T0 + 60 * MIN, facts) is DisplayMode.ON


def test_busy_restarts_the_delay() -> None:
    policy = IdlePolicy(SETTINGS, T0)
    policy.decide(T0 + 5 * MIN, IdleFacts(in_call=True))
    assert policy.decide(T0 + 14 * MIN, IdleFacts()) is DisplayMode.ON
    assert policy.decide(T0 + 15 * MIN, IdleFacts()) is DisplayMode.STANDBY


def test_wake_on_button_and_presence_then_sleep_again() -> None:
    policy = IdlePolicy(SETTINGS, T0)
    policy.decide(T0 + 10 * MIN, IdleFacts())
    assert policy.wake(T0 + 20 * MIN, "button") is DisplayMode.ON
    assert policy.decide(T0 + 29 * MIN, IdleFacts()) is DisplayMode.ON
    assert policy.decide(T0 + 30 * MIN, IdleFacts()) is DisplayMode.STANDBY


def test_calendar_pre_roll_wakes_the_display() -> None:
    policy = IdlePolicy(SETTINGS, T0)
    assert policy.decide(T0 + 30 * MIN, IdleFacts(next_start=T0 + 50 * MIN)) is DisplayMode.STANDBY
    assert policy.decide(T0 + 35 * MIN, IdleFacts(next_start=T0 + 50 * MIN)) is DisplayMode.ON
    assert policy.reason == "a meeting starts soon"


def test_remote_standby_holds_until_busy_or_wake() -> None:
    policy = IdlePolicy(SETTINGS, T0)
    assert policy.sleep(T0 + MIN) is DisplayMode.STANDBY
    assert policy.decide(T0 + 2 * MIN, IdleFacts()) is DisplayMode.STANDBY
    assert policy.decide(T0 + 3 * MIN, IdleFacts(present=True)) is DisplayMode.ON
    policy.sleep(T0 + 4 * MIN)
    assert policy.wake(T0 + 5 * MIN, "remote command") is DisplayMode.ON
    assert policy.decide(T0 + 6 * MIN, IdleFacts()) is DisplayMode.ON


def test_naive_time_refused() -> None:
    with pytest.raises(ValueError):
        IdlePolicy(SETTINGS, datetime(2026, 1, 1))
