"""Media faults: the dev server stops forwarding one stream; only that stream is re-subscribed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from kiosk.app.kiosk import Kiosk
from kiosk.app.machine import CallState
from kiosk.bot import Bot, BotOptions, run_bots
from kiosk.devserver.media import AiortcMediaBackend, EncodedRelay
from kiosk.devserver.server import DevServer, DevServerOptions
from kiosk.media import ice
from kiosk.testing.configs import SECRET, SESSION
from kiosk.testing.reliability import (
    in_call_with_frames,
    kiosk_config,
    remote_frames,
)
from kiosk.testing.scenarios import kiosk_running
from kiosk.testing.waits import wait_until


class CountingBackend(AiortcMediaBackend):
    """The real aiortc relay, counting subscriptions per stream (the seam the test watches)."""

    def __init__(self, settings: ice.IceSettings) -> None:
        super().__init__(settings)
        self.subscriptions: Counter[str] = Counter()

    async def subscribe(self, subscriber_id: str, stream_id: str, sdp_offer: str, emit: Any) -> str:
        self.subscriptions[stream_id] += 1
        return await super().subscribe(subscriber_id, stream_id, sdp_offer, emit)

    async def prepare_subscribe(self, subscriber_id: str, stream_id: str, emit: Any) -> str:
        self.subscriptions[stream_id] += 1
        return await super().prepare_subscribe(subscriber_id, stream_id, emit)


@contextlib.contextmanager
def paused(relay: EncodedRelay) -> Any:
    """Stop forwarding a publisher's frames (the receiver keeps receiving and dropping them)."""
    relay.on_frame = lambda data, timestamp: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        del relay.on_frame


@contextlib.asynccontextmanager
async def media_call() -> AsyncIterator[tuple[Kiosk, CountingBackend, list[Bot]]]:
    settings = ice.IceSettings.loopback()  # installed by the loopback_ice fixture
    backend = CountingBackend(settings)
    srv = DevServer(DevServerOptions(port=0, tls=False), media=backend)
    await srv.start()
    stop = asyncio.Event()
    started: list[Bot] = []
    bots = asyncio.create_task(
        run_bots(
            BotOptions(
                server=srv.url,
                session=SESSION,
                secret=SECRET,
                count=2,
                ice=settings,
                width=320,
                height=240,
                fps=15,
            ),
            stop,
            on_started=started.extend,
        )
    )
    k = Kiosk(kiosk_config(srv.url, stall_seconds=1.5))
    try:
        async with kiosk_running(k):
            await wait_until(lambda: in_call_with_frames(k, min_participants=2), 30, "the call")
            yield k, backend, started
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bots, 15)
        await srv.stop()


def _stream_of(k: Kiosk, connection_id: str) -> str:
    for p in k.status()["participants"]:
        if p["connection_id"] == connection_id:
            return str(p["stream_id"])
    raise AssertionError(f"{connection_id} not in the kiosk's status")


async def test_stalled_stream_is_resubscribed_alone_and_recovers() -> None:
    async with media_call() as (k, backend, bots):
        victim, other = bots[0].connection_id, bots[1].connection_id
        assert victim and other
        victim_stream, other_stream = _stream_of(k, victim), _stream_of(k, other)
        relay = backend.relay(victim_stream, "video")
        assert relay is not None
        subs0 = dict(backend.subscriptions)
        joins0, lost0 = k.stats.joins, k.stats.reconnects

        with paused(relay):
            await asyncio.sleep(0.5)
            frames_victim = remote_frames(k)[victim]
            other_before = remote_frames(k)[other]
            took = await wait_until(
                lambda: backend.subscriptions[victim_stream] > subs0[victim_stream],
                10,
                "the kiosk to re-subscribe the stalled stream",
            )
            # Stall detection: stall_seconds (1.5 s) + housekeeping tick (1 s) at most.
            assert took < 4.0
            # The victim's frames stopped; the other stream was never touched and keeps going.
            assert remote_frames(k)[victim] <= frames_victim + 1
            assert remote_frames(k)[other] > other_before + 15
            assert backend.subscriptions[other_stream] == subs0[other_stream]
            assert (k.stats.joins, k.stats.reconnects) == (joins0, lost0)
            assert k.machine.state == CallState.IN_CALL

        # The server forwards again: the (re-subscribed) victim stream shows frames again.
        resumed_from = remote_frames(k)[victim]
        await wait_until(
            lambda: remote_frames(k).get(victim, 0) > resumed_from + 10,
            15,
            "frames on the re-subscribed stream",
        )
        assert backend.subscriptions[other_stream] == subs0[other_stream]
        assert (k.stats.joins, k.stats.reconnects) == (joins0, lost0)
