"""The kiosk's one YAML configuration file: pydantic models, loading, and ``kiosk check-config``.

``load_config(path)`` / ``parse_config(text)`` return a validated :class:`KioskConfig` or raise
:class:`kiosk.errors.ConfigError` whose ``problems`` hold one line per problem. Every line about
a key starts with the dotted key path (``ice.host_addresses.1: …``) and says what was expected and
what was found; lines about the file itself (missing, unreadable, not YAML, …) say so plainly.
Secret values (``server.secret``, ``server.token``) are never echoed.

Unknown keys are errors at every level (a typo must never be silently ignored), types are
strict (a string where a number is expected is an error; YAML ``yes``/``no`` are booleans), and
duplicated keys in a mapping are errors too.

Relative ``server.ca_file`` / ``server.secret_file`` paths are taken relative to the directory
of the config file (to the current directory for :func:`parse_config`), and stored absolute.
"""

from __future__ import annotations

import argparse
import difflib
import glob
import ipaddress
import os
import re
import ssl
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kiosk.errors import ConfigError
from kiosk.fleet import settings as fleet_settings
from kiosk.redact import redact, register_secret

__all__ = [
    "ButtonConfig",
    "ButtonsConfig",
    "CameraConfig",
    "DisplayConfig",
    "IceConfig",
    "KioskConfig",
    "LedConfig",
    "LedsConfig",
    "LoggingConfig",
    "MediaConfig",
    "MicrophoneConfig",
    "MqttConfig",
    "MqttControlConfig",
    "ServerConfig",
    "SessionConfig",
    "SpeakerConfig",
    "StatusConfig",
    "add_arguments",
    "check_config",
    "load_config",
    "main_from_args",
    "parse_config",
    "resolve_mqtt_password",
    "resolve_secret",
    "resolve_status_token",
]

SECRET_ENV = "KIOSK_OPENVIDU_SECRET"
CREDENTIAL_NAME = "openvidu-secret"
MAX_FILE_BYTES = 1 << 20

# Keys whose values are never shown in a problem line.
_SECRET_PATHS = {("server", "secret"), ("server", "token")}


# --- describing values in problem lines ------------------------------------------------------


