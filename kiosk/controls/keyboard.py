"""The keyboard map (pure): pygame key codes → actions.

J join/leave · N or Tab next view · M mute microphone · V camera off/on · F fullscreen ·
Q or Esc quit (only when ``allow_quit``; a meeting-room kiosk usually does not allow it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pygame import constants as keys

from kiosk.controls.actions import Action

__all__ = ["KEYMAP", "QUIT_KEYS", "action_for_key"]

KEYMAP: Mapping[int, Action] = MappingProxyType(
    {
        keys.K_j: Action.JOIN_LEAVE,
        keys.K_n: Action.NEXT,
        keys.K_TAB: Action.NEXT,
        keys.K_m: Action.MUTE_MIC,
        keys.K_v: Action.CAMERA,
        keys.K_f: Action.FULLSCREEN,
    }
)
QUIT_KEYS: frozenset[int] = frozenset({keys.K_q, keys.K_ESCAPE})


def action_for_key(key: int, *, allow_quit: bool = False) -> Action | None:
    """The action for a ``pygame.KEYDOWN`` event's ``key``, or ``None`` if the key means nothing."""
    if key in QUIT_KEYS:
        return Action.QUIT if allow_quit else None
    return KEYMAP.get(key)
