"""Media workers end to end (issue 14): a kiosk with ``media.workers: 2`` in a real dev-server
room with two bots shows both bots' video (through the shared-memory slots) and plays their
audio (PCM from the workers into the mixer); a worker killed with SIGKILL → its streams show
frames again within a deadline; after the kiosk closes no worker process, no shared-memory
segment of ours and no extra socket remains."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.media.testpattern import read_timestamp
from kiosk.media.workers.remote import RemoteSubscriber
from kiosk.testing.configs import loopback_kiosk_config
from kiosk.testing.rooms import loopback_room
from kiosk.testing.waits import wait_until

pytestmark = pytest.mark.integration

HEARD_DBFS = -50.0  # a bot's tone is ~-10 dBFS


def _remote(k: Kiosk) -> dict[str, RemoteSubscriber]:
    media = k.media
    if media is None:
        return {}
    return {c: s for c, s in media.subscribers.items() if isinstance(s, RemoteSubscriber)}


def _showing(k: Kiosk, cid: str, frames: int, subscription: object = None) -> bool:
    media = k.media
    if media is None or k.machine.state != m.CallState.IN_CALL:
        return False
    sub, source = media.subscribers.get(cid), media.frames.get(cid)
    if sub is None or source is None or (subscription is not None and sub is subscription):
        return False
    return media.plan.phase(cid) == "active" and source.frame_count >= frames


def _our_segments() -> list[str]:
    return [p.name for p in Path("/dev/shm").glob(f"kiosk-{os.getpid()}-*")]


def _unix_sockets() -> int:
    return len(psutil.Process().net_connections(kind="unix"))


async def test_two_workers_show_both_bots_and_a_killed_worker_comes_back() -> None:
    async with loopback_room(2, width=320, height=240, fps=15) as room:
        config = loopback_kiosk_config(
            room.server.url,
            display={"size": "640x360", "max_fps": 15},
            media={"workers": 2, "camera": {"device": "none"}, "microphone": {"device": "none"}},
        )
        sockets_before = _unix_sockets()
        k = Kiosk(config)
        run = asyncio.create_task(k.run())
        pids: set[int] = set()
        try:
            await wait_until(
                lambda: len(_remote(k)) == 2 and all(_showing(k, c, 10) for c in _remote(k)),
                60,
                "frames from both bots through the workers",
            )
            assert k.workers is not None
            pids.update(k.workers.pids())
            subs = _remote(k)
            # least loaded: one subscription on each worker, neither in this process
            assert {s.worker_pid for s in subs.values()} == set(k.workers.pids())
            assert os.getpid() not in pids and len(pids) == 2
            media, mixer = k.media, k.mixer
            assert media is not None and mixer is not None
            for cid in subs:
                frame = media.frames[cid].latest()
                assert frame is not None and (frame.width, frame.height) == (320, 240)
                assert read_timestamp(frame.to_ndarray(format="rgb24")) is not None
            await wait_until(
                lambda: all(mixer.levels().get(c, -1e9) > HEARD_DBFS for c in subs),
                20,
                "both bots heard (audio from the workers)",
            )

            # kill -9 the worker of one bot: its stream fails over and shows frames again
            victim_cid, victim = next(iter(subs.items()))
            other_cid = next(c for c in subs if c != victim_cid)
            assert victim.worker_pid is not None
            os.kill(victim.worker_pid, signal.SIGKILL)
            killed_at = time.monotonic()
            took = await wait_until(
                lambda: _showing(k, victim_cid, 5, subscription=victim),
                45,
                "the killed worker's stream showing frames again",
            )
            print(f"stream back {took:.1f} s after kill -9 of its worker")
            assert victim.closed or victim.failed is not None
            # the other bot's stream kept going meanwhile (its worker is alive)
            assert _showing(k, other_cid, 10)
            # the dead worker was restarted: two live workers again
            pool = k.workers
            await wait_until(lambda: len(pool.pids()) == 2, 30, "the worker restarted")
            pids.update(pool.pids())
            # the admin sees it: two alive, one restart, each worker's memory and load
            assert k.status_server is not None
            async with httpx.AsyncClient(base_url=k.status_server.url, timeout=10) as http:
                await wait_until(
                    lambda: all(f.ready for f in pool.facts()), 30, "the new worker ready"
                )
                st = (await http.get("/status")).json()["media_workers"]
                metrics = (await http.get("/metrics")).text
            assert (st["configured"], st["alive"], st["restarts"]) == (2, 2, 1)
            assert sorted(w["pid"] for w in st["workers"]) == sorted(pool.pids())
            assert all(w["rss_bytes"] > 10 * 2**20 for w in st["workers"])
            assert sum(w["subscriptions"] for w in st["workers"]) == 2
            assert "kiosk_media_worker_restarts_total 1.0" in metrics
            assert "kiosk_media_workers_alive 2.0" in metrics
            assert time.monotonic() - killed_at < 75
        finally:
            k.post(m.Shutdown())
            code = await asyncio.wait_for(run, 20)
        assert code == 0
        # nothing left: processes, shared memory, sockets to the workers
        await wait_until(
            lambda: not any(psutil.pid_exists(p) for p in pids), 10, "no worker process left"
        )
        assert _our_segments() == []
        await wait_until(
            lambda: _unix_sockets() <= sockets_before, 10, "no socket to a worker left"
        )
