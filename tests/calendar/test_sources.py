"""ICS and CalDAV sources: bounded reads, errors as one line, a real Radicale on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from kiosk.calendar.ics import parse_calendars
from kiosk.calendar.sources import CalDavSource, HttpSettings, IcsSource, parse_multistatus
from kiosk.errors import CalendarError
from tests.calendar.radicale_server import PASSWORD, USER, Radicale, running_radicale

FIXTURES = Path(__file__).parent / "fixtures"
BERLIN = ZoneInfo("Europe/Berlin")
SECRET_PATH = "/private/s3cr3t-calendar-path/basic.ics"


async def test_ics_source_reads_the_file() -> None:
    body = (FIXTURES / "weekly.ics").read_bytes()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body)

    source = IcsSource(
        HttpSettings(url="https://cal.example.org" + SECRET_PATH),
        transport=httpx.MockTransport(handler),
    )
    (text,) = await source.fetch(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert text == body
    assert seen[0].method == "GET"
    assert source.label == "calendar https://cal.example.org"


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "refused the credentials"), (404, "no calendar"), (500, "HTTP 500")],
)
async def test_http_errors_are_one_line_without_path_or_password(status: int, words: str) -> None:
    source = IcsSource(
        HttpSettings(
            url="https://cal.example.org" + SECRET_PATH,
            username="room",
            password="hunter2-very-secret",
        ),
        transport=httpx.MockTransport(lambda r: httpx.Response(status, text="nope")),
    )
    with pytest.raises(CalendarError) as info:
        await source.fetch(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    text = str(info.value)
    assert words in text
    assert "s3cr3t" not in text and "hunter2" not in text and "\n" not in text


async def test_too_large_answer_is_refused_without_reading_it_all() -> None:
    chunks_sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for _ in range(1000):
            chunks_sent += 1
            yield b"x" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=stream())

    source = IcsSource(
        HttpSettings(url="https://cal.example.org/a.ics", max_bytes=256 * 1024),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(CalendarError, match="larger than 256 KiB"):
        await source.fetch(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert chunks_sent < 10


async def test_unreachable_is_a_calendar_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    source = CalDavSource(
        HttpSettings(url="http://127.0.0.1:9/cal/"), transport=httpx.MockTransport(handler)
    )
    with pytest.raises(CalendarError, match=r"cannot read calendar http://127\.0\.0\.1:9"):
        await source.fetch(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def test_multistatus_with_a_doctype_is_refused() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        b'<D:multistatus xmlns:D="DAV:">&a;</D:multistatus>'
    )
    with pytest.raises(CalendarError, match="DOCTYPE"):
        parse_multistatus(body, "calendar x")
    with pytest.raises(CalendarError, match="not XML"):
        parse_multistatus(b"<<<", "calendar x")


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    with running_radicale(tmp_path) as server:
        yield server


OTHER = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//kiosk tests//EN\r
BEGIN:VEVENT\r
UID:partner@example.org\r
DTSTAMP:20260201T080000Z\r
DTSTART:20260324T150000Z\r
DTEND:20260324T160000Z\r
SUMMARY:Partner call\r
LOCATION:https://other.example.com/#/team-sync\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.mark.integration  # a real Radicale child process
async def test_caldav_source_reads_a_real_radicale(radicale: Radicale) -> None:
    url = radicale.make_calendar("room-4-12")
    radicale.put(url, "team-sync.ics", (FIXTURES / "weekly.ics").read_bytes())
    radicale.put(url, "partner.ics", OTHER)
    source = CalDavSource(HttpSettings(url=url, username=USER, password=PASSWORD))

    start, end = datetime(2026, 3, 20, tzinfo=BERLIN), datetime(2026, 3, 27, tzinfo=BERLIN)
    texts = await source.fetch(start, end)
    meetings = parse_calendars(texts, host="meet.example.org", start=start, end=end, tz=BERLIN)
    # The series' only occurrence that week is the moved one (23rd → 24th 14:00).
    assert [(m.title, m.start.astimezone(BERLIN).hour, m.session_id) for m in meetings] == [
        ("Team sync (moved)", 14, "team-sync"),
        ("Partner call", 16, None),
    ]
    assert meetings[1].link == "other-server"

    # A window without any occurrence: the time-range filter leaves the partner call out.
    start, end = datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 4, 1, tzinfo=BERLIN)
    meetings = parse_calendars(
        await source.fetch(start, end), host="meet.example.org", start=start, end=end, tz=BERLIN
    )
    assert [m.start.astimezone(UTC).hour for m in meetings] == [8]  # 10:00 CEST after DST


@pytest.mark.integration  # a real Radicale child process
async def test_caldav_wrong_password_and_missing_collection(radicale: Radicale) -> None:
    url = radicale.make_calendar("room")
    wrong = CalDavSource(HttpSettings(url=url, username=USER, password="wrong-password"))
    with pytest.raises(CalendarError, match="refused the credentials") as info:
        await wrong.fetch(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert "wrong-password" not in str(info.value)
    missing = CalDavSource(
        HttpSettings(url=radicale.collection("nope"), username=USER, password=PASSWORD)
    )
    with pytest.raises(CalendarError):
        await missing.fetch(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
