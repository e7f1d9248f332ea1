"""The :class:`~kiosk.screen.roomview.RoomView` drawn each frame, read fresh from the owners of
each fact: the call machine (state, status line), the session model (participants and their
streams), the media session (frames, levels) and the main-view policy (main, speaking)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kiosk.app import machine as m
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
    return RoomView(
        state=ROOM_STATE.get(kiosk.machine.state, "idle"),
        room_name=cfg.display.room_name or cfg.session.name,
        status_line=kiosk.machine.status_line_at(now),
        banner="; ".join(kiosk.media_problems),
        server_reachable=kiosk.server_reachable,
        clock_text=time.strftime("%H:%M") if cfg.display.show_clock else "",
        tiles=tuple(tiles),
        main_id=main_id,
        toasts=tuple(kiosk.toasts),
    )
