"""LatestFrame keeps only the newest frame; the mixer mixes, measures and stays bounded."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.media.devices import NullAudioOutput
from kiosk.media.sinks import INBOX_FRAMES, AudioMixer, LatestFrame
from kiosk.media.testpattern import TestPatternTrack, read_timestamp
from kiosk.media.tone import ToneTrack
from kiosk.testing.waits import wait_until


class QueueTrack(MediaStreamTrack):
    """Like aiortc's RemoteStreamTrack: an unbounded queue filled by someone else."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[av.VideoFrame | None] = asyncio.Queue()

    async def recv(self) -> av.VideoFrame:
        frame = await self.queue.get()
        if frame is None:
            raise MediaStreamError
        return frame


async def test_latest_frame_drains_counts_and_never_queues() -> None:
    track = QueueTrack()
    sink = LatestFrame()
    sink.attach(track)
    source = TestPatternTrack("Zed", width=160, height=120, clock=lambda: 1_790_000_000.0)
    frame = await source.recv()
    source.stop()
    max_backlog = 0
    for i in range(300):  # a fast producer, in bursts
        track.queue.put_nowait(frame)
        if i % 10 == 9:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        max_backlog = max(max_backlog, track.queue.qsize())
    await wait_until(lambda: track.queue.qsize() == 0, 5, "the sink to drain the track")
    assert max_backlog <= 10
    assert sink.frame_count == 300
    latest = sink.latest()
    assert latest is not None and read_timestamp(latest.to_ndarray(format="rgb24")) is not None
    assert sink.last_frame_at is not None and not sink.stalled(time.monotonic(), 1.0)
    track.queue.put_nowait(None)
    await wait_until(lambda: sink.ended, 5, "the sink to see the end of the track")
    assert sink.stalled(time.monotonic() + 5, 1.0)
    await sink.stop()


async def test_stalled_counts_from_attach_when_no_frame_came() -> None:
    now = [100.0]
    sink = LatestFrame(clock=lambda: now[0])
    track = QueueTrack()
    sink.attach(track)
    assert not sink.stalled(102.0, 5.0)
    assert sink.stalled(106.0, 5.0)
    await sink.stop()
    assert sink.latest() is None and sink.frame_count == 0


