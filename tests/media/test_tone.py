"""ToneTrack: 20 ms s16 frames of a continuous sine, paced in real time."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from kiosk.media.tone import ToneTrack


async def test_tone_frames_are_20ms_s16_continuous_and_paced() -> None:
    track = ToneTrack(1000, sample_rate=48000)
    start = time.monotonic()
    frames = [await asyncio.wait_for(track.recv(), 5) for _ in range(11)]
    elapsed = time.monotonic() - start
    track.stop()
    # paced: 10 frame intervals of 20 ms, never a burst (how late a loaded machine delivers
    # them is no property of the track: no upper wall-clock bound)
    assert elapsed > 0.15
    assert all(
        f.samples == 960 and f.format.name == "s16" and f.sample_rate == 48000 for f in frames
    )
    assert [f.pts for f in frames] == [i * 960 for i in range(11)]
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float64)
    # phase-continuous: no jump between frames bigger than one sample step of the sine
    assert np.max(np.abs(np.diff(pcm))) < 0.3 * 32767 * 2 * np.pi * 1000 / 48000 * 1.05
    # 1 kHz: about 2 zero crossings per ms
    crossings = np.count_nonzero(np.diff(np.signbit(pcm)))
    assert abs(crossings - 2 * len(pcm) / 48) < 4


async def test_stereo_and_silent_tone() -> None:
    track = ToneTrack(440, sample_rate=16000, channels=2)
    frame = await track.recv()
    assert frame.layout.name == "stereo" and frame.samples == 320
    data = frame.to_ndarray().reshape(-1)
    assert np.array_equal(data[0::2], data[1::2]) and np.abs(data).max() > 1000
    track.silent = True
    assert not np.any((await track.recv()).to_ndarray())
    track.stop()
