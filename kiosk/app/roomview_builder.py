"""The :class:`~kiosk.screen.roomview.RoomView` drawn each frame, read fresh from the owners of
each fact: the call machine (state, status line), the session model (participants and their
streams), the media session (frames, levels) and the main-view policy (main, speaking)."""

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


def build_room_view(kiosk: Kiosk) -> RoomView:
    now = kiosk.clock()
    client, media, policy = kiosk.client, kiosk.media, kiosk.view_policy
    levels = media.levels() if media is not None else {}
    remote: list[str] = []
    if client is not None and media is not None:
        remote = [cid for cid in client.model.participants if cid != client.connection_id]
    main_id = policy.update(now, remote, levels)
    speaking = policy.speaking()
    tiles: list[TileInfo] = []
    if client is not None and media is not None:
        tiles.append(
            TileInfo(
                id=SELF_ID,
                name="You",
                is_self=True,
                mic_muted=kiosk.muted["audio"],
                video_active=not kiosk.muted["video"],
                frames=media.local_frame,
            )
        )
        for cid in remote:
            p = client.model.participants[cid]
            stream = p.stream
            tiles.append(
                TileInfo(
                    id=cid,
                    name=p.display_name or "Guest",
                    mic_muted=bool(stream and stream.has_audio and not stream.audio_active),
                    video_active=bool(stream and stream.has_video and stream.video_active),
                    speaking=cid in speaking,
                    frames=media.frames.get(cid),
                )
            )
    cfg = kiosk.config
    room = kiosk.room
    wall = kiosk.wall_clock()
    clock_text = time.strftime("%H:%M") if cfg.display.show_clock else ""
    room_name = cfg.display.room_name or cfg.session.name
    in_call = kiosk.machine.state == m.CallState.IN_CALL
    in_session = in_call or (client is not None and media is not None)  # tiles known early
    layout = choose_layout(cfg.display.layout, len(remote)) if in_session else "speaker"
    if layout == "gallery" and not cfg.display.gallery_self:
        tiles = [t for t in tiles if not t.is_self]
    return RoomView(
        agenda=() if in_call else tuple((a.when, a.title, a.countdown) for a in room.agenda(wall)),
        standby=room.display_mode is DisplayMode.STANDBY,
        call_info=call_info_line(
            room_name=room_name,
            clock_text=clock_text,
            call_seconds=room.call_seconds(wall),
            hidden=0,
        )
        if in_call
        else "",
        layout=layout,
        state=ROOM_STATE.get(kiosk.machine.state, "idle"),
        room_name=room_name,
        status_line=kiosk.machine.status_line_at(now),
        banner="; ".join(kiosk.media_problems),
        server_reachable=kiosk.server_reachable,
        clock_text=clock_text,
        tiles=tuple(tiles),
        main_id=main_id,
        toasts=tuple(kiosk.toasts),
    )
