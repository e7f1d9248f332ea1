"""The shared-memory video slot across two processes: a worker-like writer in a child process,
the reader here; every frame read is whole (never half of one frame and half of the next)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from kiosk.errors import MediaError
from kiosk.media.workers.slots import SlotFrames, SlotWriter, VideoSlot, fit_size

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]

WRITER = """
import sys, av, numpy as np
from kiosk.media.workers.slots import SlotWriter
w = SlotWriter.attach(sys.argv[1])
n = int(sys.argv[2])
for i in range(1, n + 1):
    v = i % 200 + 20
    arr = np.full((240 * 3 // 2, 320), v, dtype=np.uint8)
    f = av.VideoFrame.from_ndarray(arr, format="yuv420p")
    f.pts = i
    w.write(f, i)
w.close()
print("done", flush=True)
"""


def _frame(width: int, height: int, value: int) -> av.VideoFrame:
    arr = np.full((height * 3 // 2, width), value, dtype=np.uint8)
    return av.VideoFrame.from_ndarray(arr, format="yuv420p")


def test_frames_written_in_another_process_are_read_whole() -> None:
    slot = VideoSlot(640, 480)
    frames = SlotFrames(slot)
    writes = 3000
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, slot.name, str(writes)], env=env, stdout=subprocess.PIPE
    )
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            if frames.frame_count == 0:
                time.sleep(0.001)
                continue
            frame = frames.latest()
            if frame is None:
                continue
            planes = frame.to_ndarray()
            # one value everywhere: a frame is never half one write and half the next
            assert planes.min() == planes.max(), "a torn frame reached the reader"
            assert frame.pts is not None and frame.pts % 200 + 20 == int(planes[0, 0])
            seen.add(int(planes[0, 0]))
        assert child.wait(30) == 0
        assert frames.frame_count == writes
        last = frames.latest()
        assert last is not None and last.pts == writes and (last.width, last.height) == (320, 240)
        assert len(seen) > 1, "the reader saw only one frame while the writer wrote thousands"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        slot.close()
    assert not Path("/dev/shm", slot.name).exists()


def test_large_frames_are_scaled_into_the_slot_and_other_formats_converted() -> None:
    slot = VideoSlot(320, 240)
    writer = SlotWriter.attach(slot.name)
    try:
        frames = SlotFrames(slot)
        assert frames.latest() is None and frames.frame_count == 0
        big = _frame(1280, 720, 90).reformat(format="rgb24")
        writer.write(big, 1)
        got = frames.latest()
        assert got is not None and (got.width, got.height) == (320, 180)
        assert frames.frame_count == 1 and frames.last_frame_at is not None
    finally:
        writer.close()
        slot.close()


def test_fit_size_keeps_aspect_and_even_sizes() -> None:
    assert fit_size(320, 240, 1920, 1080) == (320, 240)
    assert fit_size(3840, 2160, 1920, 1080) == (1920, 1080)
    assert fit_size(1081, 1081, 1920, 1080) == (1080, 1080)
    w, h = fit_size(333, 777, 100, 100)
    assert w % 2 == 0 and h % 2 == 0 and w <= 100 and h <= 100


def test_attaching_something_that_is_not_a_slot_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="video slot"):
        SlotWriter.attach("kiosk-no-such-slot")
    with pytest.raises(MediaError, match="bad name"):
        SlotWriter.attach("../etc/passwd")


def test_stall_is_counted_from_the_last_frame() -> None:
    now = [100.0]
    slot = VideoSlot(64, 64)
    writer = SlotWriter.attach(slot.name)
    try:
        frames = SlotFrames(slot, clock=lambda: now[0])
        assert not frames.stalled(102.0, 5)
        assert frames.stalled(106.0, 5)
        now[0] = 106.0
        writer.write(_frame(64, 64, 1), 1)
        assert not frames.stalled(107.0, 5)
        assert frames.latest() is not None
    finally:
        writer.close()
        slot.close()
    # a view drawn after the subscription closed still has its last frame and count
    assert frames.frame_count == 1 and frames.latest() is not None


def test_nothing_is_left_in_dev_shm_after_close() -> None:
    slot = VideoSlot(64, 64)
    writer = SlotWriter.attach(slot.name)
    try:
        assert Path("/dev/shm", slot.name).exists()
    finally:
        writer.close()
        slot.close()
