"""What the fleet link needs from the kiosk: a snapshot of facts and a place to send commands.

The kiosk side is reached only through :class:`KioskPort`, so the fleet link can be tested with
:class:`kiosk.fleet.fake.FakeKiosk` instead of a whole kiosk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kiosk.fleet.commands import Command
from kiosk.heap import resident_bytes

__all__ = ["CALL_STATES", "Facts", "KioskPort", "ParticipantFacts", "read_rss_bytes"]

CALL_STATES = ("idle", "joining", "in_call", "reconnecting", "leaving", "error")
"""The values of :attr:`Facts.call_state` (the Home Assistant enum sensor's options)."""

IN_CALL_STATES = frozenset({"joining", "in_call", "reconnecting"})


@dataclass(frozen=True, slots=True)
class ParticipantFacts:
    """A remote participant as the room hears it."""

    name: str
    level_dbfs: float | None = None  # None: no audio from them (yet)
    speaking: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    """One snapshot of the facts /status shows, taken on the loop thread."""

    call_state: str  # one of CALL_STATES
    session: str
    participants: tuple[ParticipantFacts, ...] = ()
    mic_muted: bool = False
    camera_off: bool = False
    server_reachable: bool | None = None  # None: not known yet
    last_error: str | None = None
    display: str = "on"  # "on" while the screen shows the room, "off" otherwise
    uptime_seconds: float = 0.0
    rss_bytes: int | None = None
    problems: tuple[str, ...] = ()  # devices missing, media failing: one line each

    @property
    def in_call(self) -> bool:
        return self.call_state in IN_CALL_STATES


class KioskPort(Protocol):
    """The kiosk as the fleet link sees it. Every method is called on the loop thread."""

    def facts(self) -> Facts:
        """The facts now (cheap: called about once a second)."""
        ...

    def perform(self, command: Command) -> None:
        """Act on an accepted command the way a button press would; never blocks."""
        ...

    async def screenshot(self) -> bytes | None:
        """A PNG of what the screen shows now, or None when there is no screen."""
        ...


def read_rss_bytes() -> int | None:
    """Resident set size of this process (Linux ``/proc``), or None where unknown."""
    return resident_bytes()
