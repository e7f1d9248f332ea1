"""Keeps the room's schedule current: read the calendar on an interval, back off on failure.

A calendar that cannot be read keeps the last good schedule, and :meth:`CalendarService.status`
says so (``ok: false``, the error line, when it was last read). Parsing runs in a worker thread
(a large calendar must not stall the loop); the result replaces the schedule in one assignment.
The wall clock and the sleep are injected, so tests drive it without waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from kiosk.app.backoff import Backoff
from kiosk.calendar.ics import parse_calendars
from kiosk.calendar.meetings import Meeting
from kiosk.calendar.sources import CalendarSource
from kiosk.errors import CalendarError

__all__ = ["CalendarService", "RefreshSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefreshSettings:
    host: str
    """This kiosk's server host (events linking elsewhere are never joined)."""
    tz: tzinfo
    """Zone for floating times and all-day dates."""
    interval: float = 300.0
    """Seconds between reads while the calendar answers."""
    retry_initial: float = 10.0
    retry_cap: float = 300.0
    lookbehind: timedelta = timedelta(hours=12)
    lookahead: timedelta = timedelta(days=2)


@dataclass(slots=True)
class _State:
    meetings: tuple[Meeting, ...] = ()
    last_ok: datetime | None = None
    error: str | None = None
    reads: int = 0
    failures: int = 0
    next_delay: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class CalendarService:
    """Owns the schedule (the list of meetings); one instance per kiosk."""

    def __init__(
        self,
        source: CalendarSource,
        settings: RefreshSettings,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff: Backoff | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff or Backoff(
            initial=settings.retry_initial, cap=max(settings.retry_cap, settings.retry_initial)
        )
        self._state = _State()

    @property
    def meetings(self) -> tuple[Meeting, ...]:
        """The last good schedule (empty until the first successful read)."""
        return self._state.meetings

    @property
    def ok(self) -> bool:
        return self._state.last_ok is not None and self._state.error is None

    @property
    def changed(self) -> asyncio.Event:
        """Set after every read (good or bad); the consumer clears it."""
        return self._state.changed

    async def refresh(self) -> float:
        """Read the calendar once; return the seconds to wait before the next read."""
        st = self._state
        now = self._clock()
        start, end = now - self.settings.lookbehind, now + self.settings.lookahead
        st.reads += 1
        try:
            texts = await self.source.fetch(start, end)
            meetings = await asyncio.to_thread(
                parse_calendars,
                texts,
                host=self.settings.host,
                start=start,
                end=end,
                tz=self.settings.tz,
            )
        except Exception as exc:  # a CalendarError, or a bug in a parser on odd input
            if not isinstance(exc, CalendarError):
                log.debug("calendar read failed", exc_info=True)
                exc = CalendarError(
                    f"{self.source.label}: could not be read ({type(exc).__name__})"
                )
            st.failures += 1
            first = st.error is None
            st.error = exc.message
            delay = self._backoff.next()
            kept = f"keeping {len(st.meetings)} meetings from the last good read"
            if first:
                log.warning("%s; %s; retry in %.0f s", exc.message, kept, delay)
            else:
                log.debug("%s; retry in %.0f s", exc.message, delay)
            st.next_delay = delay
        else:
            if st.error is not None:
                log.info("%s answers again: %d meetings", self.source.label, len(meetings))
            elif st.last_ok is None:
                log.info("%s: %d meetings", self.source.label, len(meetings))
            st.meetings = tuple(meetings)
            st.last_ok = now
            st.error = None
            self._backoff.reset()
            st.next_delay = self.settings.interval
        st.changed.set()
        return st.next_delay

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Refresh until cancelled (or ``stop`` is set)."""
        while stop is None or not stop.is_set():
            delay = await self.refresh()
            if stop is None:
                await self._sleep(delay)
                continue
            sleeper = asyncio.ensure_future(self._sleep(delay))
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                stopper.cancel()

    def status(self, now: datetime, *, show_titles: bool, count: int = 3) -> dict[str, Any]:
        """The calendar part of /status: whether it reads, since when, the next meetings."""
        st = self._state
        upcoming = sorted((m for m in st.meetings if m.end > now), key=lambda m: m.start)
        return {
            "source": self.source.label,
            "ok": self.ok,
            "error": st.error,
            "last_read": st.last_ok.isoformat() if st.last_ok else None,
            "stale": st.error is not None and st.last_ok is not None,
            "meetings": len(st.meetings),
            "next": [
                {
                    "start": m.start.isoformat(),
                    "end": m.end.isoformat(),
                    "title": m.title if show_titles else None,
                    "session": m.session_id,
                    "joinable": m.joinable,
                }
                for m in upcoming[:count]
            ],
        }