def _tone_frame(freq: float, n: int, rate: int, amplitude: float, start: int = 0) -> av.AudioFrame:
    t = (np.arange(n) + start) / rate
    pcm = (np.sin(2 * math.pi * freq * t) * amplitude * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    return frame


def test_mixer_levels_tone_and_silence() -> None:
    mixer = AudioMixer(48000, 2)
    for i in range(10):
        mixer.feed("con_tone", _tone_frame(440, 960, 48000, 0.5, start=i * 960))
        silent = av.AudioFrame.from_ndarray(
            np.zeros((1, 960), np.int16), format="s16", layout="mono"
        )
        silent.sample_rate = 48000
        mixer.feed("con_quiet", silent)
    levels = mixer.levels()
    # a sine of amplitude 0.5 has an RMS of 0.5/sqrt(2): about -9 dBFS
    assert -10.5 < levels["con_tone"] < -7.5
    assert levels["con_quiet"] == -math.inf


def test_mixer_resamples_and_sums() -> None:
    mixer = AudioMixer(48000, 2)
    # 16 kHz mono and 48 kHz mono inputs, both 100 ms
    mixer.feed("a", _tone_frame(500, 1600, 16000, 0.25))
    mixer.feed("b", _tone_frame(500, 4800, 48000, 0.25))
    out = mixer.mix(2400)  # 50 ms
    assert out.dtype == np.int16 and out.size == 4800
    left = out[0::2].astype(np.float64)
    assert np.array_equal(out[0::2], out[1::2])  # mono spread to both channels
    assert np.sqrt(np.mean(left[600:] ** 2)) > 0.3 * 32767 / np.sqrt(2)  # both contribute
    # clipping, not wrap-around, when the sum exceeds full scale
    loud = AudioMixer(48000, 1)
    for pid in ("x", "y", "z"):
        loud.feed(pid, _tone_frame(100, 960, 48000, 0.9))
    mixed = loud.mix(960).astype(np.int32)
    assert mixed.max() == 32767 and mixed.min() == -32768


def test_mixer_buffer_is_bounded_and_drops_oldest() -> None:
    mixer = AudioMixer(48000, 2, max_buffer_ms=100)
    for i in range(100):  # 2 s of audio, nobody reading
        mixer.feed("con_A", _tone_frame(440, 960, 48000, 0.3, start=i * 960))
        assert mixer.buffered_ms()["con_A"] <= 100.0
    assert mixer.buffered_ms()["con_A"] >= 80.0
    mixer.mix(48000)  # reading more than there is gives silence padding, not an error
    assert mixer.buffered_ms()["con_A"] == 0.0


class SlowOutput(NullAudioOutput):
    """An output that blocks the loop a bit on every write (a slow device)."""

    def write(self, pcm: np.ndarray) -> None:
        time.sleep(0.03)
        super().write(pcm)


async def test_mixer_with_live_tones_and_a_slow_output_stays_bounded() -> None:
    mixer = AudioMixer(48000, 2, max_buffer_ms=100)
    tracks = [ToneTrack(440), ToneTrack(660, sample_rate=16000, channels=2)]
    for i, track in enumerate(tracks):
        mixer.add_track(f"con_{i}", track)
    output = SlowOutput()
    mixer.start(output, frame_ms=20)
    worst = 0.0
    for _ in range(15):
        await asyncio.sleep(0.1)
        worst = max([worst, *mixer.buffered_ms().values()])
    assert worst <= 100.0
    assert output.samples_written > 0
    levels = mixer.levels()
    assert levels["con_0"] > -20 and levels["con_1"] > -20
    await mixer.close()
    for track in tracks:
        track.stop()
    assert mixer.levels() == {}


async def test_a_backlog_behind_a_busy_loop_is_skipped_not_shown_late() -> None:
    """aiortc's remote track queues every decoded frame; when the loop was busy, the screen must
    jump to the newest frame instead of replaying the backlog (which made latency grow to
    seconds under load)."""
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    track = RemoteStreamTrack(kind="video")
    frames = []
    for i in range(60):

        def clock(i: int = i) -> float:
            return 1_790_000_000 + i / 30

        pattern = TestPatternTrack("Zed", width=160, height=120, clock=clock)
        frames.append(await pattern.recv())
        pattern.stop()
    for frame in frames:  # what aiortc's decoder thread did while the loop was busy
        track._queue.put_nowait(frame)
    sink = LatestFrame()
    sink.attach(track)
    for _ in range(100):
        if sink.frame_count == 60:
            break
        await asyncio.sleep(0.01)
    assert sink.frame_count == 60 and track._queue.qsize() == 0
    assert sink.skipped >= 58  # at most one frame shown before the rest was skipped
    latest = sink.latest()
    assert latest is not None
    newest = read_timestamp(frames[-1].to_ndarray(format="rgb24"))
    assert read_timestamp(latest.to_ndarray(format="rgb24")) == newest
    track._queue.put_nowait(None)  # the end of the track is not swallowed by the skipping
    for _ in range(50):
        if sink.ended:
            break
        await asyncio.sleep(0.01)
    assert sink.ended
    await sink.stop()


class RecordingOutput(NullAudioOutput):
    """Records when each chunk arrived and on which thread; can be made to hang."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str, float]] = []  # (time, thread, peak)
        self.hold = threading.Event()
        self.hold.set()

    def write(self, pcm: np.ndarray) -> None:
        self.hold.wait(5)
        peak = float(np.abs(pcm.astype(np.int32)).max()) if pcm.size else 0.0
        self.writes.append((time.monotonic(), threading.current_thread().name, peak))
        super().write(pcm)


async def test_the_speaker_is_fed_while_the_loop_is_busy() -> None:
    """Mixing and writing run on the mixer thread: a loop blocked for half a second (a slow
    subscription set-up, a big redraw) no longer leaves the speaker without audio."""
    mixer = AudioMixer(48000, 2, max_buffer_ms=200)
    output = RecordingOutput()
    mixer.start(output, frame_ms=20)
    try:
        for i in range(10):  # 200 ms of a tone, fed from the loop as the drain tasks do
            mixer.feed("con_A", _tone_frame(440, 960, 48000, 0.5, start=i * 960))
        await wait_until(lambda: any(peak > 1000 for _, _, peak in output.writes), 5, "the tone")
        assert {name for _, name, _ in output.writes} == {"audio-mixer"}
        assert mixer.levels()["con_A"] > -20
        blocked_at = time.monotonic()
        time.sleep(0.5)  # noqa: ASYNC251 -- the loop thread is busy on purpose
        during = [t for t, _, _ in output.writes if blocked_at <= t <= blocked_at + 0.5]
        assert len(during) >= 5, f"{len(during)} chunks reached the speaker in 0.5 s"
    finally:
        await mixer.close()
    assert mixer.levels() == {}


async def test_a_stuck_speaker_cannot_make_the_mixer_inbox_grow() -> None:
    mixer = AudioMixer(48000, 2)
    output = RecordingOutput()
    output.hold.clear()  # the device hangs: the mixer thread stops taking frames
    mixer.start(output, frame_ms=20)
    try:
        for i in range(2000):  # 40 s of audio arrives meanwhile
            mixer.feed("con_A", _tone_frame(440, 960, 48000, 0.5, start=i * 960))
        assert len(mixer._inbox) <= INBOX_FRAMES
        assert mixer.inbox_dropped >= 2000 - INBOX_FRAMES - 1
    finally:
        output.hold.set()
        await mixer.close()
