"""The room features in the running kiosk: calendar reads, join/leave decisions, standby, PIR.

:func:`run` reads the calendar (its own task, interval + backoff) and steps the
:class:`~kiosk.room.controller.RoomController` once a second and whenever the schedule changed.
A decision goes through the call machine like a button press: ``Join`` sets the session the
next token is for and posts :class:`~kiosk.app.machine.JoinAction` (idle) or
:class:`~kiosk.app.machine.RejoinAction` (switching sessions); ``Leave`` posts
:class:`~kiosk.app.machine.LeaveAction`. The display mode is applied after each step.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from kiosk.app import machine as m
from kiosk.calendar.scheduler import Join, Leave
from kiosk.room.controller import RoomStep
from kiosk.timeouts import wait_event

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk

log = logging.getLogger(__name__)

STEP_SECONDS = 1.0
_TRYING = (m.CallState.JOINING, m.CallState.IN_CALL, m.CallState.RECONNECTING, m.CallState.ERROR)


def call_session(kiosk: Kiosk) -> str | None:
    """The session the kiosk is in or trying to be in (None: no call)."""
    if kiosk.machine.state in _TRYING:
        return kiosk.session_id
    return None


def remote_count(kiosk: Kiosk) -> int:
    client = kiosk.client
    if client is None:
        return 0
    return sum(1 for cid in client.model.participants if cid != client.connection_id)


def step(kiosk: Kiosk) -> RoomStep:
    """One step: facts in, decision executed, display mode returned (applied by the caller)."""
    room = kiosk.room
    now = kiosk.wall_clock()
    if kiosk.machine.state == m.CallState.LEAVING or kiosk.machine.finished:
        # Between two calls (or shutting down): decide again once the leave is done.
        return RoomStep(None, room.display_mode)
    in_call = kiosk.machine.state in (m.CallState.IN_CALL, m.CallState.RECONNECTING)
    room.call_update(call_session(kiosk), remote_count(kiosk), now, in_call=in_call)
    result = room.step(now)
    decision = result.decision
    state = kiosk.machine.state
    if isinstance(decision, Join):
        if not kiosk.can_join(decision.session_id):
            return result
        title = decision.meeting.title if room.show_titles else ""
        log.info(
            "calendar: joining session %s%s",
            decision.session_id,
            f" for {title!r}" if title else "",
        )
        kiosk.session_id = decision.session_id
        if state == m.CallState.IDLE:
            kiosk.post(m.JoinAction())
        else:
            kiosk.post(m.RejoinAction())
        kiosk.toast(f"Meeting: {title}" if title else "Joining the booked meeting")
    elif isinstance(decision, Leave):
        log.info("calendar: leaving session %s: %s", kiosk.session_id, decision.reason)
        if state in _TRYING:
            kiosk.post(m.LeaveAction())
            kiosk.toast(f"Leaving: {decision.reason}")
        kiosk.session_id = kiosk.config.session.id
    return result


async def run(kiosk: Kiosk) -> None:
    room = kiosk.room
    reader: asyncio.Task[None] | None = None
    if room.calendar is not None:
        reader = kiosk.spawn(room.calendar.run(), "calendar")
    try:
        while True:
            result = step(kiosk)
            await room.apply_display(result.display)
            if room.calendar is None:
                await asyncio.sleep(STEP_SECONDS)
                continue
            changed = room.calendar.changed
            await wait_event(changed, STEP_SECONDS)
            changed.clear()
    finally:
        if reader is not None:
            reader.cancel()
