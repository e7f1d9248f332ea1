"""The snapshot of the room the app hands to the renderer each tick (plain data, no pygame).

The renderer draws only what is in a :class:`RoomView`, so a screenshot can never show more
than the app put here (never a token or secret: the app builds these strings from names, ids
and statuses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from kiosk.protocols import FrameSource

RoomState = Literal["idle", "joining", "in_call", "reconnecting", "error"]
ROOM_STATES: tuple[RoomState, ...] = ("idle", "joining", "in_call", "reconnecting", "error")

JOIN_HINT = "Press the green button to join"


@dataclass(frozen=True, slots=True, eq=False)
class TileInfo:
    """One participant as the screen shows it. ``name`` is the display name (clientData)."""

    id: str
    name: str
    is_self: bool = False
    mic_muted: bool = False
    video_active: bool = True
    speaking: bool = False
    frames: FrameSource | None = None


@dataclass(frozen=True, slots=True)
class Toast:
    """A short notice (participant joined/left, chat signal) shown until ``expires_at``."""

    text: str
    expires_at: float


@dataclass(frozen=True, slots=True, eq=False)
class RoomView:
    """Everything on screen for one tick.

    ``status_line``: one line under the title (joining step, "Reconnecting: server unreachable —
    next try in 8 s", the error reason). ``detail``: a second, smaller line (what to check).
    ``server_reachable``: ``None`` when unknown. ``progress``: 0..1 while joining, ``None`` for
    an indeterminate bar. ``main_id``: the tile on the main view (``None``: the first tile).
    ``banner``: a persistent notice shown over the main view while in a call (e.g. "Camera
    unavailable"); ``status_line`` is not shown in a call.

    Room features: ``agenda`` — the next meetings on the idle screen as (when, title, countdown)
    (title "" when titles are hidden); ``standby`` — the display sleeps: draw black only;
    ``call_info`` — the in-call information line (room, clock, call duration; the renderer adds
    how many participants its layout leaves out); ``layout`` — speaker or gallery in a call.

    ``more``: participants in the call left out of ``tiles`` because no screen place could be
    theirs (they come after ``tiles`` in the room's order; the layout counts them in "+N"). The
    app puts in ``tiles`` only as many as :func:`kiosk.screen.layout.max_tiled` says the screen
    can show, plus the one on main, so a frame costs the same in a room of 8 or of 1,000.
    """

    state: RoomState
    room_name: str = ""
    status_line: str = ""
    server_reachable: bool | None = None
    clock_text: str = ""
    tiles: Sequence[TileInfo] = field(default_factory=tuple)
    main_id: str | None = None
    toasts: Sequence[Toast] = field(default_factory=tuple)
    detail: str = ""
    hint: str = JOIN_HINT
    progress: float | None = None
    banner: str = ""
    agenda: Sequence[tuple[str, str, str]] = field(default_factory=tuple)
    standby: bool = False
    call_info: str = ""
    layout: Literal["speaker", "gallery"] = "speaker"
    more: int = 0
