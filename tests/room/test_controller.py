"""The room controller: calendar + scheduler + idle policy + occupancy + display switch, driven
with a fixed clock, a fake calendar source and a command recorder for cec-ctl."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from kiosk.app.room_settings import build_room
from kiosk.calendar.agenda import countdown
from kiosk.calendar.scheduler import Join, Leave
from kiosk.config import parse_config
from kiosk.room.controller import RoomController
from kiosk.room.idle import DisplayMode
from kiosk.room.power import CecPower, CommandResult, RecordingRunner

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def ics(start: datetime, end: datetime, location: str) -> bytes:
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:m1\r\n"
        f"DTSTAMP:{start:{stamp}}\r\nDTSTART:{start:{stamp}}\r\nDTEND:{end:{stamp}}\r\n"
        f"SUMMARY:Weekly review\r\nLOCATION:{location}\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:m2\r\n"
        f"DTSTAMP:{start:{stamp}}\r\nDTSTART:{end + 60 * MIN:{stamp}}\r\n"
        f"DTEND:{end + 90 * MIN:{stamp}}\r\nSUMMARY:Lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


class Source:
    label = "calendar https://cal.example.org"

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def fetch(self, start: datetime, end: datetime) -> list[bytes]:
        return [self.body]


def config(**sections: Any) -> Any:
    data: dict[str, Any] = {
        "server": {"url": "https://meet.example.org:4443", "secret": "s"},
        "session": {"id": "lobby", "auto_join": False},
        "calendar": {"url": "https://cal.example.org/room.ics", "timezone": "UTC"},
        "standby": {
            "enabled": True,
            "after_minutes": 10,
            "meeting_within_minutes": 15,
            "method": "cec",
            "cec_device": "/dev/cec0",
        },
        "occupancy": {"pin": 23, "hold_minutes": 5, "leave_empty_minutes": 20},
    }
    data.update(sections)
    return parse_config(yaml.safe_dump(data))


async def make(now: datetime, runner: RecordingRunner, body: bytes) -> RoomController:
    room = build_room(
        config(), now=now, clock=lambda: now, runner=runner, source=Source(body), env={}
    )
    assert room.calendar is not None
    await room.calendar.refresh()
    return room


async def test_a_day_in_the_room() -> None:
    runner = RecordingRunner(results={"--playback": CommandResult(0, "Physical Address : 1.0.0.0")})
    meeting_start = T0 + 60 * MIN
    body = ics(meeting_start, meeting_start + 30 * MIN, "https://meet.example.org/#/weekly")
    room = await make(T0, runner, body)
    assert isinstance(room.power, CecPower)

    # 09:00 nobody there, meeting at 10:00: after 10 idle minutes the display sleeps.
    step = room.step(T0 + 10 * MIN)
    assert step.decision is None and step.display is DisplayMode.STANDBY
    assert await room.apply_display(step.display)
    assert runner.calls[-1][-1] == "--standby"
    assert room.status(T0 + 10 * MIN)["display"]["mode"] == "standby"

    # 09:45 the meeting is 15 minutes away: the display wakes (calendar pre-roll).
    step = room.step(T0 + 45 * MIN)
    assert step.display is DisplayMode.ON
    await room.apply_display(step.display)
    assert ("--image-view-on" in runner.calls[-2]) and ("--active-source" in runner.calls[-1])

    # 09:58 join (join_before 2 min), into the session named by the link.
    step = room.step(T0 + 58 * MIN)
    assert isinstance(step.decision, Join) and step.decision.session_id == "weekly"
    room.call_update("weekly", 0, T0 + 58 * MIN)
    room.call_update("weekly", 2, T0 + 61 * MIN)
    room.motion(True, T0 + 61 * MIN)
    assert room.call_seconds(T0 + 70 * MIN) == 12 * 60

    # The meeting ends at 10:30; two remote people stay until 10:50 (and someone in the room).
    assert room.step(T0 + 95 * MIN).decision is None
    room.call_update("weekly", 0, T0 + 110 * MIN)
    assert room.step(T0 + 111 * MIN).decision is None  # empty_grace 2 min
    step = room.step(T0 + 112 * MIN)
    assert isinstance(step.decision, Leave)
    room.call_update(None, 0, T0 + 112 * MIN)
    room.motion(False, T0 + 112 * MIN)

    status = room.status(T0 + 112 * MIN)
    assert status["calendar"]["ok"] is True
    assert [n["title"] for n in status["calendar"]["next"]] == ["Lunch"]
    assert status["occupancy"]["present"] is True  # within hold_minutes of the last motion
    items = room.agenda(T0 + 112 * MIN)
    assert [(i.when, i.title, i.joinable) for i in items] == [("11:30–12:00", "Lunch", False)]


async def test_empty_room_leaves_the_booked_meeting() -> None:
    runner = RecordingRunner()
    start = T0 + 5 * MIN
    room = await make(T0, runner, ics(start, start + 60 * MIN, "https://meet.example.org/#/r1"))
    assert isinstance(room.step(T0 + 3 * MIN).decision, Join)
    room.call_update("r1", 3, T0 + 3 * MIN)
    # nobody ever entered the room: 20 minutes after the start the kiosk leaves
    assert room.step(start + 19 * MIN).decision is None
    step = room.step(start + 20 * MIN)
    assert isinstance(step.decision, Leave) and "empty" in step.decision.reason
    room.call_update(None, 0, start + 20 * MIN)
    assert room.step(start + 21 * MIN).decision is None


async def test_button_during_standby_wakes_and_overrides() -> None:
    runner = RecordingRunner()
    start = T0 + 5 * MIN
    room = await make(T0, runner, ics(start, start + 60 * MIN, "https://meet.example.org/#/r1"))
    room.button(T0 + 4 * MIN)
    assert room.step(T0 + 6 * MIN).decision is None  # the press overrides this meeting


def test_countdown_texts() -> None:
    assert countdown(T0 + 30 * 1000 * timedelta(microseconds=1), T0 + MIN, T0) == "in 1 min"
    assert countdown(T0 + 12 * MIN, T0 + 20 * MIN, T0) == "in 12 min"
    assert countdown(T0 + 90 * MIN, T0 + 99 * MIN, T0) == "in 1 h 30 min"
    assert countdown(T0 - MIN, T0 + MIN, T0) == "now"
    assert countdown(T0 + 50 * 60 * MIN, T0 + 51 * 60 * MIN, T0) == "in 2 d"


def test_call_duration_counts_from_the_call_being_up() -> None:
    room = RoomController(now=T0, tz=UTC)
    room.call_update("r1", 0, T0, in_call=False)  # joining
    assert room.call_seconds(T0 + MIN) is None
    room.call_update("r1", 2, T0 + MIN, in_call=True)
    assert room.call_seconds(T0 + 3 * MIN) == 120
    room.call_update(None, 0, T0 + 4 * MIN, in_call=False)
    assert room.call_seconds(T0 + 5 * MIN) is None


def test_check_config_reads_the_calendar_password_file(tmp_path: Any) -> None:
    from kiosk.config import check_config

    cfg = tmp_path / "kiosk.yaml"
    missing = tmp_path / "calendar-password"
    cfg.write_text(
        yaml.safe_dump(
            {
                "server": {"url": "https://meet.example.org", "secret": "s"},
                "session": {"id": "lobby"},
                "calendar": {
                    "url": "https://cal.example.org/room/",
                    "source": "caldav",
                    "username": "room",
                    "password_file": str(missing),
                },
            }
        )
    )
    code, lines = check_config(cfg, env={}, unit=None, devices=False)
    assert code == 2 and "calendar.password_file" in lines[0] and "no such file" in lines[0]
    missing.write_text("pa55word\n")
    assert check_config(cfg, env={}, unit=None, devices=False) == (0, ["OK"])
