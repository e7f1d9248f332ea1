"""Sections of the optional services: the fleet link (MQTT), the room calendar, display standby
and the occupancy sensor. Each is off unless configured.
"""

from __future__ import annotations

import ssl
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from kiosk.config.base import Pin, Section
from kiosk.config.checks import (
    between,
    check_calendar_url,
    check_nonblank_path,
    check_timezone,
    fleet_check,
    pattern,
    problem,
    resolve_path,
)
from kiosk.fleet import settings as fleet_settings

Username = Annotated[
    str, AfterValidator(pattern(r"[\x21-\x7e]{1,128}", "1–128 printable ASCII characters"))
]
FilePath = Annotated[str, AfterValidator(check_nonblank_path)]


class MqttControlConfig(Section):
    """What the fleet console may do over MQTT (remote unmute and screenshots are off)."""

    join: bool = True
    leave: bool = True
    rejoin: bool = True
    next: bool = True
    mute: bool = True
    unmute: bool = False
    restart: bool = True
    screenshot: bool = False
    standby: bool = True


class MqttConfig(Section):
    """The fleet link: this room on an MQTT broker (off unless enabled)."""

    enabled: bool = False
    url: Annotated[str, AfterValidator(fleet_check(fleet_settings.parse_broker_url))] | None = None
    room_id: Annotated[str, AfterValidator(fleet_check(fleet_settings.check_room_id))] | None = None
    client_id: (
        Annotated[
            str, AfterValidator(pattern(r"[A-Za-z0-9_.-]{1,64}", "1–64 of A-Z a-z 0-9 _ . -"))
        ]
        | None
    ) = None
    username: Username | None = None
    password_file: FilePath | None = None
    ca_file: FilePath | None = None
    topic_prefix: (
        Annotated[str, AfterValidator(fleet_check(fleet_settings.check_topic_prefix))] | None
    ) = None
    discovery: bool = True
    discovery_prefix: Annotated[
        str, AfterValidator(fleet_check(fleet_settings.check_topic_prefix))
    ] = fleet_settings.DEFAULT_DISCOVERY_PREFIX
    state_interval_seconds: Annotated[float, AfterValidator(between(5, 60, unit=" s"))] = 60.0
    keepalive_seconds: Annotated[int, AfterValidator(between(5, 600, unit=" s"))] = 30
    control: MqttControlConfig = Field(default_factory=MqttControlConfig)

    @field_validator("password_file")
    @classmethod
    def _absolute_password_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, info)

    @field_validator("ca_file")
    @classmethod
    def _readable_mqtt_ca_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        path = resolve_path(value, info)
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError, ValueError):
            raise problem(
                f"expected a readable PEM file of CA certificates, got {path!r}"
            ) from None
        return path


Minutes = Annotated[float, AfterValidator(between(0, 240, unit=" min"))]


class CalendarConfig(Section):
    """The room calendar (off unless ``url`` is set): join booked meetings, show the agenda."""

    source: Literal["ics", "caldav"] = "ics"
    url: Annotated[str, AfterValidator(check_calendar_url)] | None = None
    username: Username | None = None
    password_file: FilePath | None = None
    verify_tls: bool = True
    ca_file: FilePath | None = None
    timeout_seconds: Annotated[float, AfterValidator(between(1, 120, unit=" s"))] = 10.0
    refresh_seconds: Annotated[float, AfterValidator(between(10, 86400, unit=" s"))] = 300.0
    join_before_minutes: Annotated[float, AfterValidator(between(0, 60, unit=" min"))] = 2.0
    leave_after_minutes: Minutes = 5.0
    empty_grace_minutes: Annotated[float, AfterValidator(between(0, 60, unit=" min"))] = 2.0
    timezone: Annotated[str, AfterValidator(check_timezone)] | None = None
    show_titles: bool = True
    agenda_count: Annotated[int, AfterValidator(between(0, 10))] = 3
    lookahead_hours: Annotated[float, AfterValidator(between(1, 24 * 14, unit=" h"))] = 48.0

    @field_validator("password_file", "ca_file")
    @classmethod
    def _absolute_paths(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, info)

    @property
    def enabled(self) -> bool:
        return self.url is not None


class StandbyConfig(Section):
    """Display standby when the room is idle (off unless enabled)."""

    enabled: bool = False
    after_minutes: Annotated[float, AfterValidator(between(0.1, 1440, unit=" min"))] = 10.0
    meeting_within_minutes: Minutes = 15.0
    method: Literal["auto", "cec", "backlight", "black"] = "auto"
    cec_device: (
        Annotated[str, AfterValidator(pattern(r"/dev/cec[0-9]+", "a CEC device such as /dev/cec0"))]
        | None
    ) = None
    backlight: (
        Annotated[
            str,
            AfterValidator(pattern(r"/sys/class/backlight/[^\s/]+", "/sys/class/backlight/<name>")),
        ]
        | None
    ) = None


class OccupancyConfig(Section):
    """An optional PIR sensor: presence wakes the display; optionally leaves empty meetings."""

    pin: Pin | None = None
    pull_up: bool = False
    hold_minutes: Annotated[float, AfterValidator(between(0.1, 120, unit=" min"))] = 5.0
    leave_empty_minutes: Annotated[float, AfterValidator(between(1, 240, unit=" min"))] | None = (
        None
    )
