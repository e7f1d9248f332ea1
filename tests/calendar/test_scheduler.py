"""The pure join/leave scheduler with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiosk.calendar.meetings import Meeting
from kiosk.calendar.scheduler import CallFacts, Join, Leave, Scheduler, ScheduleSettings, upcoming

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def meeting(uid: str, start_min: int, end_min: int, session: str | None = "room") -> Meeting:
    return Meeting(
        uid=uid,
        start=T0 + start_min * MIN,
        end=T0 + end_min * MIN,
        title=uid,
        session_id=session,
        link="this-server" if session else "none",
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


SETTINGS = ScheduleSettings(join_before=2 * MIN, leave_after=5 * MIN, empty_grace=2 * MIN)


def test_join_before_start_and_leave_after_end() -> None:
    s = Scheduler(SETTINGS)
    m = [meeting("a", 0, 30)]
    assert s.decide(at(-3), m, CallFacts()) is None
    decision = s.decide(at(-2), m, CallFacts())
    assert decision == Join("room", m[0], switch=False)
    in_call = CallFacts(session_id="room")
    assert s.decide(at(20), m, in_call) is None
    assert s.decide(at(34), m, in_call) is None  # ended, but leave_after not over
    assert s.decide(at(35), m, in_call) == Leave("the meeting is over", m[0])
    assert s.decide(at(36), m, CallFacts()) is None  # never rejoins an ended meeting


def test_remote_participants_keep_the_call_then_grace_after_the_last_leaves() -> None:
    s = Scheduler(SETTINGS)
    m = [meeting("a", 0, 30)]
    s.decide(at(-1), m, CallFacts())
    busy = CallFacts(session_id="room", remote_participants=2)
    assert s.decide(at(40), m, busy) is None
    emptied = CallFacts(session_id="room", remote_participants=0, remote_empty_since=at(50))
    assert s.decide(at(51), m, emptied) is None
    assert isinstance(s.decide(at(52), m, emptied), Leave)


def test_nobody_remote_at_leave_time_leaves_at_once() -> None:
    s = Scheduler(SETTINGS)
    m = [meeting("a", 0, 30)]
    s.decide(at(0), m, CallFacts())
    facts = CallFacts(session_id="room", remote_empty_since=at(34.5))
    assert isinstance(s.decide(at(35), m, facts), Leave)


def test_back_to_back_switches_at_the_end_not_in_the_pre_roll() -> None:
    s = Scheduler(SETTINGS)
    a, b = meeting("a", 0, 30), meeting("b", 30, 60, session="other")
    s.decide(at(0), [a, b], CallFacts())
    facts = CallFacts(session_id="room", remote_participants=3)
    assert s.decide(at(29), [a, b], facts) is None  # b's window is open, a still runs
    assert s.decide(at(30), [a, b], facts) == Join("other", b, switch=True)
    assert s.joined == b


def test_back_to_back_same_session_stays() -> None:
    s = Scheduler(SETTINGS)
    a, b = meeting("a", 0, 30), meeting("b", 30, 60)
    s.decide(at(0), [a, b], CallFacts())
    facts = CallFacts(session_id="room")
    assert s.decide(at(31), [a, b], facts) is None
    assert s.joined == b
    assert s.decide(at(60 + 5), [a, b], facts) == Leave("the meeting is over", b)


def test_button_overrides_until_the_next_meeting() -> None:
    s = Scheduler(SETTINGS)
    a, b = meeting("a", 0, 30), meeting("b", 60, 90)
    assert isinstance(s.decide(at(-2), [a, b], CallFacts()), Join)
    s.button(at(5))  # someone left by hand during a
    assert s.decide(at(6), [a, b], CallFacts()) is None  # a is not rejoined
    assert s.decide(at(57), [a, b], CallFacts()) is None
    assert s.decide(at(58), [a, b], CallFacts()) == Join("room", b, switch=False)


def test_manual_call_is_not_left_by_the_scheduler() -> None:
    s = Scheduler(SETTINGS)
    a = meeting("a", 0, 30)
    s.button(at(-10))  # joined by hand before the pre-roll
    manual = CallFacts(session_id="private")
    # a's window opens after the press: the booked meeting takes the room
    assert s.decide(at(-2), [a], manual) == Join("room", a, switch=True)


def test_pressing_leave_in_the_pre_roll_skips_that_meeting() -> None:
    s = Scheduler(SETTINGS)
    a = meeting("a", 0, 30)
    assert isinstance(s.decide(at(-2), [a], CallFacts()), Join)
    s.button(at(-1))
    assert s.decide(at(0), [a], CallFacts()) is None
    assert s.decide(at(10), [a], CallFacts()) is None


def test_already_in_the_session_is_adopted_without_a_join() -> None:
    s = Scheduler(SETTINGS)
    a = meeting("a", 0, 30)
    assert s.decide(at(-1), [a], CallFacts(session_id="room")) is None
    assert s.joined == a
    assert isinstance(s.decide(at(35), [a], CallFacts(session_id="room")), Leave)


def test_no_link_all_day_and_other_server_are_never_joined() -> None:
    s = Scheduler(SETTINGS)
    plain = meeting("plain", 0, 30, session=None)
    all_day = Meeting(
        uid="d", start=T0 - 9 * 60 * MIN, end=T0 + 15 * 60 * MIN, title="d", all_day=True
    )
    for minute in (-2, 0, 10):
        assert s.decide(at(minute), [plain, all_day], CallFacts()) is None


def test_empty_room_leaves_a_booked_meeting_and_does_not_rejoin() -> None:
    s = Scheduler(ScheduleSettings(join_before=2 * MIN, leave_when_room_empty=10 * MIN))
    a = meeting("a", 0, 60)
    s.decide(at(-2), [a], CallFacts())
    # empty since before the start: counted from the start
    facts = CallFacts(session_id="room", room_empty_since=at(-30))
    assert s.decide(at(9), [a], facts) is None
    assert isinstance(s.decide(at(10), [a], facts), Leave)
    assert s.decide(at(11), [a], CallFacts(room_empty_since=at(-30))) is None


def test_someone_entering_resets_the_empty_room_clock() -> None:
    s = Scheduler(ScheduleSettings(leave_when_room_empty=10 * MIN))
    a = meeting("a", 0, 60)
    s.decide(at(-1), [a], CallFacts())
    assert s.decide(at(15), [a], CallFacts(session_id="room", room_empty_since=at(8))) is None


def test_call_ended_elsewhere_is_joined_again_while_the_meeting_runs() -> None:
    s = Scheduler(SETTINGS)
    a = meeting("a", 0, 30)
    s.decide(at(0), [a], CallFacts())
    assert s.decide(at(5), [a], CallFacts()) == Join("room", a, switch=False)


def test_naive_times_are_refused() -> None:
    s = Scheduler(SETTINGS)
    with pytest.raises(ValueError):
        s.decide(datetime(2026, 3, 2, 9, 0), [], CallFacts())
    with pytest.raises(ValueError):
        Meeting(uid="x", start=datetime(2026, 3, 2), end=datetime(2026, 3, 3), title="x")


def test_upcoming_and_pre_roll() -> None:
    a, b, c = meeting("a", -60, -30), meeting("b", 5, 30), meeting("c", 60, 90)
    assert [m.uid for m in upcoming([c, a, b], at(0), 5)] == ["b", "c"]
    s = Scheduler(SETTINGS)
    assert not s.pre_roll([b], at(2))
    assert s.pre_roll([b], at(3))
