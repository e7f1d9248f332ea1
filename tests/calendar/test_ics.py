"""The .ics fixtures through the real parser (icalendar + recurring-ical-events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kiosk.calendar.ics import parse_ics
from kiosk.calendar.meetings import Meeting
from kiosk.errors import CalendarError

FIXTURES = Path(__file__).parent / "fixtures"
BERLIN = ZoneInfo("Europe/Berlin")
HOST = "meet.example.org"


def _read(name: str, start: datetime, end: datetime, **kw: object) -> list[Meeting]:
    data = (FIXTURES / name).read_bytes()
    return parse_ics(data, host=HOST, start=start, end=end, tz=BERLIN, **kw)  # type: ignore[arg-type]


def test_weekly_series_with_exdate_moved_instance_and_dst() -> None:
    meetings = _read(
        "weekly.ics", datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 4, 30, tzinfo=BERLIN)
    )
    starts = [m.start.astimezone(UTC) for m in meetings]
    assert starts == [
        datetime(2026, 3, 2, 9, 0, tzinfo=UTC),  # 10:00 CET
        datetime(2026, 3, 9, 9, 0, tzinfo=UTC),
        # 16 March is an EXDATE; the 23 March instance moved to the 24th at 14:00
        datetime(2026, 3, 24, 13, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 8, 0, tzinfo=UTC),  # 10:00 CEST after the DST change
        datetime(2026, 4, 6, 8, 0, tzinfo=UTC),
    ]
    assert [m.start.astimezone(BERLIN).hour for m in meetings] == [10, 10, 14, 10, 10]
    assert meetings[2].title == "Team sync (moved)"
    assert all(m.session_id == "team-sync" and m.joinable for m in meetings)
    assert all(m.duration == timedelta(hours=1) for m in meetings)


def test_window_limits_occurrences_and_keeps_an_ongoing_one() -> None:
    # 10:30 on 9 March: the 10:00 occurrence is still running and is kept.
    start = datetime(2026, 3, 9, 10, 30, tzinfo=BERLIN)
    meetings = _read("weekly.ics", start, start + timedelta(days=16))
    assert [m.start.date().isoformat() for m in meetings] == ["2026-03-09", "2026-03-24"]


def test_limit_caps_the_count() -> None:
    meetings = _read(
        "weekly.ics",
        datetime(2026, 3, 1, tzinfo=BERLIN),
        datetime(2026, 4, 30, tzinfo=BERLIN),
        limit=2,
    )
    assert len(meetings) == 2


def test_mixed_events_links_and_all_day() -> None:
    meetings = _read(
        "mixed.ics", datetime(2026, 3, 5, tzinfo=BERLIN), datetime(2026, 3, 6, tzinfo=BERLIN)
    )
    by_uid = {m.uid: m for m in meetings}
    holiday = by_uid["allday@example.org"]
    assert holiday.all_day and not holiday.joinable and holiday.session_id is None
    assert holiday.start == datetime(2026, 3, 5, tzinfo=BERLIN)
    cleaning = by_uid["nolink@example.org"]
    assert cleaning.link == "none" and not cleaning.joinable
    assert cleaning.title == "Cleaning, no call"
    partner = by_uid["other@example.org"]
    assert partner.link == "other-server" and partner.session_id is None
    review = by_uid["desc@example.org"]  # host compared case-insensitively, trailing "." cut
    assert review.session_id == "review_42"
    assert by_uid["explicit@example.org"].session_id == "board-room"
    assert "cancelled@example.org" not in by_uid
    floating = by_uid["floating@example.org"]  # no TZID: the kiosk's zone; DURATION honoured
    assert floating.start == datetime(2026, 3, 5, 18, 0, tzinfo=BERLIN)
    assert floating.end - floating.start == timedelta(minutes=45)
    assert floating.session_id == "floating-room"
    assert all(m.start.tzinfo is not None and m.end.tzinfo is not None for m in meetings)


def test_x_wr_timezone_keeps_local_wall_time_across_dst() -> None:
    ny = ZoneInfo("America/New_York")
    meetings = _read(
        "xwr.ics", datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    )
    assert [m.start.astimezone(ny).hour for m in meetings] == [9, 9, 9]
    assert [m.start.astimezone(UTC).hour for m in meetings] == [13, 14, 14]


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", b"\xff\xfe\x00garbage"],
)
def test_bad_input_is_one_calendar_error(data: bytes) -> None:
    with pytest.raises(CalendarError) as info:
        parse_ics(
            data,
            host=HOST,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2026, 2, 1, tzinfo=UTC),
            tz=BERLIN,
        )
    assert "\n" not in str(info.value)


def test_long_titles_and_control_characters_are_bounded() -> None:
    title = "A" * 5000
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:u\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\n"
        f"SUMMARY:{title}\\nsecond line\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (meeting,) = parse_ics(
        text,
        host=HOST,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 2, 1, tzinfo=UTC),
        tz=BERLIN,
    )
    assert len(meeting.title) <= 120 and meeting.title.endswith("…")
    assert "\n" not in meeting.title


def test_naive_window_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_ics(b"", host=HOST, start=datetime(2026, 1, 1), end=datetime(2026, 2, 1), tz=BERLIN)


def test_too_many_events_is_an_error() -> None:
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
        "END:VEVENT\r\n"
        for i in range(5001)
    )
    text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{events}END:VCALENDAR\r\n"
    with pytest.raises(CalendarError, match="too many events"):
        parse_ics(
            text,
            host=HOST,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2026, 2, 1, tzinfo=UTC),
            tz=BERLIN,
        )
