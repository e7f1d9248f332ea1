"""Plain settings of the fleet link (MQTT), mapped once from the ``mqtt:`` config section.

Nothing here talks to a network: :func:`parse_broker_url` and :func:`check_topic_prefix` are pure
checks the config model uses too, so a bad value is reported at load time with its key path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_DISCOVERY_PREFIX",
    "BrokerAddress",
    "FleetSettings",
    "RemoteControl",
    "check_room_id",
    "check_topic_prefix",
    "default_topic_prefix",
    "parse_broker_url",
]

DEFAULT_DISCOVERY_PREFIX = "homeassistant"
_ROOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_PREFIX = 200


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker listens; ``tls`` for ``mqtts://``."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://host[:port]`` (1883) or ``mqtts://host[:port]`` (8883); ValueError otherwise.

    The message never echoes a ``user:password@`` part: credentials belong in their own keys.
    """
    expected = "expected mqtt://host[:port] or mqtts://host[:port]"
    if not url or any(c.isspace() for c in url):
        raise ValueError(f"{expected}, got {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"{expected}, got {url[:60]!r}")
    if "@" in parts.netloc:
        raise ValueError(
            f"{expected} without user:password@ in it (use username and password_file)"
        )
    if not parts.hostname:
        raise ValueError(f"{expected} with a host name, got {url[:60]!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{expected} without a path, query or fragment, got {url[:60]!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{expected} with a port 1–65535, got {url[:60]!r}") from None
    if port == 0:
        raise ValueError(f"{expected} with a port 1–65535, got {url[:60]!r}")
    tls = scheme == "mqtts"
    return BrokerAddress(parts.hostname, port or (8883 if tls else 1883), tls)


def check_room_id(room_id: str) -> str:
    """A room id is one topic level and a Home Assistant id: 1–64 of ``A-Z a-z 0-9 _ -``."""
    if _ROOM_ID.fullmatch(room_id) is None:
        raise ValueError(f"expected 1–64 characters from A-Z a-z 0-9 _ -, got {room_id[:70]!r}")
    return room_id


def check_topic_prefix(prefix: str) -> str:
    """A prefix is 1–8 topic levels of ``A-Z a-z 0-9 _ . -`` (no wildcards, no empty level)."""
    levels = prefix.split("/")
    if (
        len(prefix) > _MAX_PREFIX
        or len(levels) > 8
        or any(_TOPIC_LEVEL.fullmatch(level) is None for level in levels)
    ):
        raise ValueError(
            "expected topic levels of A-Z a-z 0-9 _ . - separated by '/' (no '+', '#', "
            f"leading, trailing or double '/'), got {prefix[:70]!r}"
        )
    return prefix


def default_topic_prefix(room_id: str) -> str:
    return f"kiosk/{room_id}"


@dataclass(frozen=True, slots=True)
class RemoteControl:
    """What a fleet console may do to this room. Unmute and screenshots are off by default:
    only people in the room turn their microphone or camera back on, and a screenshot shows the
    room."""

    join: bool = True
    leave: bool = True
    rejoin: bool = True
    next: bool = True
    mute: bool = True  # microphone off, camera off
    unmute: bool = False  # microphone on, camera on
    restart: bool = True  # refused during a call unless forced
    screenshot: bool = False
    standby: bool = True  # display to standby / wake (the room's standby section decides how)


@dataclass(frozen=True, slots=True)
class FleetSettings:
    broker: BrokerAddress
    room_id: str
    room_name: str
    client_id: str
    topic_prefix: str
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
    discovery: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    control: RemoteControl = field(default_factory=RemoteControl)
    state_interval: float = 60.0  # a retained state at least this often, and on every change
    poll_interval: float = 1.0  # how often the kiosk's facts are looked at
    keepalive: int = 30
    timeout: float = 10.0  # connect, subscribe, publish
    max_payload: int = 1024  # bytes of one command
    commands_per_second: float = 2.0
    command_burst: int = 10
    backoff_initial: float = 1.0
    backoff_cap: float = 60.0
    max_queued_messages: int = 100  # incoming messages held while the kiosk is busy
