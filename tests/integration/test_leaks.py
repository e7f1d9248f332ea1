"""Leaving and rejoining 20 times leaks nothing — in the client and in the dev server.

One kiosk stays in the room; another joins (publishes, subscribes, both see each other's video),
leaves, and does it again. Afterwards there are as many RTCPeerConnections, threads, file
descriptors and asyncio tasks as after the first round (measured after a bounded settle wait).
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import weakref
from typing import Any

import psutil
import pytest
from aiortc import RTCPeerConnection

from kiosk.devserver.media import AiortcMediaBackend
from kiosk.testing.waits import wait_until
from tests.integration.integration_harness import ROOM, KioskPeer, MediaServer, dev_server

ROUNDS = 20
SETTLE_SECONDS = 10.0


def _peer_connections() -> list[weakref.ref[RTCPeerConnection]]:
    gc.collect()
    return [weakref.ref(o) for o in gc.get_objects() if isinstance(o, RTCPeerConnection)]


def _live_pcs() -> int:
    return sum(1 for ref in _peer_connections() if ref() is not None)


def _tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if not t.done() and t is not current]


def _executor_worker(thread: threading.Thread) -> bool:
    return thread.name.startswith("asyncio_")


def _snapshot() -> dict[str, int]:
    return {
        "peer connections": _live_pcs(),
        # the loop's default executor starts its workers lazily up to a fixed maximum: a
        # bounded pool, not a leak (checked separately); every other thread counts
        "threads": sum(1 for t in threading.enumerate() if not _executor_worker(t)),
        "file descriptors": psutil.Process().num_fds(),
        "asyncio tasks": len(_tasks()),
    }


async def _settled(baseline: dict[str, int], limit: float) -> dict[str, int]:
    """Wait (bounded) until nothing exceeds the baseline; return the last measurement."""
    deadline = time.monotonic() + limit
    while True:
        now = _snapshot()
        if all(now[k] <= baseline[k] for k in baseline) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.25)


async def _one_round(stayer: KioskPeer, visitor: KioskPeer) -> None:
    await visitor.join()
    await wait_until(
        lambda: (
            (f := visitor.media.frames.get(stayer.connection_id)) is not None and f.frame_count >= 1
        ),
        15,
        "the visitor seeing the stayer",
    )
    cid = visitor.connection_id
    await wait_until(
        lambda: (f := stayer.media.frames.get(cid)) is not None and f.frame_count >= 1,
        15,
        "the stayer seeing the visitor",
    )
    await visitor.leave()
    await wait_until(
        lambda: cid not in stayer.media.subscribers,
        5,
        "the stayer dropping the visitor's subscription",
    )


@pytest.mark.parametrize("media_server", ["kurento", "mediasoup"])
async def test_rejoining_twenty_times_leaks_nothing(media_server: MediaServer) -> None:
    async with dev_server(media_server) as srv:
        backend = srv.media
        assert isinstance(backend, AiortcMediaBackend)
        stayer = KioskPeer(srv, "Stayer")
        visitor = KioskPeer(srv, "Visitor", tone_hz=550.0)
        try:
            await stayer.join()
            # warm-up: lazily created executor/codec threads and caches exist after this
            for _ in range(2):
                await _one_round(stayer, visitor)
            # only the stayer's publisher endpoint (the visitor's close may still be under way)
            await wait_until(
                lambda: len(list(backend.peer_connections())) == 1,
                10,
                "the dev server releasing the visitor's endpoints",
            )
            server_pcs = 1
            baseline = _snapshot()

            for _ in range(ROUNDS):
                await _one_round(stayer, visitor)

            after = await _settled(baseline, SETTLE_SECONDS)
            leaks = {k: (baseline[k], after[k]) for k in baseline if after[k] > baseline[k]}
            assert not leaks, (
                f"grew over {ROUNDS} rejoins (before, after): {leaks} {_thread_names()}"
            )

            workers = [t for t in threading.enumerate() if _executor_worker(t)]
            assert len(workers) <= min(32, (os.cpu_count() or 1) + 4)  # the pool's maximum

            # the dev server keeps no endpoint or connection of the visitor
            assert len(list(backend.peer_connections())) == server_pcs
            session = srv.state.get_session(ROOM)
            active = [c.connection_id for c in session.active_connections()]
            assert active == [stayer.connection_id]
            # the client side keeps no subscriber, frame sink or mixer input of the visitor
            assert list(stayer.media.subscribers) == []
            assert list(stayer.media.frames) == []
            assert stayer.mixer is not None and stayer.mixer.levels() == {}
        finally:
            await visitor.leave()
            await stayer.leave()


def _thread_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate())