def _describe(value: Any, *, secret: bool = False) -> str:
    """A short, safe description of a user-supplied value for a problem line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if secret:
            return f"a string of {len(value)} characters"
        if len(value) > 60:
            return f"{value[:57]!r}… ({len(value)} characters)"
        return repr(value)
    if secret:
        return _type_name(value)
    if isinstance(value, int | float):
        return repr(value)
    return _type_name(value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple | set):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, bytes):
        return "binary data"
    return f"a value of type {type(value).__name__}"


def _problem(message: str) -> PydanticCustomError:
    # The message goes through ctx so that braces in user input are not format fields.
    return PydanticCustomError("kiosk", "{message}", {"message": message})


# --- reusable value checks -------------------------------------------------------------------

_N = TypeVar("_N", int, float)


def _between(lo: float, hi: float, *, lo_open: bool = False, unit: str = "") -> Callable[[_N], _N]:
    def check(value: _N) -> _N:
        too_low = value <= lo if lo_open else value < lo
        if too_low or value > hi:
            low = f"more than {lo:g}" if lo_open else f"{lo:g}"
            raise _problem(f"expected a number from {low} to {hi:g}{unit}, got {value!r}")
        return value

    return check


def _is_hostname(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        pass
    else:
        return True
    label = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    return len(host) <= 253 and re.fullmatch(rf"{label}(\.{label})*\.?", host) is not None


def _split_host_port(text: str) -> tuple[str, str | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` → (host, port text or None)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return text, None
        rest = text[end + 1 :]
        if rest.startswith(":"):
            return text[: end + 1], rest[1:]
        return text[: end + 1], (rest or None)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None


def _host_port(text: str, *, port_required: bool, min_port: int, example: str) -> str:
    expected = f"expected {'host:port' if port_required else 'host or host:port'} such as {example}"
    host, port = _split_host_port(text)
    if not host or not _is_hostname(host):
        raise _problem(f"{expected}, got {_describe(text)}")
    if port is None:
        if port_required:
            raise _problem(f"{expected}, got {_describe(text)} (no port)")
        return text
    if not port.isdigit() or not min_port <= int(port) <= 65535:
        raise _problem(f"{expected} and a port {min_port}–65535, got {_describe(text)}")
    return text


def _http_url(text: str, *, allow_query: bool) -> str:
    expected = "expected https://… or http://…"
    if any(c.isspace() for c in text):
        raise _problem(f"{expected}, got {_describe(text)} (contains whitespace)")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise _problem(f"{expected}, got {_describe(text)}")
    if "@" in parts.netloc:
        # Do not echo: the user part may hold a password.
        raise _problem(f"{expected} without user:password@ in it (credentials go elsewhere)")
    if not parts.hostname or not _is_hostname(_bracket(parts.hostname)):
        raise _problem(f"{expected} with a host name, got {_describe(text)}")
    try:
        _ = parts.port
    except ValueError:
        raise _problem(f"{expected} with a port 1–65535, got {_describe(text)}") from None
    if parts.query and not allow_query:
        raise _problem(f"{expected} without a ?query, got {_describe(text)}")
    if parts.fragment or text.endswith("#"):
        raise _problem(f"{expected} without a #fragment, got {_describe(text)}")
    return text


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check_server_url(text: str) -> str:
    return _http_url(text, allow_query=False).rstrip("/")


def _check_application_url(text: str) -> str:
    return _http_url(text, allow_query=True)


def _check_token(token: SecretStr) -> SecretStr:
    text = token.get_secret_value()
    expected = "expected ws://… or wss://…?sessionId=…&token=… (a whole OpenVidu token)"
    got = _describe(text, secret=True)
    if any(c.isspace() for c in text):
        raise _problem(f"{expected}, got {got} containing whitespace")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("ws", "wss"):
        raise _problem(f"{expected}, got {got} that does not start with ws:// or wss://")
    if not parts.hostname or "@" in parts.netloc or not _is_hostname(_bracket(parts.hostname)):
        raise _problem(f"{expected}, got {got} without a valid host")
    try:
        _ = parts.port
    except ValueError:
        raise _problem(f"{expected}, got {got} with an invalid port") from None
    query = parse_qs(parts.query)
    for name in ("sessionId", "token"):
        if not query.get(name, [""])[0]:
            raise _problem(f"{expected}, got {got} without a {name} parameter")
    return token


def _check_token_host(text: str) -> str:
    if not _is_hostname(_bracket(text.strip("[]"))):
        raise _problem(f"expected a host name or IP address, got {_describe(text)}")
    return text


def _check_secret(secret: SecretStr) -> SecretStr:
    if not secret.get_secret_value().strip():
        raise _problem("expected the OpenVidu secret, got an empty string")
    return secret


def _check_nonblank_path(text: str) -> str:
    if not text.strip():
        raise _problem("expected a file path, got an empty string")
    if "\0" in text:
        raise _problem(f"expected a file path, got {_describe(text)}")
    return text


def _check_display_name(text: str) -> str:
    if not 1 <= len(text) <= 64:
        raise _problem(f"expected a name of 1–64 characters, got {_describe(text)}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise _problem(f"expected a name without control characters, got {_describe(text)}")
    if not text.strip():
        raise _problem(f"expected a name that is not blank, got {_describe(text)}")
    return text


def _pattern(regex: str, expected: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(text: str) -> str:
        if compiled.fullmatch(text) is None:
            raise _problem(f"expected {expected}, got {_describe(text)}")
        return text

    return check


def _resolve_path(text: str, info: ValidationInfo) -> str:
    path = Path(text).expanduser()
    if not path.is_absolute():
        base = (info.context or {}).get("base_dir")
        path = (Path(base) if base else Path.cwd()) / path
    return str(path)


# --- the models -----------------------------------------------------------------------------

Pin = Annotated[int, AfterValidator(_between(0, 27))]
"""A BCM GPIO number of the Raspberry Pi header."""


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, validate_default=False
    )

    @model_validator(mode="before")
    @classmethod
    def _null_section_means_defaults(cls, data: Any) -> Any:
        # `media:` with every child commented out is YAML null: treat it as "all defaults".
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                ann = info.annotation
                if (
                    name in data
                    and data[name] is None
                    and isinstance(ann, type)
                    and issubclass(ann, BaseModel)
                ):
                    data = {**data, name: {}}
        return data


class ServerConfig(_Section):
    """Where the OpenVidu server is and how to get a token for the session."""

    url: Annotated[str, AfterValidator(_check_server_url)]
    secret: Annotated[SecretStr, AfterValidator(_check_secret)] | None = None
    secret_file: Annotated[str, AfterValidator(_check_nonblank_path)] | None = None
    application_url: Annotated[str, AfterValidator(_check_application_url)] | None = None
    token: Annotated[SecretStr, AfterValidator(_check_token)] | None = None
    verify_tls: bool = True
    ca_file: Annotated[str, AfterValidator(_check_nonblank_path)] | None = None
    websocket_host: str | None = None
    allow_token_hosts: list[Annotated[str, AfterValidator(_check_token_host)]] = Field(
        default_factory=list
    )
    allow_http_secret: bool = False
    timeout_seconds: Annotated[float, AfterValidator(_between(0, 120, lo_open=True, unit=" s"))] = (
        10.0
    )

    @field_validator("secret_file")
    @classmethod
    def _absolute_secret_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _resolve_path(value, info)

    @field_validator("ca_file")
    @classmethod
    def _readable_ca_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        path = _resolve_path(value, info)
        if os.path.isdir(path):
            raise _problem(f"expected a readable CA certificate file, got directory {path!r}")
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise _problem(
                f"expected a readable CA certificate file, got {path!r} ({why})"
            ) from None
        try:
            ssl.create_default_context(cafile=path)
        except (ssl.SSLError, ValueError):
            raise _problem(
                f"expected a PEM file of CA certificates, got {path!r} "
                "(no valid PEM certificate in it)"
            ) from None
        return path

    @field_validator("websocket_host")
    @classmethod
    def _websocket_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if sep and scheme.lower() not in ("ws", "wss"):
            raise _problem(
                "expected [ws://|wss://]host[:port] such as wss://openvidu.local:4443, "
                f"got {_describe(value)}"
            )
        _host_port(
            rest.rstrip("/") if sep else value,
            port_required=False,
            min_port=1,
            example="openvidu.local:4443 or wss://openvidu.local:4443",
        )
        return value

    @model_validator(mode="after")
    def _one_token_source(self) -> ServerConfig:
        chosen = self.token_sources()
        if len(chosen) > 1:
            raise _problem(
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
        host, port = _split_host_port(text)
        return host, (int(port) if port else None)


class SessionConfig(_Section):
    """Which OpenVidu session to join and as whom."""

    id: Annotated[
        str,
        AfterValidator(_pattern(r"[a-zA-Z0-9_-]{1,100}", "1–100 characters from a-z A-Z 0-9 _ -")),
    ]
    name: Annotated[str, AfterValidator(_check_display_name)] = "Meeting room"
    role: Literal["PUBLISHER", "SUBSCRIBER", "MODERATOR"] = "PUBLISHER"
    auto_join: bool = True


class CameraConfig(_Section):
    device: Annotated[
        str,
        AfterValidator(
            _pattern(
                r"auto|test-pattern|none|/dev/video[0-9]+|/dev/v4l/by-(id|path)/[^\s/]+",
                "auto, test-pattern, none, or a device path such as /dev/video0",
            )
        ),
    ] = "auto"
    width: Annotated[int, AfterValidator(_between(16, 4096))] = 640
    height: Annotated[int, AfterValidator(_between(16, 4096))] = 480
    fps: Annotated[int, AfterValidator(_between(1, 120))] = 30
    input_format: Literal["mjpeg", "yuyv", "h264"] | None = None


_ALSA = r"(plug)?hw:[^\s]+"
_SOUND_SERVER = r"(pulse|pipewire):[^\s]+"


class MicrophoneConfig(_Section):
    device: Annotated[
        str,
        AfterValidator(
            _pattern(
                rf"test-tone|none|default|{_ALSA}|{_SOUND_SERVER}",
                "test-tone, none, default, hw:CARD,DEV, plughw:…, pulse:<source> "
                "or pipewire:<source>",
            )
        ),
    ] = "default"


class SpeakerConfig(_Section):
    device: Annotated[
        str,
        AfterValidator(
            _pattern(
                rf"none|default|{_ALSA}|{_SOUND_SERVER}",
                "none, default, hw:CARD,DEV, plughw:…, pulse:<sink> or pipewire:<sink>",
            )
        ),
    ] = "default"


class MediaConfig(_Section):
    camera: CameraConfig = Field(default_factory=CameraConfig)
    microphone: MicrophoneConfig = Field(default_factory=MicrophoneConfig)
    speaker: SpeakerConfig = Field(default_factory=SpeakerConfig)
    stall_seconds: Annotated[float, AfterValidator(_between(0.5, 60, unit=" s"))] = 5.0
    audio_buffer_ms: Annotated[int, AfterValidator(_between(20, 200, unit=" ms"))] = 60


def _check_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _problem(
            f"expected an IP address such as 127.0.0.1 or ::1, got {_describe(text)}"
        ) from None


class IceConfig(_Section):
    host_addresses: list[Annotated[str, AfterValidator(_check_ip)]] = Field(default_factory=list)
    loopback_only: bool = False


def _check_size(text: str) -> str:
    match = re.fullmatch(r"([0-9]{1,5})x([0-9]{1,5})", text)
    if match is None or not all(16 <= int(side) <= 8192 for side in match.groups()):
        raise _problem(
            f"expected WIDTHxHEIGHT such as 1280x720 (each 16–8192), got {_describe(text)}"
        )
    return text


class DisplayConfig(_Section):
    driver: Literal["auto", "kmsdrm", "x11", "wayland", "dummy"] = "auto"
    fullscreen: bool = True
    size: Annotated[str, AfterValidator(_check_size)] | None = None
    main: Literal["active-speaker", "self", "manual"] = "active-speaker"
    pin_seconds: Annotated[float, AfterValidator(_between(0, 3600, unit=" s"))] = 30.0
    strip: Literal["auto", "bottom", "side"] = "auto"
    max_fps: Annotated[int, AfterValidator(_between(1, 120))] = 60
    allow_quit: bool = True
    room_name: Annotated[str, AfterValidator(_check_display_name)] | None = None
    show_clock: bool = True

    @property
    def size_pixels(self) -> tuple[int, int] | None:
        """``size`` as (width, height), or None."""
        if self.size is None:
            return None
        width, height = self.size.split("x")
        return int(width), int(height)


class ButtonConfig(_Section):
    pin: Pin
    pull_up: bool = True
    bounce_time: Annotated[float, AfterValidator(_between(0, 1, unit=" s"))] = 0.05
    hold_seconds: Annotated[float, AfterValidator(_between(0.5, 30, unit=" s"))] = 3.0


class ButtonsConfig(_Section):
    pin_factory: Literal["lgpio", "rpigpio", "pigpio", "native", "mock"] | None = None
    join_leave: ButtonConfig | None = None
    next: ButtonConfig | None = None
    mute_mic: ButtonConfig | None = None
    camera: ButtonConfig | None = None


class LedConfig(_Section):
    pin: Pin
    active_high: bool = True
    pwm: bool = False


class LedsConfig(_Section):
    call: LedConfig | None = None
    muted: LedConfig | None = None
    camera_off: LedConfig | None = None


def _check_listen(text: str) -> str:
    return _host_port(text, port_required=True, min_port=0, example="127.0.0.1:8787")


class StatusConfig(_Section):
    enabled: bool = True
    listen: Annotated[str, AfterValidator(_check_listen)] = "127.0.0.1:8787"
    token_file: Annotated[str, AfterValidator(_check_nonblank_path)] | None = None
    screenshots: bool = True
    allowed_hosts: list[Annotated[str, AfterValidator(_check_token_host)]] = Field(
        default_factory=list
    )
    max_connections: Annotated[int, AfterValidator(_between(1, 256))] = 16

    @field_validator("token_file")
    @classmethod
    def _absolute_token_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _resolve_path(value, info)

    @property
    def host(self) -> str:
        """Listen host without IPv6 brackets (what a socket bind wants)."""
        host = _split_host_port(self.listen)[0]
        return host[1:-1] if host.startswith("[") else host

    @property
    def port(self) -> int:
        return int(_split_host_port(self.listen)[1] or 0)


class MqttControlConfig(_Section):
    """What the fleet console may do over MQTT (remote unmute and screenshots are off)."""

    join: bool = True
    leave: bool = True
    rejoin: bool = True
    next: bool = True
    mute: bool = True
    unmute: bool = False
    restart: bool = True
    screenshot: bool = False


def _fleet_check(check: Callable[[str], Any]) -> Callable[[str], str]:
    def run(text: str) -> str:
        try:
            check(text)
        except ValueError as exc:
            raise _problem(str(exc)) from None
        return text

    return run


MQTT_CREDENTIAL_NAME = "mqtt-password"


class MqttConfig(_Section):
    """The fleet link: this room on an MQTT broker (off unless enabled)."""

    enabled: bool = False
    url: Annotated[str, AfterValidator(_fleet_check(fleet_settings.parse_broker_url))] | None = None
    room_id: Annotated[str, AfterValidator(_fleet_check(fleet_settings.check_room_id))] | None = (
        None
    )
    client_id: (
        Annotated[
            str, AfterValidator(_pattern(r"[A-Za-z0-9_.-]{1,64}", "1–64 of A-Z a-z 0-9 _ . -"))
        ]
        | None
    ) = None
    username: (
        Annotated[
            str, AfterValidator(_pattern(r"[\x21-\x7e]{1,128}", "1–128 printable ASCII characters"))
        ]
        | None
    ) = None
    password_file: Annotated[str, AfterValidator(_check_nonblank_path)] | None = None
    ca_file: Annotated[str, AfterValidator(_check_nonblank_path)] | None = None
    topic_prefix: (
        Annotated[str, AfterValidator(_fleet_check(fleet_settings.check_topic_prefix))] | None
    ) = None
    discovery: bool = True
    discovery_prefix: Annotated[
        str, AfterValidator(_fleet_check(fleet_settings.check_topic_prefix))
    ] = fleet_settings.DEFAULT_DISCOVERY_PREFIX
    state_interval_seconds: Annotated[float, AfterValidator(_between(5, 60, unit=" s"))] = 60.0
    keepalive_seconds: Annotated[int, AfterValidator(_between(5, 600, unit=" s"))] = 30
    control: MqttControlConfig = Field(default_factory=MqttControlConfig)

    @field_validator("password_file")
    @classmethod
    def _absolute_password_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _resolve_path(value, info)

    @field_validator("ca_file")
    @classmethod
    def _readable_mqtt_ca_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        path = _resolve_path(value, info)
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError, ValueError):
            raise _problem(
                f"expected a readable PEM file of CA certificates, got {path!r}"
            ) from None
        return path


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "journald", "plain"] = "auto"


class KioskConfig(_Section):
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
        return pins


# --- cross checks after the models validated -------------------------------------------------


def _cross_check(config: KioskConfig) -> list[tuple[tuple[str, ...], str]]:
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


# --- pydantic errors → problem lines ---------------------------------------------------------


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class whose keys live at ``loc`` (for listing valid keys)."""
    model: type[BaseModel] = KioskConfig
    for part in loc:
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        ann = info.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        else:
            return None
    return model


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown key"
    valid = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; expected one of: {', '.join(valid)}"


