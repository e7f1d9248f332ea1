"""Commands from the fleet console (pure): parse, authorize, rate-limit, and the reply.

A command arrives on ``<prefix>/cmd/<name>``. Its payload may be empty, one word (``PRESS``,
``ON``, ``OFF``, ``true``, ``false``, ``1``, ``0``, ``force``), or a JSON object with the optional
keys ``value`` (bool), ``force`` (bool) and ``id`` (a request id, echoed in the reply). Anything
else, a payload over the size limit, an unknown name, or a command the settings do not allow is a
:class:`Rejected` with one line saying why; it never raises.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiosk.fleet.facts import Facts
    from kiosk.fleet.settings import RemoteControl

__all__ = [
    "Command",
    "CommandName",
    "RateLimiter",
    "Rejected",
    "authorize",
    "parse_command",
    "result_payload",
]


class CommandName(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    REJOIN = "rejoin"
    NEXT = "next"
    MUTE_MIC = "mute_mic"  # value true (default): microphone off; false: on
    MUTE_CAMERA = "mute_camera"  # value true (default): camera off; false: on
    RESTART = "restart"
    SCREENSHOT = "screenshot"
    STANDBY = "standby"  # value true (default): display to standby; false: wake it


_WORDS: dict[str, dict[str, bool]] = {
    "": {},
    "press": {},
    "on": {"value": True},
    "true": {"value": True},
    "1": {"value": True},
    "off": {"value": False},
    "false": {"value": False},
    "0": {"value": False},
    "force": {"force": True},
}
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,64}")


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    value: bool = True  # mute commands: True mutes, False unmutes; standby: True sleeps
    force: bool = False  # restart even during a call
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    command: str  # the command's name if it was safe to repeat, else "?"
    reason: str  # one line
    request_id: str | None = None


def _safe(name: str) -> str:
    return name if _SAFE_NAME.fullmatch(name) else "?"


def parse_command(name: str, payload: bytes, *, max_payload: int = 1024) -> Command | Rejected:
    """Turn one message into a :class:`Command`, or say in one line why not."""
    shown = _safe(name)
    if len(payload) > max_payload:
        return Rejected(shown, f"payload too large ({len(payload)} bytes, at most {max_payload})")
    try:
        known = CommandName(name)
    except ValueError:
        return Rejected(shown, "unknown command" + ("" if shown != "?" else " (bad name)"))
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Rejected(shown, "malformed payload: not UTF-8 text")
    options: dict[str, Any]
    if text.startswith("{"):
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            return Rejected(shown, "malformed payload: not a JSON object")
        if not isinstance(decoded, dict):
            return Rejected(shown, "malformed payload: not a JSON object")
        options = decoded
    elif text.lower() in _WORDS:
        options = dict(_WORDS[text.lower()])
    else:
        return Rejected(
            shown, "malformed payload: expected nothing, ON, OFF, PRESS, force or a JSON object"
        )
    request_id = options.pop("id", None)
    if request_id is not None and (
        not isinstance(request_id, str) or _REQUEST_ID.fullmatch(request_id) is None
    ):
        return Rejected(shown, "malformed payload: id must be 1–64 printable ASCII characters")
    unknown = sorted(k for k in options if k not in ("value", "force"))
    if unknown:
        key = _safe(str(unknown[0]))
        return Rejected(shown, f"malformed payload: unknown key {key!r}", request_id)
    for key in ("value", "force"):
        if key in options and not isinstance(options[key], bool):
            return Rejected(shown, f"malformed payload: {key} must be true or false", request_id)
    return Command(
        known,
        value=options.get("value", True),
        force=options.get("force", False),
        request_id=request_id,
    )


def authorize(command: Command, facts: Facts, control: RemoteControl) -> Command | Rejected:
    """Apply the room's remote-control switches and the restart rule."""
    name = command.name

    def no(reason: str) -> Rejected:
        return Rejected(str(name), reason, command.request_id)

    if name in (CommandName.MUTE_MIC, CommandName.MUTE_CAMERA):
        if command.value and not control.mute:
            return no("not allowed: remote mute is off (mqtt.control.mute)")
        if not command.value and not control.unmute:
            return no("not allowed: remote unmute is off (mqtt.control.unmute)")
        return command
    allowed = {
        CommandName.JOIN: control.join,
        CommandName.LEAVE: control.leave,
        CommandName.REJOIN: control.rejoin,
        CommandName.NEXT: control.next,
        CommandName.RESTART: control.restart,
        CommandName.SCREENSHOT: control.screenshot,
        CommandName.STANDBY: control.standby,
    }[name]
    if not allowed:
        return no(f"not allowed: remote {name} is off (mqtt.control.{name})")
    if name == CommandName.RESTART and facts.in_call and not command.force:
        return no(f'refused: the room is {facts.call_state}; send {{"force": true}} to restart')
    return command


def result_payload(outcome: Command | Rejected, *, detail: dict[str, Any] | None = None) -> bytes:
    """The JSON reply on ``<prefix>/cmd/result``."""
    body: dict[str, Any]
    if isinstance(outcome, Rejected):
        body = {"command": outcome.command, "ok": False, "error": outcome.reason}
    else:
        body = {"command": str(outcome.name), "ok": True}
    if outcome.request_id is not None:
        body["id"] = outcome.request_id
    if detail:
        body.update(detail)
    return json.dumps(body, separators=(",", ":")).encode()


class RateLimiter:
    """A token bucket (pure: the caller passes the time). Over the rate, messages are dropped
    without a reply and counted, so a flood cannot turn into a flood of replies or log lines."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate limiter needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None
        self.dropped = 0

    def allow(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.dropped += 1
        return False

    def take_dropped(self) -> int:
        """How many were dropped since the last call (and reset the count)."""
        dropped, self.dropped = self.dropped, 0
        return dropped
