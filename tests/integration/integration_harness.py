"""Helpers for the integration tests: an in-process dev server with real aiortc media, and
"kiosk peers" (OpenViduClient + MediaSession + AudioMixer) that join it over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import typing
from collections.abc import AsyncIterator
from typing import Any, Literal

from kiosk.devserver.server import DevServer
from kiosk.media.devices import LocalMedia
from kiosk.media.ice import IceSettings
from kiosk.media.session_media import MediaSession
from kiosk.media.sinks import AudioMixer
from kiosk.media.testpattern import TestPatternTrack
from kiosk.media.tone import ToneTrack
from kiosk.openvidu.client import OpenViduClient
from kiosk.openvidu.events import Event, ParticipantPublished, StreamPropertyChanged
from kiosk.openvidu.tokens import RestTokenProvider
from kiosk.testing import rooms

SECRET = "Integration-Secret-42"
ROOM = "IntegrationRoom"
ICE = IceSettings.loopback()
WIDTH, HEIGHT, FPS = 640, 480, 15

MediaServer = Literal["kurento", "mediasoup"]

# every Event class the session cares about
_EVENT_TYPES: tuple[type[Any], ...] = typing.get_args(Event)


@contextlib.asynccontextmanager
async def dev_server(media_server: MediaServer = "kurento") -> AsyncIterator[DevServer]:
    """The dev server with real media and short grace times (the loopback seam is installed by
    this directory's conftest)."""
    async with rooms.dev_server(
        secret=SECRET,
        media_server=media_server,
        grace_seconds=0.5,
        close_after_leave_seconds=0.5,
    ) as srv:
        yield srv


class KioskPeer:
    """One kiosk-like participant: publishes test pattern + tone, subscribes to everyone."""

    def __init__(self, srv: DevServer, name: str, tone_hz: float = 440.0) -> None:
        self.srv = srv
        self.name = name
        self.tone_hz = tone_hz
        self.client: OpenViduClient | None = None
        self.session: MediaSession | None = None
        self.mixer: AudioMixer | None = None
        self.local: LocalMedia | None = None
        self.tone: ToneTrack | None = None
        self.properties: list[StreamPropertyChanged] = []
        self._pump: asyncio.Task[None] | None = None

    @property
    def connection_id(self) -> str:
        assert self.client is not None and self.client.connection_id is not None
        return self.client.connection_id

    @property
    def media(self) -> MediaSession:
        assert self.session is not None, f"{self.name} has not joined"
        return self.session

    async def join(self) -> None:
        tokens = RestTokenProvider(self.srv.url, SECRET, ROOM, ssl_context=None, timeout=5.0)
        token = await tokens.get_token()
        client = OpenViduClient(self.name, ssl_context=None)  # request timeout: the default 10 s
        join = await client.join(token)
        self.client = client
        self.tone = ToneTrack(self.tone_hz)
        self.local = LocalMedia(
            audio=self.tone,
            video=TestPatternTrack(self.name, WIDTH, HEIGHT, FPS),
            type_of_video="CUSTOM",
            video_dimensions=(WIDTH, HEIGHT),
            frame_rate=FPS,
        )
        self.mixer = AudioMixer()
        self.session = MediaSession(
            client.rpc,
            join.connection_id,
            join.media_server,
            self.local,
            ICE,
            mixer=self.mixer,
            stream_of=client.model.stream_of,
        )
        # streams already in the session (from the joinRoom result), as the kiosk does
        for participant in list(client.model.participants.values()):
            if participant.stream is not None:
                self.session.handle(
                    ParticipantPublished(participant.connection_id, participant.stream)
                )
        self._pump = asyncio.create_task(self._events(), name=f"peer-{self.name}-events")
        await self.session.start(publish=True)
        assert self.session.publish_state == "published", self.session.publish_error

    async def _events(self) -> None:
        assert self.client is not None
        while True:
            item = await self.client.events.get()
            if isinstance(item, StreamPropertyChanged):
                self.properties.append(item)
            if isinstance(item, _EVENT_TYPES) and self.session is not None:
                self.session.handle(item)

    async def leave(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.mixer is not None:
            await self.mixer.close()
            self.mixer = None
        if self.client is not None:
            await self.client.leave()
            self.client = None
        if self.local is not None:
            self.local.close()
            self.local = None
        self.tone = None
