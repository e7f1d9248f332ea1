"""Room features in ``kiosk run`` end to end on loopback: a calendar (ICS over HTTP) makes the
kiosk join the booked session on the dev server and leave at the end; a PIR sensor on gpiozero's
MockFactory wakes the display and an empty room leaves the meeting. The wall clock is the
test's (the kiosk's monotonic clock and the network are real)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.config import parse_config
from kiosk.devserver.server import DevServer
from kiosk.media.patches import Patches
from kiosk.openvidu.session_model import display_name_from_metadata
from kiosk.room.idle import DisplayMode
from kiosk.testing.rooms import dev_server
from kiosk.testing.waits import wait_until

pytestmark = pytest.mark.integration  # dev server with real media, the kiosk in a call

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class WallClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _ics(server_url: str, start: datetime, minutes: int, session: str) -> bytes:
    stamp = "%Y%m%dT%H%M%SZ"
    end = start + timedelta(minutes=minutes)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:kiosk-e2e\r\nBEGIN:VEVENT\r\nUID:e2e-1\r\n"
        f"DTSTAMP:{start:{stamp}}\r\nDTSTART:{start:{stamp}}\r\nDTEND:{end:{stamp}}\r\n"
        f"SUMMARY:Stand-up\r\nLOCATION:{server_url}/#/{session}\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:e2e-2\r\n"
        f"DTSTAMP:{start:{stamp}}\r\nDTSTART:{start + timedelta(hours=2):{stamp}}\r\n"
        f"DTEND:{start + timedelta(hours=3):{stamp}}\r\nSUMMARY:Partner call\r\n"
        "LOCATION:https://other.example.com/#/standup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@dataclass
class Setup:
    server: DevServer
    calendar_url: str
    served: list[int]


@pytest.fixture()
async def setup(loopback_ice: Patches) -> AsyncIterator[Setup]:
    async with dev_server() as server, _calendar(server) as (url, served):
        yield Setup(server, url, served)


@contextlib.asynccontextmanager
async def _calendar(
    server: DevServer, body: bytes | None = None
) -> AsyncIterator[tuple[str, list[int]]]:
    """The room's ICS calendar over HTTP on 127.0.0.1 (by default a stand-up on ``server``)."""
    served: list[int] = []

    async def room_ics(request: web.Request) -> web.Response:
        served.append(1)
        text = body or _ics(server.url, START + timedelta(minutes=10), 30, "standup")
        return web.Response(body=text, content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/cal/room.ics", room_ics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/cal/room.ics", served
    finally:
        await runner.cleanup()


def _config(url: str, calendar_url: str, extra: str = "") -> str:
    return f"""
server: {{url: "{url}", secret: MY_SECRET, timeout_seconds: 3}}
session: {{id: Lobby, name: "Room 4", auto_join: false}}
ice: {{host_addresses: ["127.0.0.1"], loopback_only: true}}
display: {{driver: dummy, size: 960x540, fullscreen: false, max_fps: 30, layout: gallery}}
media:
  camera: {{device: test-pattern}}
  microphone: {{device: test-tone}}
  speaker: {{device: none}}
status: {{listen: "127.0.0.1:0"}}
calendar: {{url: "{calendar_url}", join_before_minutes: 2, leave_after_minutes: 1,
            timezone: UTC}}
standby: {{enabled: true, after_minutes: 5, meeting_within_minutes: 3, method: black}}
{extra}
"""


def _state(kiosk: Kiosk) -> m.CallState:
    """The machine's state, read afresh (no narrowing from an earlier assert)."""
    return kiosk.machine.state


def _in_session(server: DevServer, session: str) -> set[str]:
    found = server.state.sessions.get(session)
    if found is None:
        return set()
    return {
        display_name_from_metadata(c.client_data or "")
        for c in found.connections.values()
        if c.status == "active"
    }


async def test_calendar_joins_the_booked_session_and_leaves_after_the_end(setup: Setup) -> None:
    wall = WallClock(START)
    kiosk = Kiosk(parse_config(_config(setup.server.url, setup.calendar_url)), wall_clock=wall)
    run = asyncio.create_task(kiosk.run())
    try:
        assert kiosk.room.calendar is not None
        await wait_until(lambda: kiosk.room.calendar.ok, 15, "the calendar read")  # type: ignore[union-attr]
        view = kiosk.room_view()
        assert view.state == "idle"
        assert [a[1] for a in view.agenda] == ["Stand-up", "Partner call"]
        assert view.agenda[0][2] == "in 10 min"

        # Nobody, no call, the meeting 10 min away: after 5 idle minutes the display sleeps.
        wall.now = START + timedelta(minutes=5, seconds=1)
        await wait_until(lambda: kiosk.room.display_mode is DisplayMode.STANDBY, 10, "standby")
        assert kiosk.room_view().standby

        # 3 min before the pre-roll wakes it; 2 min before the kiosk joins "standup".
        wall.now = START + timedelta(minutes=7, seconds=30)
        await wait_until(
            lambda: kiosk.room.display_mode is DisplayMode.ON, 10, "wake for the meeting"
        )
        assert kiosk.machine.state == m.CallState.IDLE
        wall.now = START + timedelta(minutes=8)
        await wait_until(lambda: kiosk.machine.state == m.CallState.IN_CALL, 20, "in call")
        assert "Room 4" in _in_session(setup.server, "standup")
        assert "Room 4" not in _in_session(setup.server, "Lobby")

        async with httpx.AsyncClient(base_url=kiosk.status_server.url, timeout=5) as http:  # type: ignore[union-attr]
            status = (await http.get("/status")).json()
            metrics = (await http.get("/metrics")).text
        assert status["session_id"] == "standup"
        assert status["calendar"]["ok"] is True
        assert status["calendar"]["joined"]["session"] == "standup"
        assert status["display"]["mode"] == "on"
        assert "kiosk_display_on 1" in metrics and "kiosk_calendar_ok 1" in metrics
        assert "cal/room.ics" not in str(status)  # the calendar's path is never shown
        view = kiosk.room_view()
        assert view.layout == "gallery"
        assert [t.name for t in view.tiles] == ["You"]  # display.gallery_self: true
        assert view.call_info.startswith("Room 4")

        # The meeting ends at 09:40; leave_after 1 min, nobody remote: the kiosk leaves.
        wall.now = START + timedelta(minutes=40, seconds=30)
        await asyncio.sleep(1.5)
        # mypy keeps the narrowing of the earlier assert across the await; the state moved on
        assert kiosk.machine.state == m.CallState.IN_CALL  # type: ignore[comparison-overlap]
        wall.now = START + timedelta(minutes=41)
        await wait_until(lambda: kiosk.machine.state == m.CallState.IDLE, 20, "left after the end")
        await wait_until(lambda: "Room 4" not in _in_session(setup.server, "standup"), 10, "gone")
        # The link to another server is shown, never followed.
        wall.now = START + timedelta(hours=2, minutes=5)
        await asyncio.sleep(1.5)
        assert kiosk.machine.state == m.CallState.IDLE
    finally:
        kiosk.post(m.Shutdown())
        code = await asyncio.wait_for(run, 10)
    assert code == 0


async def test_pir_wakes_the_display_and_an_empty_room_leaves_the_meeting(setup: Setup) -> None:
    wall = WallClock(START)
    extra = """
buttons: {pin_factory: mock}
occupancy: {pin: 23, hold_minutes: 1, leave_empty_minutes: 5}
"""
    kiosk = Kiosk(
        parse_config(_config(setup.server.url, setup.calendar_url, extra)), wall_clock=wall
    )
    run = asyncio.create_task(kiosk.run())
    try:
        await wait_until(
            lambda: kiosk.pir is not None and kiosk.pir.available, 10, "the PIR sensor"
        )
        assert kiosk.pir is not None
        pin = kiosk.pir._device.pin  # gpiozero MockPin behind MotionSensor
        assert kiosk.room.calendar is not None
        await wait_until(lambda: kiosk.room.calendar.ok, 15, "the calendar read")  # type: ignore[union-attr]

        wall.now = START + timedelta(minutes=5, seconds=1)
        await wait_until(lambda: kiosk.room.display_mode is DisplayMode.STANDBY, 10, "standby")
        pin.drive_high()  # someone walks in
        await wait_until(lambda: kiosk.room.display_mode is DisplayMode.ON, 10, "wake on presence")
        assert kiosk.status()["occupancy"]["present"] is True
        pin.drive_low()

        wall.now = START + timedelta(minutes=8)
        await wait_until(lambda: kiosk.machine.state == m.CallState.IN_CALL, 20, "in call")
        # Nobody in the room since 09:06 (last motion + 1 min hold); the meeting started 09:10:
        # 5 empty minutes after the start the kiosk leaves, and does not join it again.
        wall.now = START + timedelta(minutes=14, seconds=30)
        await asyncio.sleep(1.5)
        assert _state(kiosk) == m.CallState.IN_CALL
        wall.now = START + timedelta(minutes=15)
        await wait_until(lambda: kiosk.machine.state == m.CallState.IDLE, 20, "left the empty room")
        await wait_until(lambda: "Room 4" not in _in_session(setup.server, "standup"), 10, "gone")
        wall.now = START + timedelta(minutes=16)
        await asyncio.sleep(1.5)
        assert _state(kiosk) == m.CallState.IDLE
    finally:
        kiosk.post(m.Shutdown())
        code = await asyncio.wait_for(run, 10)
    assert code == 0


async def test_back_to_back_meetings_switch_sessions(loopback_ice: Patches) -> None:
    async with dev_server() as server:
        first = _ics(server.url, START + timedelta(minutes=10), 30, "standup")
        second = _ics(server.url, START + timedelta(minutes=40), 30, "review")
        # one calendar with both meetings: the second file's events appended to the first's
        events = second.split(b"BEGIN:VEVENT", 1)[1].replace(b"UID:e2e-", b"UID:e2e-b")
        body = first.replace(b"END:VCALENDAR\r\n", b"BEGIN:VEVENT" + events)
        async with _calendar(server, body) as (url, _served):
            wall = WallClock(START + timedelta(minutes=8))
            kiosk = Kiosk(parse_config(_config(server.url, url)), wall_clock=wall)
            run = asyncio.create_task(kiosk.run())
            try:
                await wait_until(lambda: _state(kiosk) == m.CallState.IN_CALL, 20, "in call")
                assert "Room 4" in _in_session(server, "standup")
                # 09:38: the review's join window is open, but the stand-up runs until 09:40.
                wall.now = START + timedelta(minutes=38)
                await asyncio.sleep(1.5)
                assert kiosk.session_id == "standup"
                wall.now = START + timedelta(minutes=40)
                await wait_until(
                    lambda: "Room 4" in _in_session(server, "review"), 30, "in the review"
                )
                await wait_until(lambda: _state(kiosk) == m.CallState.IN_CALL, 20, "in call")
                assert "Room 4" not in _in_session(server, "standup")
                assert kiosk.status()["calendar"]["joined"]["session"] == "review"
            finally:
                kiosk.post(m.Shutdown())
                code = await asyncio.wait_for(run, 10)
            assert code == 0
