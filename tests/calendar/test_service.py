"""Refresh with backoff; a calendar that cannot be read keeps the last good schedule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiosk.app.backoff import Backoff
from kiosk.calendar.service import CalendarService, RefreshSettings
from kiosk.errors import CalendarError

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)


class FlakySource:
    label = "calendar https://cal.example.org"

    def __init__(self) -> None:
        self.fail = False
        self.windows: list[tuple[datetime, datetime]] = []

    async def fetch(self, start: datetime, end: datetime) -> list[bytes]:
        self.windows.append((start, end))
        if self.fail:
            raise CalendarError(f"{self.label} did not answer within 10 s")
        return [(FIXTURES / "mixed.ics").read_bytes()]


async def test_failure_keeps_the_last_good_schedule_and_backs_off() -> None:
    source = FlakySource()
    service = CalendarService(
        source,
        RefreshSettings(
            host="meet.example.org", tz=UTC, interval=300, retry_initial=10, retry_cap=80
        ),
        clock=lambda: NOW,
        backoff=Backoff(initial=10, cap=80, jitter=0, rng=random.Random(1)),
    )
    assert await service.refresh() == 300
    good = service.meetings
    assert len(good) == 6 and service.ok
    assert source.windows[0] == (NOW - timedelta(hours=12), NOW + timedelta(days=2))

    source.fail = True
    delays = [await service.refresh() for _ in range(5)]
    assert delays == [10, 20, 40, 80, 80]
    assert service.meetings == good
    status = service.status(NOW, show_titles=False)
    assert status["ok"] is False and status["stale"] is True
    assert "did not answer" in status["error"]
    assert status["last_read"] == NOW.isoformat()
    assert all(item["title"] is None for item in status["next"])

    source.fail = False
    assert await service.refresh() == 300
    assert service.status(NOW, show_titles=True)["next"][0]["title"] == "Company holiday"
    assert service.ok


async def test_never_read_says_so() -> None:
    source = FlakySource()
    source.fail = True
    service = CalendarService(source, RefreshSettings(host="h", tz=UTC), clock=lambda: NOW)
    await service.refresh()
    status = service.status(NOW, show_titles=True)
    assert status == {
        "source": "calendar https://cal.example.org",
        "ok": False,
        "error": "calendar https://cal.example.org did not answer within 10 s",
        "last_read": None,
        "stale": False,
        "meetings": 0,
        "next": [],
    }


async def test_an_unexpected_parser_failure_is_a_calendar_error_not_a_dead_task() -> None:
    class Broken:
        label = "calendar https://cal.example.org"

        async def fetch(self, start: datetime, end: datetime) -> list[bytes]:
            raise RuntimeError("boom")

    service = CalendarService(
        Broken(), RefreshSettings(host="h", tz=UTC, retry_initial=10), clock=lambda: NOW
    )
    delay = await service.refresh()
    assert 8 <= delay <= 10
    assert service.status(NOW, show_titles=True)["error"] == (
        "calendar https://cal.example.org: could not be read (RuntimeError)"
    )
