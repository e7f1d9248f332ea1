"""When to join and leave booked meetings: pure decisions from now, meetings and call facts.

No I/O, no clock: the caller passes ``now`` (timezone-aware) with every call and executes the
returned :data:`Decision`. The rules:

* **Join** a joinable meeting (one that names a session on this server) ``join_before`` before
  its start, and not after its end. When several are open, the one that starts first wins.
* **Leave** ``leave_after`` after the end of the meeting the scheduler joined — unless remote
  participants are still in the call: then leave once nobody remote has been there for
  ``empty_grace``. The scheduler never leaves a call it did not join.
* **Back to back**: when the joined meeting has ended and the next one is open, switch to it
  (stay, if it is the same session).
* **Empty room** (occupancy sensor, optional): leave a booked meeting once the room has been
  empty for ``leave_when_room_empty`` after the start, and do not rejoin it.
* **Override**: a button press (join or leave by hand) stops every automatic action until a
  meeting whose join window opens *after* the press — "until the next event".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kiosk.calendar.meetings import Meeting

__all__ = [
    "CallFacts",
    "Decision",
    "Join",
    "Leave",
    "ScheduleSettings",
    "Scheduler",
    "upcoming",
]


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    join_before: timedelta = timedelta(minutes=2)
    leave_after: timedelta = timedelta(minutes=5)
    empty_grace: timedelta = timedelta(minutes=2)
    leave_when_room_empty: timedelta | None = None

    def __post_init__(self) -> None:
        for name in ("join_before", "leave_after", "empty_grace"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the call side knows right now.

    ``session_id``: the session the kiosk is in, joining or getting back to (None: no call).
    ``remote_empty_since``: when the last remote participant left (None while someone is there).
    ``room_empty_since``: since when the occupancy sensor saw nobody (None: someone is there, or
    there is no sensor).
    """

    session_id: str | None = None
    remote_participants: int = 0
    remote_empty_since: datetime | None = None
    room_empty_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Join:
    """Join ``session_id`` for ``meeting``; ``switch``: leave the current session first."""

    session_id: str
    meeting: Meeting
    switch: bool = False


@dataclass(frozen=True, slots=True)
class Leave:
    reason: str
    meeting: Meeting | None = None


Decision = Join | Leave | None


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("the scheduler takes timezone-aware times only")
    return now


def upcoming(meetings: Sequence[Meeting], now: datetime, count: int) -> list[Meeting]:
    """The meetings not yet over at ``now``, by start, at most ``count`` (for the idle screen)."""
    _aware(now)
    return sorted((m for m in meetings if m.end > now), key=lambda m: (m.start, m.uid))[:count]


class Scheduler:
    """Remembers which meeting it joined and any override; decides one step at a time."""

    def __init__(self, settings: ScheduleSettings | None = None) -> None:
        self.settings = settings or ScheduleSettings()
        self._joined: Meeting | None = None
        self._override_since: datetime | None = None

    @property
    def joined(self) -> Meeting | None:
        """The meeting whose call the scheduler started (None: not in a booked call)."""
        return self._joined

    @property
    def override_since(self) -> datetime | None:
        return self._override_since

    def button(self, now: datetime) -> None:
        """A person joined or left by hand: no automatic action until the next meeting."""
        self._override_since = _aware(now)
        self._joined = None

    def opens_at(self, meeting: Meeting) -> datetime:
        return meeting.start - self.settings.join_before

    def _open(self, meetings: Sequence[Meeting], now: datetime) -> list[Meeting]:
        since = self._override_since
        found = [
            m
            for m in meetings
            if m.joinable
            and self.opens_at(m) <= now < m.end
            and (since is None or self.opens_at(m) > since)
        ]
        return sorted(found, key=lambda m: (m.start, m.end, m.uid))

    def pre_roll(self, meetings: Sequence[Meeting], now: datetime) -> bool:
        """True while a joinable meeting's join window is open (wakes the display)."""
        _aware(now)
        return any(m.joinable and self.opens_at(m) <= now < m.end for m in meetings)

    def decide(self, now: datetime, meetings: Sequence[Meeting], facts: CallFacts) -> Decision:
        _aware(now)
        open_now = self._open(meetings, now)
        if open_now and self._override_since is not None:
            self._override_since = None  # the next meeting is here: the override is over
        if self._override_since is not None:
            return None
        joined = self._joined
        if joined is not None and facts.session_id != joined.session_id:
            joined = self._joined = None  # the booked call ended (or was replaced) elsewhere
        if joined is not None:
            return self._in_booked_call(joined, now, open_now, facts)
        if not open_now:
            return None
        meeting = open_now[0]
        self._joined = meeting
        if facts.session_id == meeting.session_id:
            return None  # already in that session (joined by hand, or at start): adopt it
        assert meeting.session_id is not None
        return Join(meeting.session_id, meeting, switch=facts.session_id is not None)

    def _in_booked_call(
        self, joined: Meeting, now: datetime, open_now: list[Meeting], facts: CallFacts
    ) -> Decision:
        s = self.settings
        limit = s.leave_when_room_empty
        if limit is not None and facts.room_empty_since is not None and now >= joined.start:
            empty_from = max(facts.room_empty_since, joined.start)
            if now - empty_from >= limit:
                self.button(now)  # do not rejoin this meeting; the next one is joined again
                minutes = round(limit.total_seconds() / 60)
                return Leave(f"the room has been empty for {minutes} min", joined)
        if now < joined.end:
            return None
        following = [m for m in open_now if m.key != joined.key]
        if following:
            nxt = following[0]
            self._joined = nxt
            if nxt.session_id == joined.session_id:
                return None
            assert nxt.session_id is not None
            return Join(nxt.session_id, nxt, switch=True)
        leave_at = joined.end + s.leave_after
        if now < leave_at:
            return None
        if facts.remote_participants > 0:
            return None
        since = facts.remote_empty_since
        if since is not None and since > leave_at and now - since < s.empty_grace:
            return None
        self._joined = None
        return Leave("the meeting is over", joined)
