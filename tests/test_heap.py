"""Heap trimming (kiosk.heap): the schedule, the keeper off the loop, glibc for real, /metrics."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.heap import HeapKeeper, TrimSchedule, find_trimmer, resident_bytes
from kiosk.testing.configs import loopback_kiosk_config
from kiosk.testing.reliability import free_port
from kiosk.testing.waits import wait_until

# --- the schedule (pure) ------------------------------------------------------------------------


def test_first_trim_comes_one_interval_after_start_then_every_interval() -> None:
    s = TrimSchedule(60.0)
    assert not s.due(100.0)  # start: armed, not due
    assert not s.due(159.9)
    assert s.due(160.0)
    s.started(160.0)
    s.finished()
    assert not s.due(219.0)
    assert s.due(220.0)


def test_never_two_trims_at_once() -> None:
    s = TrimSchedule(1.0)
    s.due(0.0)
    assert s.due(1.0)
    s.started(1.0)
    assert not s.due(5.0)  # the first one still runs
    s.finished()
    assert s.due(5.0)


def test_zero_means_never() -> None:
    s = TrimSchedule(0.0)
    assert not any(s.due(t) for t in (0.0, 1e3, 1e6))


# --- the keeper ---------------------------------------------------------------------------------


class RecordingTrimmer:
    def __init__(self, fail: bool = False) -> None:
        self.threads: list[int] = []
        self.fail = fail

    def trim(self) -> bool:
        self.threads.append(threading.get_ident())
        if self.fail:
            raise OSError("no")
        return True


async def test_a_due_trim_runs_off_the_loop_thread_and_counts_what_it_gave_back() -> None:
    rss = iter([300, 200, 250, 260])  # before/after of two trims: 100 back, then none (+10)
    trimmer = RecordingTrimmer()
    keeper = HeapKeeper(trimmer, 10.0, rss=lambda: next(rss))
    assert keeper.tick(0.0) is None
    assert keeper.tick(5.0) is None
    first = keeper.tick(10.0)
    assert first is not None
    assert keeper.tick(30.0) is None  # still running: not a second one
    await first
    second = keeper.tick(30.0)
    assert second is not None
    await second
    assert trimmer.threads and threading.get_ident() not in trimmer.threads
    assert keeper.stats.trims == 2
    assert keeper.stats.released_bytes == 100


async def test_a_failing_trimmer_is_logged_once_and_not_called_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trimmer = RecordingTrimmer(fail=True)
    keeper = HeapKeeper(trimmer, 1.0, rss=lambda: 0)
    keeper.tick(0.0)
    fut = keeper.tick(1.0)
    assert fut is not None
    with caplog.at_level(logging.WARNING, "kiosk.heap"), pytest.raises(OSError):
        await fut
    await asyncio.sleep(0)  # the done callback
    assert keeper.tick(100.0) is None
    assert len(trimmer.threads) == 1
    assert sum("heap trim failed" in r.getMessage() for r in caplog.records) == 1


def test_without_a_trimmer_nothing_is_scheduled() -> None:
    keeper = HeapKeeper(None, 1.0)
    assert keeper.tick(0.0) is None and keeper.tick(10.0) is None


# --- glibc for real -----------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim: Linux only")
def test_freed_heap_memory_below_a_live_block_goes_back_to_the_os() -> None:
    trimmer = find_trimmer()
    assert trimmer is not None, "this Linux has no glibc malloc_trim"
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size, count = 96 * 1024, 400  # below the mmap threshold: from the heap; ~37 MiB
    blocks = [libc.malloc(size) for _ in range(count)]
    assert all(blocks)
    try:
        for b in blocks:
            ctypes.memset(b, 1, size)  # resident
        for b in blocks[:-1]:  # the last one stays: free() cannot shrink the heap's top
            libc.free(b)
        held = resident_bytes()
        trimmer.trim()
        after = resident_bytes()
    finally:
        libc.free(blocks[-1])
    assert held is not None and after is not None
    assert held - after > 20 * 2**20, f"RSS {held >> 20} -> {after >> 20} MiB"


# --- end to end: the admin sees it in /metrics --------------------------------------------------


def _counter(text: str, name: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                return float(s.value)
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.integration
async def test_a_running_kiosk_trims_on_schedule_and_says_so_in_metrics() -> None:
    port = free_port()  # nothing listens: the kiosk retries the server, housekeeping runs on
    config = loopback_kiosk_config(
        f"http://127.0.0.1:{port}",
        media={"heap_trim_seconds": 1},
        status={"listen": "127.0.0.1:0"},
    )
    kiosk = Kiosk(config)
    run = asyncio.create_task(kiosk.run())
    try:
        await asyncio.wait_for(kiosk.ready.wait(), 20)
        assert kiosk.status_server is not None
        async with httpx.AsyncClient(base_url=kiosk.status_server.url, timeout=5) as http:
            await wait_until(lambda: kiosk.heap.stats.trims >= 2, 20, "two trims")
            text = (await http.get("/metrics")).text
            assert 2 <= _counter(text, "kiosk_heap_trims_total") <= kiosk.heap.stats.trims
            released = _counter(text, "kiosk_heap_trim_released_bytes_total")
            assert 0 <= released <= kiosk.heap.stats.released_bytes
    finally:
        kiosk.post(m.Shutdown())
        await asyncio.wait_for(run, 10)
