"""Value checks of the configuration models, and safe descriptions of values in problem lines.

Each ``check_*`` takes a value pydantic has already type-checked and returns it (or a normalised
form) or raises :func:`problem` with a line that says what was expected and what was found.
:func:`describe` never echoes a secret.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationInfo
from pydantic_core import PydanticCustomError

# --- describing values in problem lines ------------------------------------------------------


def describe(value: Any, *, secret: bool = False) -> str:
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
        return type_name(value)
    if isinstance(value, int | float):
        return repr(value)
    return type_name(value)


def type_name(value: Any) -> str:
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


def problem(message: str) -> PydanticCustomError:
    # The message goes through ctx so that braces in user input are not format fields.
    return PydanticCustomError("kiosk", "{message}", {"message": message})


# --- reusable value checks -------------------------------------------------------------------

_N = TypeVar("_N", int, float)


def between(lo: float, hi: float, *, lo_open: bool = False, unit: str = "") -> Callable[[_N], _N]:
    def check(value: _N) -> _N:
        too_low = value <= lo if lo_open else value < lo
        if too_low or value > hi:
            low = f"more than {lo:g}" if lo_open else f"{lo:g}"
            raise problem(f"expected a number from {low} to {hi:g}{unit}, got {value!r}")
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


def split_host_port(text: str) -> tuple[str, str | None]:
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
    host, port = split_host_port(text)
    if not host or not _is_hostname(host):
        raise problem(f"{expected}, got {describe(text)}")
    if port is None:
        if port_required:
            raise problem(f"{expected}, got {describe(text)} (no port)")
        return text
    if not port.isdigit() or not min_port <= int(port) <= 65535:
        raise problem(f"{expected} and a port {min_port}–65535, got {describe(text)}")
    return text


def _http_url(text: str, *, allow_query: bool) -> str:
    expected = "expected https://… or http://…"
    if any(c.isspace() for c in text):
        raise problem(f"{expected}, got {describe(text)} (contains whitespace)")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise problem(f"{expected}, got {describe(text)}")
    if "@" in parts.netloc:
        # Do not echo: the user part may hold a password.
        raise problem(f"{expected} without user:password@ in it (credentials go elsewhere)")
    if not parts.hostname or not _is_hostname(_bracket(parts.hostname)):
        raise problem(f"{expected} with a host name, got {describe(text)}")
    try:
        _ = parts.port
    except ValueError:
        raise problem(f"{expected} with a port 1–65535, got {describe(text)}") from None
    if parts.query and not allow_query:
        raise problem(f"{expected} without a ?query, got {describe(text)}")
    if parts.fragment or text.endswith("#"):
        raise problem(f"{expected} without a #fragment, got {describe(text)}")
    return text


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def check_server_url(text: str) -> str:
    return _http_url(text, allow_query=False).rstrip("/")


def check_application_url(text: str) -> str:
    return _http_url(text, allow_query=True)


def check_token(token: SecretStr) -> SecretStr:
    text = token.get_secret_value()
    expected = "expected ws://… or wss://…?sessionId=…&token=… (a whole OpenVidu token)"
    got = describe(text, secret=True)
    if any(c.isspace() for c in text):
        raise problem(f"{expected}, got {got} containing whitespace")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("ws", "wss"):
        raise problem(f"{expected}, got {got} that does not start with ws:// or wss://")
    if not parts.hostname or "@" in parts.netloc or not _is_hostname(_bracket(parts.hostname)):
        raise problem(f"{expected}, got {got} without a valid host")
    try:
        _ = parts.port
    except ValueError:
        raise problem(f"{expected}, got {got} with an invalid port") from None
    query = parse_qs(parts.query)
    for name in ("sessionId", "token"):
        if not query.get(name, [""])[0]:
            raise problem(f"{expected}, got {got} without a {name} parameter")
    return token


def check_token_host(text: str) -> str:
    if not _is_hostname(_bracket(text.strip("[]"))):
        raise problem(f"expected a host name or IP address, got {describe(text)}")
    return text


def check_secret(secret: SecretStr) -> SecretStr:
    if not secret.get_secret_value().strip():
        raise problem("expected the OpenVidu secret, got an empty string")
    return secret


def check_nonblank_path(text: str) -> str:
    if not text.strip():
        raise problem("expected a file path, got an empty string")
    if "\0" in text:
        raise problem(f"expected a file path, got {describe(text)}")
    return text


def check_display_name(text: str) -> str:
    if not 1 <= len(text) <= 64:
        raise problem(f"expected a name of 1–64 characters, got {describe(text)}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise problem(f"expected a name without control characters, got {describe(text)}")
    if not text.strip():
        raise problem(f"expected a name that is not blank, got {describe(text)}")
    return text


def pattern(regex: str, expected: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(text: str) -> str:
        if compiled.fullmatch(text) is None:
            raise problem(f"expected {expected}, got {describe(text)}")
        return text

    return check


def resolve_path(text: str, info: ValidationInfo) -> str:
    path = Path(text).expanduser()
    if not path.is_absolute():
        base = (info.context or {}).get("base_dir")
        path = (Path(base) if base else Path.cwd()) / path
    return str(path)


def check_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise problem(
            f"expected an IP address such as 127.0.0.1 or ::1, got {describe(text)}"
        ) from None


def check_size(text: str) -> str:
    match = re.fullmatch(r"([0-9]{1,5})x([0-9]{1,5})", text)
    if match is None or not all(16 <= int(side) <= 8192 for side in match.groups()):
        raise problem(
            f"expected WIDTHxHEIGHT such as 1280x720 (each 16–8192), got {describe(text)}"
        )
    return text


def check_websocket_host(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if sep and scheme.lower() not in ("ws", "wss"):
        raise problem(
            "expected [ws://|wss://]host[:port] such as wss://openvidu.local:4443, "
            f"got {describe(value)}"
        )
    _host_port(
        rest.rstrip("/") if sep else value,
        port_required=False,
        min_port=1,
        example="openvidu.local:4443 or wss://openvidu.local:4443",
    )
    return value


def check_listen(text: str) -> str:
    return _host_port(text, port_required=True, min_port=0, example="127.0.0.1:8787")


def fleet_check(check: Callable[[str], Any]) -> Callable[[str], str]:
    """A check of :mod:`kiosk.fleet.settings` (raising ValueError) as a config value check."""

    def run(text: str) -> str:
        try:
            check(text)
        except ValueError as exc:
            raise problem(str(exc)) from None
        return text

    return run


def check_timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise problem(
            f"expected an IANA time zone such as Europe/Berlin, got {describe(text)}"
        ) from None
    return text


def check_calendar_url(text: str) -> str:
    try:
        return check_application_url(text)
    except PydanticCustomError:
        # Not echoed: a private .ics address holds a secret in its path.
        raise problem(
            "expected https://… or http://… with a host name and without user:password@ "
            f"(the value of {len(text)} characters is not shown)"
        ) from None


def check_workers(value: object) -> Literal["auto"] | int:
    """``media.workers``: ``auto`` or a whole number of worker processes from 0 to 8."""
    if value == "auto":
        return "auto"
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 8:
        return value
    raise problem(f"expected auto or a whole number from 0 to 8, got {describe(value)}")
