"""What a control can ask for. Buttons and the keyboard produce these; the runner acts on them."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

__all__ = ["Action", "ActionSink"]


class Action(StrEnum):
    JOIN_LEAVE = "join_leave"  # join when idle, leave when in a call, cancel an attempt
    NEXT = "next"  # cycle the main view
    MUTE_MIC = "mute_mic"  # microphone off/on
    CAMERA = "camera"  # video off/on
    REJOIN = "rejoin"  # long press of join_leave: leave and join again at once
    FULLSCREEN = "fullscreen"  # keyboard only
    QUIT = "quit"  # keyboard only (when allowed)


ActionSink = Callable[[Action], None]
"""Called on the asyncio loop's thread, once per action."""
