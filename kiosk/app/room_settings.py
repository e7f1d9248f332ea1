"""Map the validated ``calendar``, ``standby`` and ``occupancy`` sections onto the room modules'
settings, once at start, and build the :class:`~kiosk.room.controller.RoomController`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from kiosk.calendar.links import server_host
from kiosk.calendar.scheduler import Scheduler, ScheduleSettings
from kiosk.calendar.service import CalendarService, RefreshSettings
from kiosk.calendar.sources import CalDavSource, CalendarSource, HttpSettings, IcsSource
from kiosk.config import KioskConfig, resolve_calendar_password
from kiosk.room.controller import RoomController
from kiosk.room.idle import IdlePolicy, IdleSettings
from kiosk.room.occupancy import Occupancy, PirSpec
from kiosk.room.power import CommandRunner, SubprocessRunner, choose_display_power

__all__ = ["build_room", "calendar_source", "local_zone", "pir_spec", "schedule_settings"]


def local_zone(config: KioskConfig) -> tzinfo:
    """``calendar.timezone``, else the system's zone."""
    if config.calendar.timezone:
        return ZoneInfo(config.calendar.timezone)
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def schedule_settings(config: KioskConfig) -> ScheduleSettings:
    cal, occ = config.calendar, config.occupancy
    return ScheduleSettings(
        join_before=timedelta(minutes=cal.join_before_minutes),
        leave_after=timedelta(minutes=cal.leave_after_minutes),
        empty_grace=timedelta(minutes=cal.empty_grace_minutes),
        leave_when_room_empty=(
            timedelta(minutes=occ.leave_empty_minutes)
            if occ.leave_empty_minutes is not None and occ.pin is not None
            else None
        ),
    )


def calendar_source(
    config: KioskConfig, env: Mapping[str, str] = os.environ, **kw: Any
) -> CalendarSource | None:
    cal = config.calendar
    if cal.url is None:
        return None
    settings = HttpSettings(
        url=cal.url,
        username=cal.username,
        password=resolve_calendar_password(cal, env),
        verify_tls=cal.verify_tls,
        ca_file=cal.ca_file,
        timeout=cal.timeout_seconds,
    )
    return CalDavSource(settings, **kw) if cal.source == "caldav" else IcsSource(settings, **kw)


def pir_spec(config: KioskConfig) -> PirSpec | None:
    occ = config.occupancy
    return None if occ.pin is None else PirSpec(pin=occ.pin, pull_up=occ.pull_up)


def build_room(
    config: KioskConfig,
    *,
    now: datetime,
    clock: Any,
    env: Mapping[str, str] = os.environ,
    runner: CommandRunner | None = None,
    source: CalendarSource | None = None,
) -> RoomController:
    """The controller for this config; ``clock()`` returns the aware wall time."""
    tz = local_zone(config)
    cal = config.calendar
    calendar = None
    scheduler = None
    src = source or calendar_source(config, env)
    if src is not None:
        calendar = CalendarService(
            src,
            RefreshSettings(
                host=server_host(config.server.url),
                tz=tz,
                interval=cal.refresh_seconds,
                lookahead=timedelta(hours=cal.lookahead_hours),
            ),
            clock=clock,
        )
        scheduler = Scheduler(schedule_settings(config))
    idle = power = None
    if config.standby.enabled:
        st = config.standby
        idle = IdlePolicy(
            IdleSettings(
                standby_after=timedelta(minutes=st.after_minutes),
                meeting_within=timedelta(minutes=st.meeting_within_minutes),
            ),
            now,
        )
        power = choose_display_power(
            st.method,
            runner=runner or SubprocessRunner(),
            cec_device=st.cec_device,
            backlight=st.backlight,
        )
    occupancy = None
    if config.occupancy.pin is not None:
        occupancy = Occupancy(timedelta(minutes=config.occupancy.hold_minutes), now)
    return RoomController(
        now=now,
        tz=tz,
        scheduler=scheduler,
        calendar=calendar,
        idle=idle,
        power=power,
        occupancy=occupancy,
        show_titles=cal.show_titles,
        agenda_count=cal.agenda_count,
    )
