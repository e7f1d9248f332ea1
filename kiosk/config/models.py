"""The pydantic models of the configuration file, one per section, and the cross checks.

The optional services' sections (mqtt, calendar, standby, occupancy) are in
:mod:`kiosk.config.services`; :class:`KioskConfig` here holds them all.

Defaults live here (e.g. the media devices of :class:`CameraConfig`, :class:`MicrophoneConfig` and
:class:`SpeakerConfig`); value checks come from :mod:`kiosk.config.checks`.
"""

from __future__ import annotations

import os
import ssl
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kiosk.config.base import Pin, Section
from kiosk.config.checks import (
    between,
    check_application_url,
    check_display_name,
    check_ip,
    check_listen,
    check_nonblank_path,
    check_secret,
    check_server_url,
    check_size,
    check_token,
    check_token_host,
    check_websocket_host,
    check_workers,
    pattern,
    problem,
    resolve_path,
    split_host_port,
)
from kiosk.config.services import CalendarConfig, MqttConfig, OccupancyConfig, StandbyConfig

# --- the models -----------------------------------------------------------------------------


class ServerConfig(Section):
    """Where the OpenVidu server is and how to get a token for the session."""

    url: Annotated[str, AfterValidator(check_server_url)]
    secret: Annotated[SecretStr, AfterValidator(check_secret)] | None = None
    secret_file: Annotated[str, AfterValidator(check_nonblank_path)] | None = None
    application_url: Annotated[str, AfterValidator(check_application_url)] | None = None
    token: Annotated[SecretStr, AfterValidator(check_token)] | None = None
    verify_tls: bool = True
    ca_file: Annotated[str, AfterValidator(check_nonblank_path)] | None = None
    websocket_host: str | None = None
    allow_token_hosts: list[Annotated[str, AfterValidator(check_token_host)]] = Field(
        default_factory=list
    )
    allow_http_secret: bool = False
    timeout_seconds: Annotated[float, AfterValidator(between(0, 120, lo_open=True, unit=" s"))] = (
        10.0
    )

    @field_validator("secret_file")
    @classmethod
    def _absolute_secret_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, info)

    @field_validator("ca_file")
    @classmethod
    def _readable_ca_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        path = resolve_path(value, info)
        if os.path.isdir(path):
            raise problem(f"expected a readable CA certificate file, got directory {path!r}")
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise problem(
                f"expected a readable CA certificate file, got {path!r} ({why})"
            ) from None
        try:
            ssl.create_default_context(cafile=path)
        except (ssl.SSLError, ValueError):
            raise problem(
                f"expected a PEM file of CA certificates, got {path!r} "
                "(no valid PEM certificate in it)"
            ) from None
        return path

    @field_validator("websocket_host")
    @classmethod
    def _websocket_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_websocket_host(value)

    @model_validator(mode="after")
    def _one_token_source(self) -> ServerConfig:
        chosen = self.token_sources()
        if len(chosen) > 1:
            raise problem(
                "expected at most one of secret, secret_file, application_url, token, got "
                + " and ".join(chosen)
            )
        return self

    def token_sources(self) -> list[str]:
        """Names of the configured token sources (at most one after validation)."""
        names = ("secret", "secret_file", "application_url", "token")
        return [name for name in names if getattr(self, name) is not None]

    @property
    def token_mode(self) -> Literal["secret", "application", "token"]:
        """How to get a token: REST API with the secret, an application server, or fixed."""
        if self.token is not None:
            return "token"
        if self.application_url is not None:
            return "application"
        return "secret"

    @property
    def websocket_host_port(self) -> tuple[str, int | None] | None:
        """``websocket_host`` split into (host, port or None); host keeps IPv6 brackets."""
        if self.websocket_host is None:
            return None
        text = self.websocket_host.partition("://")[2].rstrip("/") or self.websocket_host
        host, port = split_host_port(text)
        return host, (int(port) if port else None)


class SessionConfig(Section):
    """Which OpenVidu session to join and as whom."""

    id: Annotated[
        str,
        AfterValidator(pattern(r"[a-zA-Z0-9_-]{1,100}", "1–100 characters from a-z A-Z 0-9 _ -")),
    ]
    name: Annotated[str, AfterValidator(check_display_name)] = "Meeting room"
    role: Literal["PUBLISHER", "SUBSCRIBER", "MODERATOR"] = "PUBLISHER"
    auto_join: bool = True


