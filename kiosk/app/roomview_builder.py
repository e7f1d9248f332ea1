"""The :class:`~kiosk.screen.roomview.RoomView` drawn each frame, read fresh from the owners of
each fact: the call machine (state, status line), the session model (participants and their
streams), the media session (frames, levels) and the main-view policy (main, speaking).

Only participants the screen could show get a :class:`TileInfo`: the first
``Renderer.max_tiled`` in the room's order (own camera, then join order) and the one on main;
the others are a count (``RoomView.more``, the "+N" tile). So a room of 1,000 costs a frame no
more tiles than a room of 8.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kiosk.app import machine as m
from kiosk.room.idle import DisplayMode
from kiosk.screen.callinfo import call_info_line
from kiosk.screen.layout import choose_layout
from kiosk.screen.mainview import SELF_ID
from kiosk.screen.roomview import RoomState, RoomView, TileInfo

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk

ROOM_STATE: dict[m.CallState, RoomState] = {
    m.CallState.IDLE: "idle",
    m.CallState.JOINING: "joining",
    m.CallState.IN_CALL: "in_call",
    m.CallState.RECONNECTING: "reconnecting",
    m.CallState.LEAVING: "joining",
    m.CallState.ERROR: "error",
}


def shown_ids(order: list[str], main_id: str | None, limit: int | None) -> tuple[list[str], int]:
    """The ids that get a :class:`TileInfo` (the first ``limit`` of ``order``, and ``main_id``
    after them when it is further on) and how many of ``order`` are left out.
    ``limit`` ``None``: no screen to ask, everyone."""
    if limit is None or len(order) <= limit:
        return order, 0
    ids = order[: max(0, limit)]
    if main_id is not None and main_id not in ids and main_id in order:
        ids.append(main_id)  # the one on main is never left out
    return ids, len(order) - len(ids)


def _tile(kiosk: Kiosk, cid: str) -> TileInfo:
    """One participant's tile (the room's own camera for ``SELF_ID``)."""
    media = kiosk.media
    frames = media.frames if media is not None else {}
    if cid == SELF_ID:
        return TileInfo(
            id=SELF_ID,
            name="You",
            is_self=True,
            mic_muted=kiosk.muted["audio"],
            video_active=not kiosk.muted["video"],
            frames=media.local_frame if media is not None else None,
        )
    assert kiosk.client is not None
    p = kiosk.client.model.participants[cid]
    stream = p.stream
    policy = kiosk.view_policy
    return TileInfo(
        id=cid,
        name=p.display_name or "Guest",
        mic_muted=bool(stream and stream.has_audio and not stream.audio_active),
        video_active=bool(stream and stream.has_video and stream.video_active),
        # As MainViewPolicy.speaking(), asked only for those with a tile.
        speaking=policy.smoothed_level(cid) >= policy.threshold_db,
        frames=frames.get(cid),
    )


def build_room_view(kiosk: Kiosk) -> RoomView:
    now = kiosk.clock()
    client, media, policy = kiosk.client, kiosk.media, kiosk.view_policy
    levels = media.levels() if media is not None else {}
    remote: list[str] = []
    if client is not None and media is not None:
        remote = [cid for cid in client.model.participants if cid != client.connection_id]
    main_id = policy.update(now, remote, levels)
    cfg = kiosk.config
    room = kiosk.room
    wall = kiosk.wall_clock()
    clock_text = time.strftime("%H:%M") if cfg.display.show_clock else ""
    room_name = cfg.display.room_name or cfg.session.name
    in_call = kiosk.machine.state == m.CallState.IN_CALL
    in_session = in_call or (client is not None and media is not None)  # tiles known early
    layout = choose_layout(cfg.display.layout, len(remote)) if in_session else "speaker"
    call_info = (
        call_info_line(
            room_name=room_name,
            clock_text=clock_text,
            call_seconds=room.call_seconds(wall),
            hidden=0,
        )
        if in_call
        else ""
    )
    tiles: list[TileInfo] = []
    more = 0
    if client is not None and media is not None:
        with_self = layout != "gallery" or cfg.display.gallery_self
        order = [SELF_ID, *remote] if with_self else remote
        renderer = kiosk.renderer
        limit = (
            renderer.max_tiled(layout, call_info=bool(call_info)) if renderer is not None else None
        )
        ids, more = shown_ids(order, main_id, limit)
        tiles = [_tile(kiosk, cid) for cid in ids]
    return RoomView(
        agenda=() if in_call else tuple((a.when, a.title, a.countdown) for a in room.agenda(wall)),
        standby=room.display_mode is DisplayMode.STANDBY,
        call_info=call_info,
        layout=layout,
        state=ROOM_STATE.get(kiosk.machine.state, "idle"),
        room_name=room_name,
        status_line=kiosk.machine.status_line_at(now),
        banner="; ".join(kiosk.media_problems),
        server_reachable=kiosk.server_reachable,
        clock_text=clock_text,
        tiles=tuple(tiles),
        more=more,
        main_id=main_id,
        toasts=tuple(kiosk.toasts),
    )


def pictured(kiosk: Kiosk) -> tuple[frozenset[str], int] | None:
    """The remote connection ids with a picture in the view drawn last (main view, strip or
    gallery) and how many participants that view left out ("+N", own camera included when it
    is out); ``None`` before anything of a call was drawn (or without a screen)."""
    view, renderer = kiosk._last_view, kiosk.renderer
    if view is None or renderer is None or not view.tiles:
        return None
    tiled = renderer.tiled_ids(view)
    hidden = len(view.tiles) + view.more - len(tiled)
    return frozenset(i for i in tiled if i != SELF_ID), hidden
