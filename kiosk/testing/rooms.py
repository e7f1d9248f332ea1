"""A room on loopback: the dev server with real aiortc media, plus bots publishing into it.

The caller has installed the loopback ICE seam (the ``loopback_ice`` fixture, or
:func:`kiosk.media.patches.install` in a bench's entry point).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from kiosk.bot import Bot, BotOptions, run_bots
from kiosk.devserver.media import AiortcMediaBackend
from kiosk.devserver.server import DevServer, DevServerOptions
from kiosk.media.ice import IceSettings
from kiosk.testing.configs import SECRET, SESSION

__all__ = ["Room", "dev_server", "loopback_room"]


@dataclass
class Room:
    server: DevServer
    stop_bots: asyncio.Event
    bots: asyncio.Task[list[Bot]] | None

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.asynccontextmanager
async def dev_server(
    *, secret: str = SECRET, tls: bool = False, **options: Any
) -> AsyncIterator[DevServer]:
    """A started dev server on 127.0.0.1, port 0, media on loopback; stopped on exit.

    ``options`` are further :class:`DevServerOptions` fields (``media_server``, grace times…).
    """
    server = DevServer(
        DevServerOptions(port=0, tls=tls, secret=secret, **options),
        media=AiortcMediaBackend(IceSettings.loopback()),
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def loopback_room(
    bots: int = 2,
    *,
    session: str = SESSION,
    secret: str = SECRET,
    width: int = 320,
    height: int = 240,
    fps: int = 15,
    server_options: dict[str, Any] | None = None,
    **bot_options: Any,
) -> AsyncIterator[Room]:
    """:func:`dev_server` with ``bots`` publishing bots (Alice, Bob, …) in ``session``.

    ``bot_options`` are further :class:`BotOptions` fields (``retry_seconds``, ``audio``…).
    On exit the bots leave (bounded) and the server stops.
    """
    async with dev_server(secret=secret, **(server_options or {})) as server:
        stop = asyncio.Event()
        task: asyncio.Task[list[Bot]] | None = None
        if bots:
            options = BotOptions(
                server=server.url,
                session=session,
                secret=secret,
                count=bots,
                width=width,
                height=height,
                fps=fps,
                ice=IceSettings.loopback(),
                **bot_options,
            )
            task = asyncio.create_task(run_bots(options, stop), name="loopback-room-bots")
        try:
            yield Room(server, stop, task)
        finally:
            stop.set()
            if task is not None:
                await asyncio.wait_for(task, 15)