class CameraConfig(Section):
    device: Annotated[
        str,
        AfterValidator(
            pattern(
                r"auto|test-pattern|none|/dev/video[0-9]+|/dev/v4l/by-(id|path)/[^\s/]+",
                "auto, test-pattern, none, or a device path such as /dev/video0",
            )
        ),
    ] = "auto"
    width: Annotated[int, AfterValidator(between(16, 4096))] = 640
    height: Annotated[int, AfterValidator(between(16, 4096))] = 480
    fps: Annotated[int, AfterValidator(between(1, 120))] = 30
    input_format: Literal["mjpeg", "yuyv", "h264"] | None = None


_ALSA = r"(plug)?hw:[^\s]+"
_SOUND_SERVER = r"(pulse|pipewire):[^\s]+"


class MicrophoneConfig(Section):
    device: Annotated[
        str,
        AfterValidator(
            pattern(
                rf"test-tone|none|default|{_ALSA}|{_SOUND_SERVER}",
                "test-tone, none, default, hw:CARD,DEV, plughw:…, pulse:<source> "
                "or pipewire:<source>",
            )
        ),
    ] = "default"


class SpeakerConfig(Section):
    device: Annotated[
        str,
        AfterValidator(
            pattern(
                rf"none|default|{_ALSA}|{_SOUND_SERVER}",
                "none, default, hw:CARD,DEV, plughw:…, pulse:<sink> or pipewire:<sink>",
            )
        ),
    ] = "default"


class MediaConfig(Section):
    camera: CameraConfig = Field(default_factory=CameraConfig)
    microphone: MicrophoneConfig = Field(default_factory=MicrophoneConfig)
    speaker: SpeakerConfig = Field(default_factory=SpeakerConfig)
    stall_seconds: Annotated[float, AfterValidator(between(0.5, 60, unit=" s"))] = 5.0
    audio_buffer_ms: Annotated[int, AfterValidator(between(20, 200, unit=" ms"))] = 60
    receive_all_video: bool = False
    video_keep_seconds: Annotated[float, AfterValidator(between(0, 600, unit=" s"))] = 10.0
    # Media worker processes for the subscriptions (kiosk.media.workers): auto, 0 (none: every
    # peer connection in the main process, the default) or 1..8.
    workers: Annotated[Literal["auto"] | int, PlainValidator(check_workers)] = 0
    # Seconds between returns of freed heap memory to the OS (glibc malloc_trim; kiosk.heap);
    # 0: never.
    heap_trim_seconds: Annotated[float, AfterValidator(between(0, 3600, unit=" s"))] = 60.0


class IceConfig(Section):
    host_addresses: list[Annotated[str, AfterValidator(check_ip)]] = Field(default_factory=list)
    loopback_only: bool = False


class DisplayConfig(Section):
    driver: Literal["auto", "kmsdrm", "x11", "wayland", "dummy"] = "auto"
    drawing: Literal["auto", "textures", "surface"] = "auto"
    fullscreen: bool = True
    size: Annotated[str, AfterValidator(check_size)] | None = None
    main: Literal["active-speaker", "self", "manual"] = "active-speaker"
    pin_seconds: Annotated[float, AfterValidator(between(0, 3600, unit=" s"))] = 30.0
    strip: Literal["auto", "bottom", "side"] = "auto"
    max_fps: Annotated[int, AfterValidator(between(1, 120))] = 60
    allow_quit: bool = True
    room_name: Annotated[str, AfterValidator(check_display_name)] | None = None
    show_clock: bool = True
    layout: Literal["speaker", "gallery", "auto"] = "speaker"
    gallery_self: bool = True

    @property
    def size_pixels(self) -> tuple[int, int] | None:
        """``size`` as (width, height), or None."""
        if self.size is None:
            return None
        width, height = self.size.split("x")
        return int(width), int(height)


class ButtonConfig(Section):
    pin: Pin
    pull_up: bool = True
    bounce_time: Annotated[float, AfterValidator(between(0, 1, unit=" s"))] = 0.05
    hold_seconds: Annotated[float, AfterValidator(between(0.5, 30, unit=" s"))] = 3.0


