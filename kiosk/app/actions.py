"""Where a button or key press goes: an :class:`~kiosk.controls.actions.Action` → a call-machine
event (join/leave/rejoin/quit), the main view (next), mute state (microphone/camera), or the
display (fullscreen). Always called on the loop thread (buttons hand over with
``call_soon_threadsafe``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kiosk.app import machine as m
from kiosk.controls.actions import Action
from kiosk.controls.keyboard import action_for_key
from kiosk.media.publisher import MediaKind
from kiosk.screen.display import KeyEvent
from kiosk.screen.mainview import SELF_ID

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk

log = logging.getLogger(__name__)


def handle_key(kiosk: Kiosk, key: KeyEvent) -> None:
    if not key.down:
        return
    action = action_for_key(key.key, allow_quit=kiosk.config.display.allow_quit)
    if action is not None:
        handle_action(kiosk, action)


def handle_action(kiosk: Kiosk, action: Action) -> None:
    log.info("action: %s", action.value)
    now = kiosk.wall_clock()
    if action in (Action.JOIN_LEAVE, Action.REJOIN):
        if action is Action.JOIN_LEAVE and kiosk.machine.state == m.CallState.IDLE:
            # A join by hand: the booked meeting on now, else the room's own session.
            kiosk.session_id = kiosk.room.meeting_session(now) or kiosk.config.session.id
        kiosk.room.button(now)  # overrides the calendar until the next meeting; wakes the screen
    else:
        kiosk.room.wake(now, "button")
    if action is Action.JOIN_LEAVE:
        if kiosk.machine.state == m.CallState.IN_CALL:
            kiosk.post(m.LeaveAction())
            kiosk.toast("Leaving the call")
        else:
            kiosk.post(m.JoinAction())
            kiosk.toast("Joining…" if kiosk.machine.state == m.CallState.IDLE else "Cancelled")
    elif action is Action.REJOIN:
        kiosk.post(m.RejoinAction())
        kiosk.toast("Rejoining the call")
    elif action is Action.NEXT:
        main_id = kiosk.view_policy.next(kiosk.clock())
        kiosk.toast(f"Main view: {name_of(kiosk, main_id)}")
    elif action is Action.MUTE_MIC:
        muted = toggle_mute(kiosk, "audio")
        kiosk.toast("Microphone muted" if muted else "Microphone on")
    elif action is Action.CAMERA:
        muted = toggle_mute(kiosk, "video")
        kiosk.toast("Camera off" if muted else "Camera on")
    elif action is Action.FULLSCREEN:
        if kiosk.display.toggle_fullscreen() and kiosk.renderer is not None:
            kiosk.renderer.surface = kiosk.display.surface
            kiosk.renderer.invalidate()
    elif action is Action.QUIT and kiosk.config.display.allow_quit:
        kiosk.post(m.Shutdown())


def toggle_mute(kiosk: Kiosk, kind: MediaKind) -> bool:
    muted = not kiosk.muted[kind]
    kiosk.muted[kind] = muted
    if kiosk.media is not None:
        kiosk.spawn(kiosk.media.set_muted(kind, muted), f"mute-{kind}")
    kiosk.show_leds()
    return muted


def name_of(kiosk: Kiosk, connection_id: str) -> str:
    if connection_id == SELF_ID:
        return "You"
    return kiosk.client.model.name_of(connection_id) if kiosk.client else connection_id
