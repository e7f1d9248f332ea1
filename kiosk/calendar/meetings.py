"""One meeting occurrence as the kiosk sees it, and the bounds on calendar input.

Times are always timezone-aware (``datetime`` with ``tzinfo``); constructing a :class:`Meeting`
with a naive time raises ``ValueError`` so that naive and aware times can never be mixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "MAX_DESCRIPTION_SCAN",
    "MAX_EVENTS",
    "MAX_RESPONSE_BYTES",
    "MAX_TITLE",
    "LinkKind",
    "Meeting",
    "clean_text",
]

MAX_RESPONSE_BYTES = 4 * 1024 * 1024
"""Largest calendar response read (ICS file or CalDAV REPORT); more is an error, not a cut."""
MAX_EVENTS = 500
"""Most occurrences kept from one read (the earliest ones in the window)."""
MAX_TITLE = 120
"""Longest title kept (characters); longer titles end in an ellipsis."""
MAX_DESCRIPTION_SCAN = 16 * 1024
"""Only the first characters of LOCATION / URL / DESCRIPTION are searched for a link."""

LinkKind = Literal["this-server", "other-server", "none"]


def clean_text(text: object, limit: int = MAX_TITLE) -> str:
    """A one-line, bounded, printable version of a calendar text (controls become spaces)."""
    raw = str(text)[: limit * 4]
    printable = "".join(" " if (ord(c) < 32 or 127 <= ord(c) < 160) else c for c in raw)
    line = " ".join(printable.split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


@dataclass(frozen=True, slots=True)
class Meeting:
    """One occurrence of a calendar event.

    ``session_id`` is set only when the event links to this kiosk's server (or names a session
    with ``X-KIOSK-SESSION``); ``link`` says which kind of link was found. All-day events are
    shown but never joined (``joinable`` is False).
    """

    uid: str
    start: datetime
    end: datetime
    title: str
    all_day: bool = False
    session_id: str | None = None
    link: LinkKind = "none"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Meeting times must be timezone-aware")
        if self.end < self.start:
            raise ValueError("Meeting ends before it starts")

    @property
    def joinable(self) -> bool:
        return self.session_id is not None and not self.all_day

    @property
    def key(self) -> tuple[str, datetime]:
        """Identifies one occurrence (a series shares its UID)."""
        return (self.uid, self.start)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end
