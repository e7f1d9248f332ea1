"""The screen: pure layout and main-view policy, and the pygame-ce renderer.

Importing this package does not import pygame; the renderer modules do
(``kiosk.screen.renderer``, ``kiosk.screen.display``).
"""

from __future__ import annotations

from kiosk.protocols import FrameSource
from kiosk.screen.layout import Layout, OverflowSlot, Rect, TileSlot, compute_layout, fit_rect
from kiosk.screen.mainview import SELF_ID, VIEW_MODES, MainViewPolicy, ViewMode
from kiosk.screen.roomview import JOIN_HINT, ROOM_STATES, RoomState, RoomView, TileInfo, Toast

__all__ = [
    "JOIN_HINT",
    "ROOM_STATES",
    "SELF_ID",
    "VIEW_MODES",
    "FrameSource",
    "Layout",
    "MainViewPolicy",
    "OverflowSlot",
    "Rect",
    "RoomState",
    "RoomView",
    "TileInfo",
    "TileSlot",
    "Toast",
    "ViewMode",
    "compute_layout",
    "fit_rect",
]
