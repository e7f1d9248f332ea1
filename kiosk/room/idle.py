"""When the display may sleep: a pure idle policy (no I/O, the caller passes ``now``).

The room is *busy* while a call is up (or being joined), while someone is present (occupancy
sensor), while a meeting is on, or when one starts within ``meeting_within``. After
``standby_after`` of not being busy, with no wake-up in between, the display goes to standby.
Wake-ups: a button, a remote command, presence, or the calendar's pre-roll (a meeting about to
start makes the room busy again). A remote command may also put the display to sleep at once;
it stays asleep until the next wake-up or until the room becomes busy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = ["DisplayMode", "IdleFacts", "IdlePolicy", "IdleSettings"]


class DisplayMode(StrEnum):
    ON = "on"
    STANDBY = "standby"


@dataclass(frozen=True, slots=True)
class IdleSettings:
    standby_after: timedelta = timedelta(minutes=10)
    meeting_within: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.standby_after <= timedelta(0) or self.meeting_within < timedelta(0):
            raise ValueError("standby_after must be positive and meeting_within not negative")


@dataclass(frozen=True, slots=True)
class IdleFacts:
    """``in_call``: in, joining or getting back to a call. ``present``: None without a sensor.
    ``next_start``/``meeting_on``: from the calendar (any meeting, joinable or not)."""

    in_call: bool = False
    present: bool | None = None
    meeting_on: bool = False
    next_start: datetime | None = None


class IdlePolicy:
    """Decides :class:`DisplayMode`; remembers the last activity and the reason for the mode."""

    def __init__(self, settings: IdleSettings, now: datetime) -> None:
        self.settings = settings
        self._last_activity = self._aware(now)
        self._forced_standby = False
        self.mode = DisplayMode.ON
        self.reason = "started"

    @staticmethod
    def _aware(now: datetime) -> datetime:
        if now.tzinfo is None:
            raise ValueError("the idle policy takes timezone-aware times only")
        return now

    def wake(self, now: datetime, reason: str) -> DisplayMode:
        """A button, a remote command or presence: wake now and restart the idle delay."""
        self._last_activity = max(self._last_activity, self._aware(now))
        self._forced_standby = False
        self.mode, self.reason = DisplayMode.ON, reason
        return self.mode

    def sleep(self, now: datetime, reason: str = "remote command") -> DisplayMode:
        """Standby at once (a remote command), unless the room is busy at the next decide."""
        self._aware(now)
        self._forced_standby = True
        self.mode, self.reason = DisplayMode.STANDBY, reason
        return self.mode

    def busy_reason(self, now: datetime, facts: IdleFacts) -> str | None:
        if facts.in_call:
            return "in a call"
        if facts.present:
            return "someone is in the room"
        if facts.meeting_on:
            return "a meeting is on"
        if facts.next_start is not None and facts.next_start - now <= self.settings.meeting_within:
            return "a meeting starts soon"
        return None

    def decide(self, now: datetime, facts: IdleFacts) -> DisplayMode:
        self._aware(now)
        busy = self.busy_reason(now, facts)
        if busy is not None:
            self._last_activity = max(self._last_activity, now)
            self._forced_standby = False
            self.mode, self.reason = DisplayMode.ON, busy
        elif self._forced_standby:
            pass
        elif now - self._last_activity >= self.settings.standby_after:
            minutes = self.settings.standby_after.total_seconds() / 60
            self.mode, self.reason = DisplayMode.STANDBY, f"idle for {minutes:g} min"
        return self.mode

    def standby_at(self) -> datetime:
        """When the display sleeps if nothing happens (for status and tests)."""
        return self._last_activity + self.settings.standby_after
