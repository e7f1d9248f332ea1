"""The idle screen's agenda lines: time, title (or not, for privacy) and a countdown. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from kiosk.calendar.meetings import Meeting

__all__ = ["AgendaItem", "agenda", "countdown"]


@dataclass(frozen=True, slots=True)
class AgendaItem:
    when: str  # "10:00–11:00", "All day"
    title: str  # "" when titles are hidden
    countdown: str  # "in 12 min", "now", "tomorrow"
    joinable: bool


def countdown(start: datetime, end: datetime, now: datetime) -> str:
    if start <= now < end:
        return "now"
    seconds = (start - now).total_seconds()
    if seconds < 60:
        return "in 1 min"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"in {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"in {hours} h {minutes:02d} min" if minutes else f"in {hours} h"
    return f"in {hours // 24} d"


def agenda(
    meetings: Sequence[Meeting],
    now: datetime,
    *,
    tz: tzinfo,
    count: int,
    show_titles: bool,
) -> list[AgendaItem]:
    """The next ``count`` meetings not over at ``now``, in the kiosk's time zone."""
    items: list[AgendaItem] = []
    for m in sorted((m for m in meetings if m.end > now), key=lambda m: (m.start, m.uid)):
        if len(items) >= count:
            break
        if m.all_day:
            when = "All day"
        else:
            start, end = m.start.astimezone(tz), m.end.astimezone(tz)
            day = "" if start.date() == now.astimezone(tz).date() else start.strftime("%a ")
            when = f"{day}{start:%H:%M}–{end:%H:%M}"
        title = (m.title or "Meeting") if show_titles else ""
        items.append(AgendaItem(when, title, countdown(m.start, m.end, now), m.joinable))
    return items