class ButtonsConfig(Section):
    pin_factory: Literal["lgpio", "rpigpio", "pigpio", "native", "mock"] | None = None
    join_leave: ButtonConfig | None = None
    next: ButtonConfig | None = None
    mute_mic: ButtonConfig | None = None
    camera: ButtonConfig | None = None


class LedConfig(Section):
    pin: Pin
    active_high: bool = True
    pwm: bool = False


class LedsConfig(Section):
    call: LedConfig | None = None
    muted: LedConfig | None = None
    camera_off: LedConfig | None = None


class StatusConfig(Section):
    enabled: bool = True
    listen: Annotated[str, AfterValidator(check_listen)] = "127.0.0.1:8787"
    token_file: Annotated[str, AfterValidator(check_nonblank_path)] | None = None
    screenshots: bool = True
    allowed_hosts: list[Annotated[str, AfterValidator(check_token_host)]] = Field(
        default_factory=list
    )
    max_connections: Annotated[int, AfterValidator(between(1, 256))] = 16

    @field_validator("token_file")
    @classmethod
    def _absolute_token_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, info)

    @property
    def host(self) -> str:
        """Listen host without IPv6 brackets (what a socket bind wants)."""
        host = split_host_port(self.listen)[0]
        return host[1:-1] if host.startswith("[") else host

    @property
    def port(self) -> int:
        return int(split_host_port(self.listen)[1] or 0)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "journald", "plain"] = "auto"


class KioskConfig(Section):
    """The whole configuration file. After validation ``display.room_name`` is never None."""

    server: ServerConfig
    session: SessionConfig
    media: MediaConfig = Field(default_factory=MediaConfig)
    ice: IceConfig = Field(default_factory=IceConfig)
    display: DisplayConfig = Field(default_factory=DisplayConfig)
    buttons: ButtonsConfig = Field(default_factory=ButtonsConfig)
    leds: LedsConfig = Field(default_factory=LedsConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    standby: StandbyConfig = Field(default_factory=StandbyConfig)
    occupancy: OccupancyConfig = Field(default_factory=OccupancyConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _room_name_default(self) -> KioskConfig:
        if self.display.room_name is None:
            self.display.room_name = self.session.name
        return self

    def gpio_pins(self) -> dict[str, int]:
        """Every configured GPIO pin by dotted key path (``buttons.next.pin`` → 17)."""
        pins: dict[str, int] = {}
        for section_name, section in (("buttons", self.buttons), ("leds", self.leds)):
            for name in type(section).model_fields:
                item = getattr(section, name)
                if isinstance(item, ButtonConfig | LedConfig):
                    pins[f"{section_name}.{name}.pin"] = item.pin
        if self.occupancy.pin is not None:
            pins["occupancy.pin"] = self.occupancy.pin
        return pins


# --- cross checks after the models validated -------------------------------------------------


def cross_check(config: KioskConfig) -> list[tuple[tuple[str, ...], str]]:
    problems: list[tuple[tuple[str, ...], str]] = []
    first_use: dict[int, str] = {}
    for path, pin in config.gpio_pins().items():
        if pin in first_use:
            problems.append(
                (tuple(path.split(".")), f"GPIO {pin} is also used by {first_use[pin]}")
            )
        else:
            first_use[pin] = path
    if config.mqtt.enabled and config.mqtt.url is None:
        problems.append((("mqtt", "url"), "required when mqtt.enabled is true"))
    if config.occupancy.leave_empty_minutes is not None and config.occupancy.pin is None:
        problems.append(
            (("occupancy", "leave_empty_minutes"), "needs occupancy.pin (a PIR sensor)")
        )
    if config.calendar.password_file is not None and config.calendar.username is None:
        problems.append((("calendar", "password_file"), "needs calendar.username"))
    token = config.server.token
    if token is not None:
        session_ids = parse_qs(urlsplit(token.get_secret_value()).query).get("sessionId", [""])
        if session_ids[0] != config.session.id:
            problems.append(
                (
                    ("server", "token"),
                    f"the token is for session {session_ids[0]!r} but session.id is "
                    f"{config.session.id!r}",
                )
            )
    return problems
