"""Media workers and the video plan: a participant without a tile is subscribed audio-only in a
worker; giving them a tile switches the subscription (``reconnectStream``) to a new worker
subscription whose video reaches the screen's frame source, and their audio keeps playing.
The server-offer flow (mediasoup) works through the workers too."""

from __future__ import annotations

import asyncio
import contextlib
import time
import typing
from typing import Any

import pytest

from kiosk.media.ice import IceSettings
from kiosk.media.session_media import MediaSession
from kiosk.media.sinks import AudioMixer
from kiosk.media.workers.pool import WorkerPool, WorkerSettings
from kiosk.media.workers.remote import RemoteSubscriber
from kiosk.openvidu.client import OpenViduClient
from kiosk.openvidu.events import Event, ParticipantPublished
from kiosk.openvidu.tokens import RestTokenProvider
from kiosk.testing.configs import SECRET, SESSION
from kiosk.testing.rooms import loopback_room
from kiosk.testing.waits import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("loopback_ice")]

_EVENTS: tuple[type[Any], ...] = typing.get_args(Event)
HEARD_DBFS = -50.0


async def test_a_promotion_switches_a_worker_subscription_to_video_and_keeps_the_audio() -> None:
    async with loopback_room(2, width=160, height=120, fps=10) as room:
        pool = WorkerPool(WorkerSettings(count=2, max_width=320, max_height=240))
        await pool.start()
        tokens = RestTokenProvider(room.url, SECRET, SESSION, ssl_context=None, timeout=5.0)
        client = OpenViduClient("Switcher", ssl_context=None)
        join = await client.join(await tokens.get_token())
        mixer = AudioMixer()
        media = MediaSession(
            client.rpc,
            join.connection_id,
            join.media_server,
            None,
            IceSettings.loopback(),
            mixer=mixer,
            stream_of=client.model.stream_of,
            await_screen=True,
            workers=pool,
        )

        async def pump() -> None:
            while True:
                item = await client.events.get()
                if isinstance(item, _EVENTS):
                    media.handle(item)

        pumping = asyncio.create_task(pump())
        try:
            for p in list(client.model.participants.values()):
                if p.stream is not None:
                    media.handle(ParticipantPublished(p.connection_id, p.stream))
            await wait_until(
                lambda: len([c for c in client.model.participants if c != join.connection_id]) == 2,
                30,
                "both bots in the model",
            )
            alice, bob = sorted(c for c in client.model.participants if c != join.connection_id)
            tiles = [alice]

            def frame_loop_step() -> bool:
                media.update_video(time.monotonic(), tiles)  # what the render loop does
                return True

            def up(cid: str, *, video: bool) -> bool:
                frame_loop_step()
                sub = media.subscribers.get(cid)
                frames = media.frames.get(cid)
                return (
                    isinstance(sub, RemoteSubscriber)
                    and sub.video == video
                    and media.plan.phase(cid) == "active"
                    and (not video or (frames is not None and frames.frame_count > 5))
                )

            await wait_until(lambda: up(alice, video=True), 60, "Alice's video via a worker")
            await wait_until(lambda: up(bob, video=False), 60, "Bob audio-only via a worker")
            assert bob not in media.frames or media.frames[bob].frame_count == 0
            await wait_until(
                lambda: frame_loop_step() and mixer.levels().get(bob, -1e9) > HEARD_DBFS,
                20,
                "Bob heard while audio-only",
            )
            audio_only = media.subscribers[bob]

            tiles = [bob]  # Bob gets the tile: a promotion
            await wait_until(
                lambda: up(bob, video=True) and media.subscribers[bob] is not audio_only,
                60,
                "Bob's video through the switched worker subscription",
            )
            assert audio_only.closed
            await wait_until(
                lambda: frame_loop_step() and mixer.levels().get(bob, -1e9) > HEARD_DBFS,
                20,
                "Bob heard from the new subscription",
            )
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping
            await media.close()
            await mixer.close()
            await client.leave()
            await pool.close()


async def test_the_server_offer_flow_works_through_the_workers() -> None:
    options = {"media_server": "mediasoup"}
    async with loopback_room(2, width=160, height=120, fps=10, server_options=options) as room:
        pool = WorkerPool(WorkerSettings(count=1, max_width=320, max_height=240))
        await pool.start()
        tokens = RestTokenProvider(room.url, SECRET, SESSION, ssl_context=None, timeout=5.0)
        client = OpenViduClient("Offered", ssl_context=None)
        join = await client.join(await tokens.get_token())
        assert join.media_server == "mediasoup"
        mixer = AudioMixer()
        media = MediaSession(
            client.rpc,
            join.connection_id,
            join.media_server,
            None,
            IceSettings.loopback(),
            mixer=mixer,
            stream_of=client.model.stream_of,
            workers=pool,
        )

        async def pump() -> None:
            while True:
                item = await client.events.get()
                if isinstance(item, _EVENTS):
                    media.handle(item)

        pumping = asyncio.create_task(pump())
        try:
            for p in list(client.model.participants.values()):
                if p.stream is not None:
                    media.handle(ParticipantPublished(p.connection_id, p.stream))

            def both_up() -> bool:
                subs = [s for s in media.subscribers.values() if isinstance(s, RemoteSubscriber)]
                return len(subs) == 2 and all(
                    (f := media.frames.get(s.publisher_connection_id)) is not None
                    and f.frame_count > 5
                    for s in subs
                )

            await wait_until(both_up, 60, "both bots' video through the worker (server offer)")
            await wait_until(
                lambda: all(mixer.levels().get(c, -1e9) > HEARD_DBFS for c in media.subscribers),
                20,
                "both bots heard",
            )
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping
            await media.close()
            await mixer.close()
            await client.leave()
            await pool.close()
