"""iCalendar text → :class:`~kiosk.calendar.meetings.Meeting` occurrences in a time window.

Parsing is ``icalendar``'s and recurrence expansion (RRULE, RDATE, EXDATE, moved instances with
RECURRENCE-ID, time zones, daylight saving, ``X-WR-TIMEZONE``) is ``recurring-ical-events``'s.
This module adds the kiosk's rules: aware datetimes only (floating times and all-day dates are
taken in the kiosk's time zone), bounded output (at most ``limit`` occurrences, titles
shortened), and the session mapping of :mod:`kiosk.calendar.links`. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, NotRequired, TypedDict, Unpack

import icalendar
import recurring_ical_events

from kiosk.calendar.links import SESSION_PROPERTY, find_session
from kiosk.calendar.meetings import MAX_DESCRIPTION_SCAN, MAX_EVENTS, Meeting, clean_text
from kiosk.errors import CalendarError

__all__ = ["MAX_COMPONENTS", "CalendarWindow", "parse_calendars", "parse_ics"]

MAX_COMPONENTS = 5000
"""Most VEVENT components accepted in one calendar text (before expansion)."""


def _aware(value: date | datetime, tz: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    return datetime.combine(value, time(0, 0), tzinfo=tz)


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    if value is None:
        return ""
    if isinstance(value, list):  # a repeated property
        value = " ".join(str(v) for v in value[:5])
    return str(value)[:MAX_DESCRIPTION_SCAN]


def _meeting(component: Any, *, host: str, tz: tzinfo) -> Meeting | None:
    dtstart = component.get("DTSTART")
    if dtstart is None:
        return None
    raw_start = dtstart.dt
    all_day = not isinstance(raw_start, datetime)
    start = _aware(raw_start, tz)
    dtend = component.get("DTEND")
    duration = component.get("DURATION")
    if dtend is not None:
        end = _aware(dtend.dt, tz)
    elif duration is not None and isinstance(duration.dt, timedelta):
        end = start + duration.dt
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    if end < start:
        end = start
    status = str(component.get("STATUS", "")).upper()
    if status == "CANCELLED":
        return None
    explicit = component.get(SESSION_PROPERTY)
    link = find_session(
        explicit=None if explicit is None else str(explicit)[:200],
        texts=[
            _text(component, "URL"),
            _text(component, "LOCATION"),
            _text(component, "DESCRIPTION"),
        ],
        host=host,
    )
    return Meeting(
        uid=clean_text(component.get("UID", ""), 255),
        start=start,
        end=end,
        title=clean_text(component.get("SUMMARY", "")),
        all_day=all_day,
        session_id=None if all_day else link.session_id,
        link=link.kind,
    )


def _occurrences(
    text: str | bytes, *, start: datetime, end: datetime, tz: tzinfo, limit: int
) -> Iterator[Any]:
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
    events = raw.upper().count(b"BEGIN:VEVENT")
    if events > MAX_COMPONENTS:  # counted before parsing: a huge file costs no parse time
        raise CalendarError(f"too many events ({events}, at most {MAX_COMPONENTS} are read)")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError, … on bad input
        raise CalendarError(f"not iCalendar data ({type(exc).__name__})") from None
    if not isinstance(calendar, icalendar.Calendar):
        raise CalendarError("not iCalendar data (no VCALENDAR)")
    try:
        query = recurring_ical_events.of(calendar, skip_bad_series=True)
        for count, component in enumerate(query.after(start)):
            if count >= limit:
                return
            first = component.get("DTSTART")
            if first is not None and _aware(first.dt, tz) >= end:
                return
            yield component
    except CalendarError:
        raise
    except Exception as exc:  # the recurrence library's errors, a bad time zone, …
        raise CalendarError(f"calendar could not be expanded ({type(exc).__name__})") from None


class CalendarWindow(TypedDict):
    """The keyword options of :func:`parse_calendars` (``limit`` defaults to ``MAX_EVENTS``)."""

    host: str
    start: datetime
    end: datetime
    tz: tzinfo
    limit: NotRequired[int]


def parse_ics(text: str | bytes, **window: Unpack[CalendarWindow]) -> list[Meeting]:
    """:func:`parse_calendars` for one calendar text."""
    return parse_calendars([text], **window)


def parse_calendars(
    texts: Iterable[str | bytes],
    *,
    host: str,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    limit: int = MAX_EVENTS,
) -> list[Meeting]:
    """The occurrences in ``texts`` (one ICS file, or a CalDAV collection's resources) that
    overlap ``[start, end)``, sorted by start, at most ``limit``. ``host`` is this kiosk's
    server host (see :mod:`kiosk.calendar.links`); ``tz`` is the zone for floating times and
    all-day dates. Raises :class:`CalendarError`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the calendar window must be timezone-aware")
    found: dict[tuple[str, datetime], Meeting] = {}
    for text in texts:
        for component in _occurrences(text, start=start, end=end, tz=tz, limit=limit):
            try:
                meeting = _meeting(component, host=host, tz=tz)
            except (ValueError, TypeError, AttributeError, OverflowError):
                continue  # one odd event (a DTSTART that is no date, …) is left out, not all
            if meeting is None or meeting.start >= end or meeting.end < start:
                continue
            found.setdefault(meeting.key, meeting)
    meetings = sorted(found.values(), key=lambda m: (m.start, m.end, m.uid))
    return meetings[:limit]