def _message(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    loc: tuple[int | str, ...] = tuple(error["loc"])
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    secret = tuple(str(p) for p in loc[:2]) in _SECRET_PATHS
    value = error.get("input")
    got = _describe(value, secret=secret)
    if kind == "kiosk":
        return str(ctx.get("message", "invalid value"))
    if kind == "missing":
        return "required key is missing"
    if kind in ("extra_forbidden", "invalid_key"):
        return _unknown_key(loc)
    if kind == "string_type":
        hint = ""
        if isinstance(value, int | float) and not isinstance(value, bool) and not secret:
            hint = " (put it in quotes)"
        return f"expected a string, got {got}{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the listed values')}, got {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys, got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind == "value_error":
        return f"{ctx.get('error', 'invalid value')}"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{message[:1].lower()}{message[1:]}, got {got}"


def _segment(part: int | str) -> str:
    text = str(part)
    return text if re.fullmatch(r"[\w-]+", text) else repr(text)


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(_segment(part) for part in loc) if loc else "(top level)"


def _with_line(
    loc: tuple[int | str, ...], message: str, lines: Mapping[tuple[str, ...], int]
) -> str:
    key = tuple(str(p) for p in loc)
    line = None
    while key and line is None:
        line = lines.get(key)
        key = key[:-1]
    suffix = f" (line {line})" if line else ""
    return redact(f"{_dotted(loc)}: {message}{suffix}")


# --- YAML → plain data with line numbers -----------------------------------------------------


class _FileProblem(ConfigError):
    """A problem with the file as a whole (missing, unreadable, not YAML, not a mapping)."""

    about_file = True  # the command line prefixes each problem with the file's path


def _walk(
    node: yaml.Node,
    path: tuple[str, ...],
    lines: dict[tuple[str, ...], int],
    seen: set[int],
    problems: list[str],
) -> None:
    """Record each key path's line and find duplicated keys; each node is visited once."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                _walk(value_node, path, lines, seen, problems)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key_line = key_node.start_mark.line + 1
            child = (*path, str(key_node.value))
            mark = (key_node.tag, str(key_node.value))
            if mark in keys:
                problems.append(
                    f"{_dotted(child)}: key appears twice (lines {keys[mark]} and {key_line}); "
                    "keep one"
                )
            else:
                keys[mark] = key_line
                lines.setdefault(child, key_line)
            _walk(value_node, child, lines, seen, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.setdefault((*path, str(index)), item.start_mark.line + 1)
            _walk(item, (*path, str(index)), lines, seen, problems)


def _codepoint(character: object) -> str:
    return f"U+{character:04X}" if isinstance(character, int) else repr(character)


def _load_yaml(text: str, source: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """Parse YAML text; return (data, line of each key path). File-level problems raise."""
    lines: dict[tuple[str, ...], int] = {}
    problems: list[str] = []
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None or (
            isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
        ):
            raise _FileProblem(
                ["the configuration is empty; expected at least the server: and session: sections"],
                source=source,
            )
        _walk(node, (), lines, set(), problems)
        if problems:
            raise ConfigError(problems, source=source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join((exc.problem or exc.context or "syntax error").split())
        raise _FileProblem([f"not valid YAML{where}: {what}"], source=source) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise _FileProblem(
            [f"not valid YAML at line {line}: character {_codepoint(exc.character)} not allowed"],
            source=source,
        ) from None
    except yaml.YAMLError as exc:
        raise _FileProblem(
            [f"not valid YAML: {' '.join(str(exc).split())}"], source=source
        ) from None
    except RecursionError:
        raise _FileProblem(["not valid YAML: nested too deeply"], source=source) from None
    except ConfigError:
        raise
    except Exception as exc:  # e.g. ValueError from an impossible date such as 2024-13-45
        why = " ".join(str(exc).split())
        raise _FileProblem(
            [f"not valid YAML: a value could not be read: {why}"], source=source
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise _FileProblem(
            [
                "expected a mapping of sections (server:, session:, …) at the top level, got "
                + _type_name(data)
            ],
            source=source,
        )
    return data, lines


# --- public entry points ---------------------------------------------------------------------


def _validate(
    data: dict[Any, Any], lines: Mapping[tuple[str, ...], int], source: str, base_dir: str | None
) -> KioskConfig:
    try:
        config = KioskConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = [
            _with_line(tuple(error["loc"]), _message(error), lines) for error in exc.errors()
        ]
        raise ConfigError(_unique(problems), source=source) from None
    except RecursionError:
        raise ConfigError(["(top level): nested too deeply"], source=source) from None
    cross = _cross_check(config)
    if cross:
        raise ConfigError([_with_line(loc, msg, lines) for loc, msg in cross], source=source)
    if config.server.secret is not None:
        register_secret(config.server.secret.get_secret_value())
    if config.server.token is not None:
        register_secret(config.server.token.get_secret_value())
    return config


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse_config(text: str, source: str = "<string>") -> KioskConfig:
    """Validate configuration YAML text; raise :class:`ConfigError` listing every problem."""
    data, lines = _load_yaml(text, source)
    return _validate(data, lines, source, None)


def _read_text(path: str | os.PathLike[str]) -> str:
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _FileProblem(["no such file"], source=source) from None
    except IsADirectoryError:
        raise _FileProblem(["is a directory, not a configuration file"], source=source) from None
    except PermissionError:
        raise _FileProblem(["cannot read the file: permission denied"], source=source) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise _FileProblem([f"cannot read the file: {why}"], source=source) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _FileProblem(
            [f"file is larger than {MAX_FILE_BYTES // 1024} KiB; is it the right file?"],
            source=source,
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _FileProblem(
            [f"not UTF-8 text (bad byte at line {line}); is it the right file?"], source=source
        ) from None


def load_config(path: str | os.PathLike[str]) -> KioskConfig:
    """Read and validate the configuration file; raise :class:`ConfigError` on any problem."""
    source = os.fspath(path)
    text = _read_text(source)
    data, lines = _load_yaml(text, source)
    return _validate(data, lines, source, os.path.dirname(os.path.abspath(source)))


def _read_secret_file(path: str, key: str, what: str = "the OpenVidu secret") -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read(64 * 1024).strip()
    except FileNotFoundError:
        raise ConfigError([f"{key}: cannot read {path!r}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{key}: cannot read {path!r}: it is a directory"]) from None
    except PermissionError:
        raise ConfigError([f"{key}: cannot read {path!r}: permission denied"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{key}: {path!r} is not UTF-8 text"]) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigError([f"{key}: cannot read {path!r}: {why}"]) from None
    if not value:
        raise ConfigError([f"{key}: {path!r} is empty; expected {what}"])
    return value


def resolve_mqtt_password(mqtt: MqttConfig, env: Mapping[str, str] = os.environ) -> str | None:
    """The MQTT password: ``mqtt.password_file``, else the systemd credential ``mqtt-password``
    (``$CREDENTIALS_DIRECTORY``), else None. Registered with :func:`kiosk.redact.register_secret`.
    """
    value: str | None = None
    if mqtt.password_file is not None:
        value = _read_secret_file(mqtt.password_file, "mqtt.password_file", "the MQTT password")
    elif env.get("CREDENTIALS_DIRECTORY"):
        path = os.path.join(env["CREDENTIALS_DIRECTORY"], MQTT_CREDENTIAL_NAME)
        if os.path.lexists(path):
            value = _read_secret_file(
                path, f"systemd credential {MQTT_CREDENTIAL_NAME}", "the MQTT password"
            )
    register_secret(value)
    return value


def resolve_secret(server: ServerConfig, env: Mapping[str, str] = os.environ) -> str | None:
    """The OpenVidu secret for the REST API, or None when there is none to use.

    Order: ``server.secret``, ``server.secret_file`` (read, stripped), the
    ``KIOSK_OPENVIDU_SECRET`` environment variable, then ``$CREDENTIALS_DIRECTORY/openvidu-secret``
    (systemd ``LoadCredential=``). Returns None when ``server.application_url`` or
    ``server.token`` is the token source (no secret is used) or when nothing provides one.
    An unreadable or empty file raises :class:`ConfigError` naming the key and the file.
    The secret found is registered with :func:`kiosk.redact.register_secret`.
    """
    value: str | None = None
    if server.secret is not None:
        value = server.secret.get_secret_value()
    elif server.secret_file is not None:
        value = _read_secret_file(server.secret_file, "server.secret_file")
    elif server.application_url is not None or server.token is not None:
        return None
    elif env.get(SECRET_ENV, "").strip():
        value = env[SECRET_ENV].strip()
    elif env.get("CREDENTIALS_DIRECTORY"):
        path = os.path.join(env["CREDENTIALS_DIRECTORY"], CREDENTIAL_NAME)
        if os.path.lexists(path):
            value = _read_secret_file(path, f"systemd credential {CREDENTIAL_NAME}")
    register_secret(value)
    return value


NO_TOKEN_SOURCE = (
    "server.secret: no way to get a token: set server.secret, server.secret_file, "
    "server.application_url or server.token, or provide KIOSK_OPENVIDU_SECRET or the "
    "systemd credential 'openvidu-secret'"
)
INSTALLED_UNIT = "/etc/systemd/system/kiosk.service"


def unit_credential_file(unit: str = INSTALLED_UNIT) -> str | None:
    """The file a unit hands over as the ``openvidu-secret`` credential, or None.

    Reads ``LoadCredential=openvidu-secret:PATH`` from the unit file and its drop-ins
    (``kiosk.service.d/*.conf``, later ones win; an empty ``LoadCredential=`` resets).
    """
    found: str | None = None
    drop_ins = sorted(glob.glob(glob.escape(unit) + ".d/*.conf"))
    for path in [unit, *drop_ins]:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(256 * 1024)
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.strip().partition("=")
            if not sep or key.strip() != "LoadCredential":
                continue
            value = value.strip()
            if not value:
                found = None
                continue
            name, _, source = value.partition(":")
            if name == CREDENTIAL_NAME and source:
                found = source
    return found


def _resolve_like_run(config: KioskConfig, env: Mapping[str, str], unit: str | None) -> list[str]:
    """The token-source problems ``kiosk run`` would hit (empty list: it finds a token source).

    Under systemd ``run`` reads the secret from ``$CREDENTIALS_DIRECTORY``; here, outside the
    service, the file the installed unit would hand over is read instead.
    """
    server = config.server
    if server.token_mode != "secret" or resolve_secret(server, env):
        return []
    credential = unit_credential_file(unit) if unit else None
    if credential is not None and not env.get("CREDENTIALS_DIRECTORY"):
        where = f"systemd credential {CREDENTIAL_NAME} (LoadCredential= in {unit})"
        register_secret(_read_secret_file(credential, where))
        return []
    return [NO_TOKEN_SOURCE]


def _device_warnings(config: KioskConfig) -> list[str]:
    """Devices ``run`` would open that are not there (warnings: the kiosk starts anyway)."""
    from kiosk.media.audio_devices import check_all
    from kiosk.media.cameras import find_camera

    problems: list[str] = []
    camera = config.media.camera.device
    if camera == "auto" and find_camera() is None:
        problems.append(
            "media.camera.device: auto: no camera found (plug in a USB camera, or set "
            "media.camera.device: none)"
        )
    elif camera.startswith("/dev/") and not os.path.exists(camera):
        problems.append(f"media.camera.device: {camera}: no such device (is it plugged in?)")
    problems += check_all(config.media.microphone.device, config.media.speaker.device)
    return problems


STATUS_CREDENTIAL_NAME = "status-token"


def resolve_status_token(status: StatusConfig, env: Mapping[str, str] = os.environ) -> str | None:
    """The status endpoint's bearer token: ``status.token_file``, else the systemd credential
    ``status-token``; None when neither is there (no authentication). Registered as a secret."""
    value: str | None = None
    what = "a bearer token"
    if status.token_file is not None:
        value = _read_secret_file(status.token_file, "status.token_file", what)
    elif env.get("CREDENTIALS_DIRECTORY"):
        path = os.path.join(env["CREDENTIALS_DIRECTORY"], STATUS_CREDENTIAL_NAME)
        if os.path.lexists(path):
            value = _read_secret_file(path, f"systemd credential {STATUS_CREDENTIAL_NAME}", what)
    if value is not None and len(value) < 16:
        raise ConfigError([f"status token: expected at least 16 characters, got {len(value)}"])
    register_secret(value)
    return value


def check_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    unit: str | None = INSTALLED_UNIT,
    devices: bool = True,
) -> tuple[int, list[str]]:
    """``(0, ["OK", warnings…])`` when ``kiosk run`` can start with the file, else
    ``(2, one line per problem)``.

    Beyond :func:`load_config` this resolves what ``run`` resolves: the token source (secret,
    secret file, ``KIOSK_OPENVIDU_SECRET``, the systemd credential — outside systemd the file
    named by ``LoadCredential=`` in ``unit``; an empty file is a problem). With ``devices``,
    missing camera/microphone/speaker devices are warnings (``run`` starts without them).
    Problems about the file as a whole are prefixed with its path.
    """
    source = os.fspath(path)
    try:
        config = load_config(source)
        problems = _resolve_like_run(config, os.environ if env is None else env, unit)
        if config.status.token_file is not None:
            resolve_status_token(config.status, env={})
    except _FileProblem as exc:
        return 2, [redact(f"{source}: {problem}") for problem in exc.problems]
    except ConfigError as exc:
        return 2, [redact(problem) for problem in exc.problems]
    if problems:
        return 2, [redact(problem) for problem in problems]
    warnings = _device_warnings(config) if devices else []
    return 0, ["OK", *(redact(f"warning: {w}") for w in warnings)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kiosk check-config``."""
    parser.add_argument("config_file", metavar="FILE", help="the kiosk YAML configuration file")
    parser.add_argument(
        "--no-devices",
        action="store_true",
        help="do not look for the camera, microphone and speaker (e.g. on another machine)",
    )
    parser.add_argument(
        "--unit",
        default=INSTALLED_UNIT,
        metavar="UNIT_FILE",
        help="systemd unit whose LoadCredential=openvidu-secret:FILE to read when no other "
        f"secret source is set (default {INSTALLED_UNIT})",
    )


def main_from_args(args: argparse.Namespace) -> int:
    """Run ``kiosk check-config FILE``; return the exit code (0 valid, 2 problems).

    Prints ``OK`` on stdout, or one line per problem on stderr.
    """
    code, lines = check_config(args.config_file, unit=args.unit, devices=not args.no_devices)
    for index, line in enumerate(lines):
        print(line, file=sys.stdout if code == 0 and index == 0 else sys.stderr)
        sys.stdout.flush()
    return code
