"""Event-loop stalls: when one is reported, which frames it names, and (integration) that a
callback sleeping on the loop thread is named in the one line logged for it."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time

import pytest

from kiosk.app.stalls import (
    LoopStallReporter,
    StallTracker,
    freeze_startup_heap,
    pick_frames,
    short_path,
    thread_cpu_clock,
    thread_kind,
)
from kiosk.testing.waits import wait_until

SITE = "/usr/lib/python3/dist-packages"
VENV = "/work/main/.venv/lib/python3.12/site-packages"

STACK = [  # outermost first, as traceback.extract_stack gives them
    ("/usr/lib/python3.12/asyncio/base_events.py", 1999, "_run_once"),
    ("/usr/lib/python3.12/asyncio/events.py", 88, "_run"),
    ("/srv/kiosk/kiosk/app/operations.py", 120, "join"),
    ("/srv/kiosk/kiosk/media/peer.py", 51, "__init__"),
    (f"{VENV}/aiortc/rtcpeerconnection.py", 300, "__init__"),
    (f"{VENV}/aiortc/rtcdtlstransport.py", 80, "generate_certificate"),
    (f"{VENV}/cryptography/hazmat/primitives/asymmetric/ec.py", 360, "generate_private_key"),
]


def test_paths_are_shown_relative_to_their_package() -> None:
    assert short_path(f"{VENV}/aiortc/rtcdtlstransport.py") == "aiortc/rtcdtlstransport.py"
    assert short_path(f"{SITE}/pygame/__init__.py") == "pygame/__init__.py"
    assert short_path("/srv/kiosk/kiosk/media/peer.py") == "kiosk/media/peer.py"
    assert short_path("/usr/lib/python3.12/asyncio/events.py") == "asyncio/events.py"
    assert short_path("<frozen importlib._bootstrap>") == "<frozen importlib._bootstrap>"


def test_the_innermost_frame_then_the_innermost_in_our_and_the_media_code() -> None:
    where = pick_frames(STACK)
    assert where == (
        "cryptography/hazmat/primitives/asymmetric/ec.py:360 generate_private_key"
        " < aiortc/rtcdtlstransport.py:80 generate_certificate"
        " < aiortc/rtcpeerconnection.py:300 __init__"
        " < kiosk/media/peer.py:51 __init__"
    )
    # innermost already in a named package: not named twice
    assert pick_frames(STACK[:-1], limit=2) == (
        "aiortc/rtcdtlstransport.py:80 generate_certificate"
        " < aiortc/rtcpeerconnection.py:300 __init__"
    )
    assert pick_frames(STACK[:2]) == "asyncio/events.py:88 _run"  # none of ours on the stack
    assert pick_frames([]) == "?"


def test_one_report_per_stall_when_the_loop_beats_again_with_its_length_and_place() -> None:
    tracker = StallTracker(1.0, beat_s=0.1)
    places = iter(["a", "b", "b", "b"])
    sampled: list[str] = []

    def sample() -> str:
        sampled.append(next(places))
        return sampled[-1]

    assert tracker.observe(0.5, 0.4, sample) is None  # beating: no sample taken
    assert tracker.observe(1.0, 0.4, sample) is None  # 0.6 s: not yet a stall
    assert sampled == []
    for now in (1.6, 2.1, 2.6, 3.1):  # blocked since 0.4: sampled, not reported yet
        assert tracker.observe(now, 0.4, sample) is None
    assert sampled == ["a", "b", "b", "b"]
    stall = tracker.observe(3.6, 3.5, sample)  # it beat at 3.5: over after 3.0 s
    assert stall is not None and not stall.ongoing
    assert stall.seconds == pytest.approx(3.0)
    assert (stall.where, stall.seen, stall.samples) == ("b", 3, 4)
    assert stall.line() == "event loop blocked for 3.0 s (3 of 4 samples): b"
    assert tracker.stalls == 1 and tracker.longest_s == pytest.approx(3.0)
    assert tracker.observe(3.8, 3.7, sample) is None  # beating again: nothing more
    assert tracker.stalls == 1


def test_the_line_says_how_much_of_the_stall_the_loop_thread_computed() -> None:
    tracker = StallTracker(1.0, beat_s=0.1)
    assert tracker.observe(0.3, 0.2, lambda: "x", cpu=10.0) is None  # the look before
    tracker.observe(1.5, 0.2, lambda: "select", cpu=10.05)
    tracker.observe(3.0, 0.2, lambda: "select", cpu=10.1)
    stall = tracker.observe(3.3, 3.2, lambda: "x", cpu=10.2)
    assert stall is not None and stall.cpu_s == pytest.approx(0.2)
    # 2.9 s blocked, 0.2 s on a CPU: it waited (CPU, GIL, lock), it did not compute
    assert stall.line() == (
        "event loop blocked for 2.9 s, loop thread on CPU 0.2 s (2 of 2 samples): select"
    )


def test_the_line_names_the_other_threads_that_ran_meanwhile() -> None:
    tracker = StallTracker(1.0, beat_s=0.1)
    start = {"video-decoder": 5.0, "asyncio": 1.0, "mixer": 2.0}
    tracker.observe(0.3, 0.2, lambda: "x", cpu=1.0, threads=start)
    tracker.observe(1.5, 0.2, lambda: "wait", cpu=1.0, threads=start)
    after = {"video-decoder": 5.9, "asyncio": 1.3, "mixer": 2.01, "new": 0.2}
    stall = tracker.observe(2.3, 2.2, lambda: "x", cpu=1.0, threads=after)
    assert stall is not None
    assert [name for name, _ in stall.others] == ["video-decoder", "asyncio", "new"]
    assert stall.line() == (
        "event loop blocked for 1.9 s, loop thread on CPU 0.0 s, other threads video-decoder"
        " 0.9 s, asyncio 0.3 s, new 0.2 s (1 of 1 samples): wait"
    )


def test_thread_names_lose_their_numbers() -> None:
    assert thread_kind("Thread-3 (decoder_worker)") == "decoder_worker"
    assert thread_kind("ThreadPoolExecutor-0_2") == "ThreadPoolExecutor-0"
    assert thread_kind("asyncio_11") == "asyncio"
    assert thread_kind("video-decoder") == "video-decoder"
    assert thread_kind("loop_stalls") == "loop_stalls"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux thread CPU clocks")
def test_a_thread_cpu_clock_reads_this_thread_and_refuses_an_unknown_one() -> None:
    clock = thread_cpu_clock(threading.get_native_id())
    assert clock is not None
    spent = time.clock_gettime(clock)
    assert abs(spent - time.thread_time()) < 0.05
    gone = thread_cpu_clock(2**22 + 12345)  # above pid_max's default: no such thread
    assert gone is not None
    with pytest.raises(OSError):
        time.clock_gettime(gone)


def test_a_gap_shorter_than_the_threshold_is_not_counted() -> None:
    tracker = StallTracker(1.0, beat_s=0.1)
    assert tracker.observe(1.3, 0.0, lambda: "x") is None  # looks blocked: sampled
    assert tracker.observe(1.4, 1.05, lambda: "x") is None  # beat again: 0.95 s < 1 s
    assert (tracker.stalls, tracker.longest_s) == (0, 0.0)


def test_a_hang_is_reported_while_it_lasts_once() -> None:
    tracker = StallTracker(1.0, beat_s=0.1, hang_s=10.0)
    reports = [tracker.observe(t / 2, 0.0, lambda: "stuck") for t in range(3, 40)]
    ongoing = [r for r in reports if r is not None]
    assert len(ongoing) == 1 and ongoing[0].ongoing
    assert ongoing[0].line().startswith("event loop still blocked after 10.0 s")
    assert tracker.stalls == 0  # it has not ended


def test_lines_are_rate_limited_but_every_stall_is_counted() -> None:
    tracker = StallTracker(1.0, beat_s=0.1, burst=2, window_s=60.0)
    lines = []
    beat = 0.0
    for _ in range(5):  # five 2 s stalls, 3 s apart
        tracker.observe(beat + 1.5, beat, lambda: "x")
        stall = tracker.observe(beat + 2.2, beat + 2.1, lambda: "x")
        lines.append(stall)
        beat += 3.0
    assert [s is not None for s in lines] == [True, True, False, False, False]
    assert tracker.stalls == 5 and tracker.not_logged == 3
    beat = 100.0  # the window has passed: the next line says how many were left out
    tracker.observe(beat + 1.5, beat, lambda: "x")
    stall = tracker.observe(beat + 2.2, beat + 2.1, lambda: "x")
    assert stall is not None and stall.line().endswith("[3 more stalls not logged]")
    assert tracker.not_logged == 0


def test_distinct_places_are_bounded() -> None:
    tracker = StallTracker(1.0, beat_s=0.1)
    counter = iter(range(1000))
    for i in range(100):
        tracker.observe(1.5 + i * 0.25, 0.0, lambda: f"place {next(counter)}")
    stall = tracker.observe(30.0, 29.9, lambda: "x")
    assert stall is not None and stall.samples == 100
    assert stall.where == "other places" and stall.seen == 92


def test_objects_from_start_leave_the_full_collections() -> None:
    kept = [[i] for i in range(5000)]  # alive at start: modules, classes, caches …
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() >= len(kept)
        fresh = [[i] for i in range(100)]  # made later (a call): still collected
        scanned = gc.get_objects()  # what a full collection walks from now on
        assert len(scanned) < frozen
        assert any(o is fresh[0] for o in scanned)
        assert not any(o is kept[0] for o in scanned)
    finally:
        gc.unfreeze()  # this test process goes on creating and dropping kiosks


def _block_the_loop(seconds: float) -> None:
    time.sleep(seconds)


@pytest.mark.integration
async def test_a_callback_blocking_the_loop_is_named(caplog: pytest.LogCaptureFixture) -> None:
    reporter = LoopStallReporter(StallTracker(1.0), check_s=0.05)
    caplog.set_level(logging.WARNING, logger="kiosk.app.stalls")

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "kiosk.app.stalls"]

    reporter.start()
    try:
        asyncio.get_running_loop().call_soon(_block_the_loop, 2.0)
        await wait_until(
            lambda: any("_block_the_loop" in line for line in lines()), 15, "the stall line"
        )
        line = next(line for line in lines() if "_block_the_loop" in line)
        # one line: how long, and where (this file's function; the test machine may be loaded)
        assert line.startswith("event loop blocked for "), line
        assert float(line.split()[4]) >= 1.8, line
        assert "test_stalls.py:" in line and "\n" not in line, line
        assert reporter.stalls >= 1 and reporter.longest_s >= 1.8
    finally:
        reporter.stop()
