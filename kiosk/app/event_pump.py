"""The client's notifications, one by one, to where they belong: stream and ICE events to the
media session, roster changes and chat to toasts, connection changes to the call machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.app import machine as m
from kiosk.media.session_media import MediaSession
from kiosk.openvidu.client import (
    ConnectionLost,
    ConnectionResumed,
    EvictedSelf,
    OpenViduClient,
    RosterChanged,
)
from kiosk.openvidu.events import (
    IceCandidateReceived,
    ParticipantEvicted,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantUnpublished,
    SignalReceived,
    StreamPropertyChanged,
)
from kiosk.openvidu.session_model import Change

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk

CHAT_TYPES = ("signal:chat", "chat")
CHAT_TOAST_CHARS = 80


async def pump_events(kiosk: Kiosk, client: OpenViduClient, media: MediaSession) -> None:
    while True:
        item = await client.events.get()
        if isinstance(
            item,
            IceCandidateReceived
            | ParticipantPublished
            | ParticipantUnpublished
            | ParticipantLeft
            | ParticipantEvicted
            | StreamPropertyChanged,
        ):
            media.handle(item)
        if isinstance(item, RosterChanged) and not item.at_join:
            for change in item.changes:
                roster_toast(kiosk, change)
        elif isinstance(item, SignalReceived):
            if item.type in CHAT_TYPES:
                sender = (
                    client.model.name_of(item.from_connection_id)
                    if item.from_connection_id
                    else "Server"
                )
                kiosk.toast(f"{sender}: {item.data[:CHAT_TOAST_CHARS]}")
        elif isinstance(item, ConnectionLost):
            kiosk.stats.reconnects += 1
            kiosk.post(m.SocketLost(item.reason))
        elif isinstance(item, ConnectionResumed):
            pass
        elif isinstance(item, EvictedSelf):
            if item.reason == "sessionClosedByServer":
                kiosk.post(m.SessionClosed(item.reason))
            else:
                kiosk.post(m.EvictedFromSession(item.reason))


def roster_toast(kiosk: Kiosk, change: Change) -> None:
    name = change.display_name or "Someone"
    if change.kind == "joined":
        kiosk.toast(f"{name} joined")
    elif change.kind == "left":
        kiosk.toast(f"{name} left")
