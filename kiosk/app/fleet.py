"""The kiosk's side of the fleet link: the /status facts as the fleet's
:class:`~kiosk.fleet.facts.Facts`, and fleet commands through the buttons' door
(:class:`KioskFleetPort`). The ``mqtt:`` config is mapped in :mod:`kiosk.app.wiring`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from kiosk.app import machine as m
from kiosk.controls.actions import Action
from kiosk.errors import FleetError
from kiosk.fleet.commands import Command, CommandName
from kiosk.fleet.facts import Facts, ParticipantFacts, read_rss_bytes

__all__ = ["FleetHost", "KioskFleetPort", "facts_from_status"]

log = logging.getLogger(__name__)


def _float_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _display(value: object) -> str:
    """``display`` of /status: the room's ``{"mode": "on" | "standby", …}`` (or a plain word)."""
    if isinstance(value, Mapping):
        value = value.get("mode")
    return str(value) if isinstance(value, str) and value else "on"


def facts_from_status(status: Mapping[str, Any]) -> Facts:
    """The fleet's :class:`~kiosk.fleet.facts.Facts` from the /status dict: one owner of the
    facts, so a console and /status never disagree. Missing keys read as "not known"."""
    participants = tuple(
        ParticipantFacts(
            name=str(p.get("name") or "Guest"),
            level_dbfs=_float_or_none(p.get("audio_level_dbfs")),
            speaking=bool(p.get("speaking", False)),
        )
        for p in status.get("participants") or ()
        if isinstance(p, Mapping)
    )
    muted = status.get("muted") or {}
    reachable = status.get("server_reachable")
    rss = status.get("rss_bytes")
    return Facts(
        call_state=str(status.get("state", "idle")),
        session=str(status.get("session_id", "")),
        participants=participants,
        mic_muted=bool(muted.get("audio", False)),
        camera_off=bool(muted.get("video", False)),
        server_reachable=reachable if isinstance(reachable, bool) else None,
        last_error=str(status["last_error"]) if status.get("last_error") else None,
        display=_display(status.get("display")),
        uptime_seconds=_float_or_none(status.get("uptime_seconds")) or 0.0,
        rss_bytes=rss if isinstance(rss, int) and not isinstance(rss, bool) else None,
        problems=tuple(str(p) for p in status.get("media_problems") or ()),
    )


class FleetHost(Protocol):
    """What the adapter needs from the running kiosk (the same doors the buttons use)."""

    def status(self) -> Mapping[str, Any]: ...

    def on_action(self, action: Any) -> None: ...

    def post(self, event: m.Event) -> None: ...

    async def screenshot(self) -> bytes | None: ...

    def set_standby(self, on: bool) -> bool: ...


_BUSY = frozenset({"joining", "in_call", "reconnecting"})


class KioskFleetPort:
    """:class:`~kiosk.fleet.facts.KioskPort` over the running kiosk.

    Commands go through the button path (:meth:`FleetHost.on_action`): join and leave only when
    the join/leave control would do that in the current state, mute sets a state rather than
    toggling it, and restart is the machine's ordinary shutdown (the service manager starts the
    kiosk again: ``Restart=always`` in systemd/kiosk.service).
    """

    def __init__(self, host: FleetHost) -> None:
        self.host = host

    def facts(self) -> Facts:
        facts = facts_from_status(self.host.status())
        if facts.rss_bytes is None:
            facts = dataclasses.replace(facts, rss_bytes=read_rss_bytes())
        return facts

    def perform(self, command: Command) -> None:
        status = self.host.status()
        state = str(status.get("state", "idle"))
        muted = status.get("muted") or {}
        name = command.name
        if name == CommandName.JOIN:
            if state not in _BUSY and state != "leaving":
                self.host.on_action(Action.JOIN_LEAVE)
        elif name == CommandName.LEAVE:
            if state in _BUSY:
                self.host.on_action(Action.JOIN_LEAVE)
        elif name == CommandName.REJOIN:
            self.host.on_action(Action.REJOIN)
        elif name == CommandName.NEXT:
            self.host.on_action(Action.NEXT)
        elif name == CommandName.MUTE_MIC:
            if bool(muted.get("audio", False)) != command.value:
                self.host.on_action(Action.MUTE_MIC)
        elif name == CommandName.MUTE_CAMERA:
            if bool(muted.get("video", False)) != command.value:
                self.host.on_action(Action.CAMERA)
        elif name == CommandName.STANDBY:
            if not self.host.set_standby(command.value):
                raise FleetError("this room has no standby (standby.enabled is false)")
        elif name == CommandName.RESTART:
            log.warning("fleet: restart requested remotely%s", " (forced)" if command.force else "")
            self.host.post(m.Shutdown())

    async def screenshot(self) -> bytes | None:
        return await self.host.screenshot()
