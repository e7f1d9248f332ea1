"""The test pattern's timestamp survives VP8 and scaling, and the track is paced and moving."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from kiosk.media.testpattern import (
    STRIP_TOP_FRACTION,
    TIMESTAMP_MODULO,
    PatternRenderer,
    TestPatternTrack,
    latency_ms,
    read_timestamp,
)


def _vp8_round_trip(images: list[np.ndarray], bit_rate: int) -> list[av.VideoFrame]:
    enc = av.CodecContext.create("libvpx", "w")
    assert isinstance(enc, av.VideoCodecContext)
    enc.width, enc.height = images[0].shape[1], images[0].shape[0]
    enc.pix_fmt = "yuv420p"
    enc.bit_rate = bit_rate
    enc.framerate = Fraction(30)
    enc.time_base = Fraction(1, 30)
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    dec = av.CodecContext.create("vp8", "r")
    out: list[av.VideoFrame] = []
    for i, image in enumerate(images):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for packet in enc.encode(frame):
            out.extend(dec.decode(packet))
    for packet in enc.encode(None):
        out.extend(dec.decode(packet))
    return out


_BASE = 1_790_000_000.0
_STAMPS = [_BASE + i * 0.0333 + 0.000123 * i for i in range(20)]


@pytest.fixture(scope="module")
def vp8_frames() -> list[av.VideoFrame]:
    renderer = PatternRenderer("Alice", 640, 480)
    images = [renderer.render(t) for t in _STAMPS]
    return _vp8_round_trip(images, bit_rate=300_000)  # a stingy bitrate on purpose


@pytest.mark.parametrize("size", [(320, 240), (1920, 1080), (640, 480), (160, 120)])
def test_timestamp_survives_vp8_and_scaling(
    vp8_frames: list[av.VideoFrame], size: tuple[int, int]
) -> None:
    assert len(vp8_frames) == len(_STAMPS)
    for t, frame in zip(_STAMPS, vp8_frames, strict=True):
        scaled = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
        assert read_timestamp(scaled) == round(t * 1000) % TIMESTAMP_MODULO


def test_timestamp_inside_a_region_of_a_screenshot() -> None:
    renderer = PatternRenderer("Bob", 640, 480)
    picture = renderer.render(1_790_000_123.456)
    tile = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(width=200, height=150)
    screen = np.full((720, 1280, 3), 40, dtype=np.uint8)
    screen[500:650, 1000:1200] = tile.to_ndarray(format="rgb24")
    assert read_timestamp(screen) is None
    got = read_timestamp(screen, region=(1000, 500, 200, 150))
    assert got == 1_790_000_123_456 % TIMESTAMP_MODULO
    now_ms = 1_790_000_123_456 + 87
    assert latency_ms(screen, now_ms, region=(1000, 500, 200, 150)) == 87


def test_absent_or_corrupt_timestamp_reads_none() -> None:
    rng = np.random.default_rng(1)
    assert read_timestamp(np.zeros((480, 640, 3), dtype=np.uint8)) is None
    for _ in range(20):
        noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        assert read_timestamp(noise) is None
    picture = PatternRenderer("Carol").render(1_790_000_000.0)
    # flip one data cell: the checksum must reject it
    cell = 640 / 36
    x0, x1 = int(10 * cell), int(11 * cell)
    top = int(480 * STRIP_TOP_FRACTION)
    picture[top : top + 48, x0:x1] = 255 - picture[top : top + 48, x0:x1]
    assert read_timestamp(picture) is None


def test_timestamp_survives_screen_overlays() -> None:
    """A tile's name label (bottom quarter) and mute mark (top-right corner) cover the picture's
    edges on screen; the strip sits clear of both, so latency stays readable from a screenshot."""
    now = 1_790_000_123.456
    picture = PatternRenderer("Grace").render(now)
    picture[360:, :320] = 30  # a name label box along the bottom-left
    picture[:120, 520:] = 200  # a mute mark in the top-right corner
    assert read_timestamp(picture) == round(now * 1000) % TIMESTAMP_MODULO


def test_latency_wraps_around_the_modulo() -> None:
    picture = PatternRenderer("Dan").render((TIMESTAMP_MODULO - 10) / 1000)
    assert latency_ms(picture, TIMESTAMP_MODULO + 15) == 25


async def test_track_is_paced_and_moves() -> None:
    track = TestPatternTrack("Eve", width=320, height=240, fps=30)
    start = time.monotonic()
    frames = [await asyncio.wait_for(track.recv(), 5) for _ in range(16)]
    elapsed = time.monotonic() - start
    track.stop()
    assert 0.4 < elapsed < 2.0  # 15 frame intervals at 30 fps = 0.5 s
    assert frames[0].width == 320 and frames[0].height == 240
    pts = [f.pts for f in frames]
    assert all(p is not None for p in pts)
    assert pts == sorted(p or 0 for p in pts) and len(set(pts)) == len(pts)
    first, last = frames[0].to_ndarray(format="rgb24"), frames[-1].to_ndarray(format="rgb24")
    moving = slice(int(240 * 0.62), int(240 * 0.82))
    assert not np.array_equal(first[moving], last[moving])
    stamps = [read_timestamp(f.to_ndarray(format="rgb24")) for f in frames]
    assert all(s is not None for s in stamps)
    now = int(time.time() * 1000)
    assert latency_ms(frames[-1].to_ndarray(format="rgb24"), now) is not None
    assert 0 <= (latency_ms(frames[-1].to_ndarray(format="rgb24"), now) or 0) < 1000


async def test_track_uses_injected_clock() -> None:
    track = TestPatternTrack("Fay", width=320, height=240, clock=lambda: 1_790_000_000.5)
    frame = await track.recv()
    track.stop()
    assert read_timestamp(frame.to_ndarray(format="rgb24")) == 1_790_000_000_500 % TIMESTAMP_MODULO


def test_rendering_is_cheap() -> None:
    renderer = PatternRenderer("Gus", 640, 480)
    start = time.perf_counter()
    for i in range(60):
        av.VideoFrame.from_ndarray(renderer.render(1_790_000_000 + i / 30), format="rgb24")
    per_frame = (time.perf_counter() - start) / 60
    assert per_frame < 0.01  # well under one frame interval, so bots can run many
