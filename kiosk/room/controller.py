"""The room's logic in one place: calendar schedule, idle policy, occupancy and display power.

:class:`RoomController` composes the pure parts (:class:`~kiosk.calendar.scheduler.Scheduler`,
:class:`~kiosk.room.idle.IdlePolicy`, :class:`~kiosk.room.occupancy.Occupancy`) with the last
good calendar schedule and the display switch. The app calls :meth:`step` on a timer (and after
call events) with the facts of the call, executes the returned join/leave decision through the
call machine, and awaits :meth:`apply_display`. Every input carries ``now`` (aware).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from kiosk.calendar.agenda import AgendaItem, agenda
from kiosk.calendar.meetings import Meeting
from kiosk.calendar.scheduler import CallFacts, Decision, Scheduler
from kiosk.calendar.service import CalendarService
from kiosk.room.idle import DisplayMode, IdleFacts, IdlePolicy
from kiosk.room.occupancy import Occupancy
from kiosk.room.power import DisplayPower

__all__ = ["RoomController", "RoomStep"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoomStep:
    decision: Decision
    display: DisplayMode


class RoomController:
    def __init__(
        self,
        *,
        now: datetime,
        tz: tzinfo,
        scheduler: Scheduler | None = None,
        calendar: CalendarService | None = None,
        idle: IdlePolicy | None = None,
        power: DisplayPower | None = None,
        occupancy: Occupancy | None = None,
        show_titles: bool = True,
        agenda_count: int = 3,
    ) -> None:
        self.tz = tz
        self.scheduler = scheduler
        self.calendar = calendar
        self.idle = idle
        self.power = power
        self.occupancy = occupancy
        self.show_titles = show_titles
        self.agenda_count = agenda_count
        self._session: str | None = None
        self._remote = 0
        self._remote_empty_since: datetime | None = now
        self._call_since: datetime | None = None
        self._applied = DisplayMode.ON

    # --- inputs ---------------------------------------------------------------------------

    @property
    def meetings(self) -> Sequence[Meeting]:
        return self.calendar.meetings if self.calendar is not None else ()

    def call_update(
        self,
        session_id: str | None,
        remote_participants: int,
        now: datetime,
        *,
        in_call: bool | None = None,
    ) -> None:
        """The call side's facts: session in (or joining), how many remote participants, and
        whether the call is up (``in_call``; None: as soon as there is a session)."""
        if session_id != self._session:
            self._call_since = None
            self._remote_empty_since = now
        up = session_id is not None if in_call is None else in_call
        if not up:
            self._call_since = None
        elif self._call_since is None:
            self._call_since = now
        self._session = session_id
        if remote_participants > 0:
            self._remote_empty_since = None
        elif self._remote_empty_since is None:
            self._remote_empty_since = now
        self._remote = max(0, remote_participants)

    def call_seconds(self, now: datetime) -> float | None:
        """How long the call has been up (None: not in a call)."""
        return None if self._call_since is None else (now - self._call_since).total_seconds()

    def button(self, now: datetime) -> None:
        """Join/leave pressed (or a remote join/leave): overrides the calendar, wakes the screen."""
        if self.scheduler is not None:
            self.scheduler.button(now)
        self.wake(now, "button")

    def meeting_session(self, now: datetime) -> str | None:
        """The session of the booked meeting on now (join window open), for a join by hand."""
        if self.scheduler is None:
            return None
        for m in sorted(self.meetings, key=lambda m: m.start):
            if m.joinable and self.scheduler.opens_at(m) <= now < m.end:
                return m.session_id
        return None

    @property
    def has_standby(self) -> bool:
        """Whether the display can go to standby here (the standby section is enabled)."""
        return self.idle is not None

    def wake(self, now: datetime, reason: str) -> None:
        if self.idle is not None:
            self.idle.wake(now, reason)

    def sleep(self, now: datetime) -> None:
        if self.idle is not None:
            self.idle.sleep(now)

    def motion(self, active: bool, now: datetime) -> None:
        if self.occupancy is None:
            return
        arrived = self.occupancy.motion(active, now)
        if arrived:
            self.wake(now, "someone entered the room")

    # --- decisions ------------------------------------------------------------------------

    def facts(self, now: datetime) -> CallFacts:
        return CallFacts(
            session_id=self._session,
            remote_participants=self._remote,
            remote_empty_since=self._remote_empty_since if self._remote == 0 else None,
            room_empty_since=self.occupancy.empty_since(now) if self.occupancy else None,
        )

    def step(self, now: datetime) -> RoomStep:
        meetings = self.meetings
        decision: Decision = None
        if self.scheduler is not None:
            decision = self.scheduler.decide(now, meetings, self.facts(now))
        display = DisplayMode.ON
        if self.idle is not None:
            upcoming = [m for m in meetings if m.end > now]
            display = self.idle.decide(
                now,
                IdleFacts(
                    in_call=self._session is not None or decision is not None,
                    present=self.occupancy.present(now) if self.occupancy else None,
                    meeting_on=any(m.start <= now < m.end and not m.all_day for m in upcoming),
                    next_start=min(
                        (m.start for m in upcoming if m.start > now and not m.all_day),
                        default=None,
                    ),
                ),
            )
        return RoomStep(decision, display)

    async def apply_display(self, mode: DisplayMode) -> bool:
        """Switch the screen when ``mode`` changed; True when it did."""
        if self.power is None or mode is self._applied:
            return False
        self._applied = mode
        reason = self.idle.reason if self.idle is not None else ""
        log.info("display %s (%s) via %s", mode.value, reason, self.power.method)
        if mode is DisplayMode.STANDBY:
            await self.power.standby()
        else:
            await self.power.wake()
        return True

    @property
    def display_mode(self) -> DisplayMode:
        return self._applied

    # --- what the screen and /status show ---------------------------------------------------

    def agenda(self, now: datetime) -> list[AgendaItem]:
        return agenda(
            self.meetings, now, tz=self.tz, count=self.agenda_count, show_titles=self.show_titles
        )

    def status(self, now: datetime) -> dict[str, Any]:
        out: dict[str, Any] = {
            "display": {
                "mode": self._applied.value,
                "method": self.power.method if self.power else None,
                "reason": self.idle.reason if self.idle else None,
                "error": self.power.last_error if self.power else None,
            },
        }
        if self.occupancy is not None:
            empty = self.occupancy.empty_since(now)
            out["occupancy"] = {
                "present": self.occupancy.present(now),
                "empty_since": empty.isoformat() if empty else None,
            }
        if self.calendar is not None:
            cal = self.calendar.status(now, show_titles=self.show_titles)
            joined = self.scheduler.joined if self.scheduler else None
            cal["joined"] = (
                {"session": joined.session_id, "start": joined.start.isoformat()}
                if joined
                else None
            )
            cal["override"] = bool(self.scheduler and self.scheduler.override_since)
            out["calendar"] = cal
        return out
