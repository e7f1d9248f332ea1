"""Where remote media goes: the newest video frame per stream, and one mixed audio output.

Both sinks drain aiortc tracks continuously (``await track.recv()`` in a loop): aiortc's receive
queue is unbounded, so a track nobody reads grows without limit. They keep only what is needed:
``LatestFrame`` the newest frame, ``AudioMixer`` at most ``max_buffer_ms`` of audio per
participant (older audio is dropped rather than letting the output drift behind).

Once playing (:meth:`AudioMixer.start`), the mixer's work — level measurement, resampling,
mixing and writing to the speaker — runs on its own thread, paced every 20 ms: the loop thread
only takes each decoded frame from aiortc and appends it to a bounded inbox (the oldest frames
are dropped, and counted, when the thread falls behind). The loop reads levels and buffer depths
under a lock. Without ``start`` (tests, tools) ``feed`` and ``mix`` work synchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]


class LatestFrame:
    """Keeps the newest decoded frame of a video track; never a queue.

    ``attach(track)`` starts a task that drains the track; ``frame_count`` counts every frame
    received; ``last_frame_at`` is the ``clock()`` time of the newest one (for "media stalled").
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._frame: av.VideoFrame | None = None
        self._count = 0
        self.skipped = 0  # frames decoded but never shown: a newer one was already waiting
        self.last_frame_at: float | None = None
        self.started_at: float = clock()
        self.ended = False
        self._task: asyncio.Task[None] | None = None
        self._track: MediaStreamTrack | None = None

    @property
    def frame_count(self) -> int:
        return self._count

    def latest(self) -> av.VideoFrame | None:
        return self._frame

    def feed(self, frame: av.VideoFrame) -> None:
        self._frame = frame
        self._count += 1
        self.last_frame_at = self._clock()

    def attach(self, track: MediaStreamTrack) -> None:
        """Start draining ``track`` (replaces any previously attached track)."""
        if self._task is not None:
            self._task.cancel()
        self._track = track
        self.ended = False
        self.started_at = self._clock()
        self._task = asyncio.get_running_loop().create_task(
            self._drain(track), name=f"drain-video-{track.id}"
        )

    def stalled(self, now: float, stall_seconds: float) -> bool:
        """True when no frame arrived for ``stall_seconds`` (counted from attach if none yet)."""
        since = self.last_frame_at if self.last_frame_at is not None else self.started_at
        return now - since > stall_seconds

    async def _drain(self, track: MediaStreamTrack) -> None:
        # aiortc's remote track hands decoded frames over through an unbounded asyncio.Queue
        # (``_queue``). When the loop falls behind (a busy machine, many streams), frames pile
        # up there and everything on screen gets later and later. So after each recv() take
        # whatever is already waiting and keep only the newest: the screen shows now, not a
        # backlog. ``None`` in that queue means the track ended.
        backlog = getattr(track, "_queue", None)
        try:
            while True:
                frame = await track.recv()
                if isinstance(backlog, asyncio.Queue):
                    while not backlog.empty():
                        newer = backlog.get_nowait()
                        if newer is None:
                            backlog.put_nowait(None)  # let the next recv() end the track
                            break
                        if isinstance(frame, av.VideoFrame):
                            self.skipped += 1
                            self._count += 1
                        frame = newer
                if isinstance(frame, av.VideoFrame):
                    self.feed(frame)
        except MediaStreamError:
            pass
        finally:
            self.ended = True

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Participant:
    def __init__(self, resampler: av.AudioResampler) -> None:
        self.resampler = resampler
        self.chunks: deque[Pcm] = deque()  # interleaved s16, output format
        self.buffered = 0  # samples per channel in ``chunks``
        self.energy: deque[tuple[float, float, int]] = deque()  # (time, sum of squares, n)
        self.task: asyncio.Task[None] | None = None
        self.dropped = 0  # samples per channel dropped to bound the delay
        self.last_input_at: float | None = None  # clock time of the newest input frame
        self.longest_gap = 0.0  # longest time between two input frames (s), since reset
        self.failed = False  # the resampler refused a frame: this participant is silent


INBOX_FRAMES = 128  # decoded frames waiting for the mixer thread (~0.3 s of 8 participants)


class AudioMixer:
    """Mixes every remote audio track into one s16 interleaved stream.

    Each participant's audio is resampled to ``sample_rate``/``channels`` and buffered for at
    most ``max_buffer_ms``; ``mix(n)`` takes ``n`` samples (per channel) from every buffer, pads
    underruns with silence and sums with clipping. ``levels()`` is the dBFS of each participant's
    input over the last ``level_window`` seconds (``-inf`` for digital silence or no audio).
    """

    def __init__(
        self,
        sample_rate: int = 48000,
        channels: int = 2,
        *,
        max_buffer_ms: float = 100.0,
        level_window: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError("mixer channels must be 1 or 2")
        self.sample_rate = sample_rate
        self.channels = channels
        self.max_buffer = int(sample_rate * max_buffer_ms / 1000)
        self.level_window = level_window
        self._clock = clock
        self._layout = "mono" if channels == 1 else "stereo"
        self._participants: dict[str, _Participant] = {}
        # Threaded playback: the loop appends, the mixer thread takes (deque ops are atomic).
        self._lock = threading.Lock()  # _participants' buffers, shared with the mixer thread
        self._inbox: deque[tuple[str, _Participant, av.AudioFrame]] = deque(maxlen=INBOX_FRAMES)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.inbox_dropped = 0  # frames dropped because the mixer thread fell behind

    # --- inputs --------------------------------------------------------------------------

    def add_track(self, participant_id: str, track: MediaStreamTrack) -> None:
        """Start draining ``track`` as the audio of ``participant_id`` (replacing any older)."""
        self.remove(participant_id)
        part = self._participant(participant_id)
        part.task = asyncio.get_running_loop().create_task(
            self._drain(participant_id, track), name=f"drain-audio-{participant_id}"
        )

    def switch_track(
        self, participant_id: str, track: MediaStreamTrack, first: av.AudioFrame | None = None
    ) -> None:
        """Take ``participant_id``'s audio from ``track`` from now on (``first``: a frame
        already read from it), keeping what is buffered and the level history: a new
        subscription of the same participant takes over without a drop to silence."""
        part = self._participant(participant_id)
        if part.task is not None:
            part.task.cancel()
        if first is not None:
            self.feed(participant_id, first)
        part.task = asyncio.get_running_loop().create_task(
            self._drain(participant_id, track), name=f"drain-audio-{participant_id}"
        )

    def longest_gap(self, participant_id: str, *, reset: bool = False) -> float | None:
        """The longest time (s) between two audio frames of the participant since the last
        reset (None: no such participant)."""
        part = self._participants.get(participant_id)
        if part is None:
            return None
        gap = part.longest_gap
        if reset:
            part.longest_gap = 0.0
        return gap

    def remove(self, participant_id: str) -> None:
        with self._lock:
            part = self._participants.pop(participant_id, None)
        if part is not None and part.task is not None:
            part.task.cancel()

    async def discard(self, participant_id: str) -> None:
        """Like :meth:`remove`, and wait until its drain task has ended."""
        with self._lock:
            part = self._participants.pop(participant_id, None)
        if part is not None and part.task is not None:
            part.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await part.task

    def _participant(self, participant_id: str) -> _Participant:
        part = self._participants.get(participant_id)
        if part is None:
            resampler = av.AudioResampler(format="s16", layout=self._layout, rate=self.sample_rate)
            part = _Participant(resampler)
            with self._lock:
                self._participants[participant_id] = part
        return part

    async def _drain(self, participant_id: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self.feed(participant_id, frame)
        except MediaStreamError:
            pass
        except Exception as exc:  # a decoder/resampler fault must not kill the loop silently
            log.warning("audio of %s stopped: %s", participant_id, exc)

    def feed(self, participant_id: str, frame: av.AudioFrame) -> None:
        """Add one decoded audio frame of ``participant_id`` (any format/rate/layout).

        While the mixer thread plays, the frame is handed to it; otherwise it is mixed in now."""
        part = self._participant(participant_id)
        now = self._clock()
        if part.last_input_at is not None:
            part.longest_gap = max(part.longest_gap, now - part.last_input_at)
        part.last_input_at = now
        if self._thread is not None:
            if len(self._inbox) == self._inbox.maxlen:
                self.inbox_dropped += 1
            self._inbox.append((participant_id, part, frame))
            return
        with self._lock:
            self._take(part, frame)

    def _take(self, part: _Participant, frame: av.AudioFrame) -> None:
        """Measure, resample and buffer one frame (the caller holds the lock)."""
        if part.failed:
            return
        self._measure(part, frame)
        try:
            outs = part.resampler.resample(frame)
        except Exception as exc:  # a decoder/resampler fault silences one participant only
            part.failed = True
            log.warning("audio of a participant stopped: %s", exc)
            return
        for out in outs:
            pcm = np.ascontiguousarray(out.to_ndarray().reshape(-1), dtype=np.int16)
            self._push(part, pcm)

    def _measure(self, part: _Participant, frame: av.AudioFrame) -> None:
        """Energy of the input as received (before any up/down-mix changes its level)."""
        raw = frame.to_ndarray()
        if raw.dtype == np.int16:
            values = raw.astype(np.float64).reshape(-1)
        elif raw.dtype.kind == "f":
            values = raw.astype(np.float64).reshape(-1) * 32768.0
        elif raw.dtype == np.int32:
            values = raw.astype(np.float64).reshape(-1) / 65536.0
        else:
            values = (raw.astype(np.float64).reshape(-1) - 128.0) * 256.0  # u8
        if values.size == 0:
            return
        now = self._clock()
        part.energy.append((now, float(np.dot(values, values)), int(values.size)))
        while part.energy and part.energy[0][0] < now - self.level_window:
            part.energy.popleft()

    def _push(self, part: _Participant, pcm: Pcm) -> None:
        samples = pcm.size // self.channels
        if samples == 0:
            return
        part.chunks.append(pcm)
        part.buffered += samples
        # drop the oldest audio rather than drift: bound the added delay
        while part.buffered > self.max_buffer and part.chunks:
            excess = part.buffered - self.max_buffer
            head = part.chunks[0]
            head_samples = head.size // self.channels
            if head_samples <= excess:
                part.chunks.popleft()
                part.buffered -= head_samples
                part.dropped += head_samples
            else:
                part.chunks[0] = head[excess * self.channels :]
                part.buffered -= excess
                part.dropped += excess

    # --- outputs -------------------------------------------------------------------------

    def buffered_ms(self) -> dict[str, float]:
        """Audio waiting in each participant's buffer, in ms."""
        with self._lock:
            return {
                pid: part.buffered * 1000 / self.sample_rate
                for pid, part in self._participants.items()
            }

    def levels(self) -> dict[str, float]:
        """dBFS of each participant over the level window; ``-inf`` for silence."""
        now = self._clock()
        out: dict[str, float] = {}
        with self._lock:
            sums = {pid: list(part.energy) for pid, part in self._participants.items()}
        for pid, energies in sums.items():
            total, count = 0.0, 0
            for t, energy, n in energies:
                if t >= now - self.level_window:
                    total += energy
                    count += n
            if count == 0 or total <= 0.0:
                out[pid] = -math.inf
            else:
                rms = math.sqrt(total / count)
                out[pid] = 20 * math.log10(rms / 32768)
        return out

    def mix(self, samples: int) -> Pcm:
        """The next ``samples`` (per channel) of the mix, interleaved s16."""
        with self._lock:
            return self._mix(samples)

    def _mix(self, samples: int) -> Pcm:
        size = samples * self.channels
        acc = np.zeros(size, dtype=np.int32)
        for part in self._participants.values():
            filled = 0
            while filled < size and part.chunks:
                head = part.chunks[0]
                take = min(head.size, size - filled)
                acc[filled : filled + take] += head[:take]
                if take == head.size:
                    part.chunks.popleft()
                else:
                    part.chunks[0] = head[take:]
                filled += take
            part.buffered -= filled // self.channels
        return np.clip(acc, -32768, 32767).astype(np.int16)

    def start(self, output: AudioSink, frame_ms: int = 20) -> None:
        """Play the mix into ``output`` every ``frame_ms`` in real time, on the mixer thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._play, args=(output, frame_ms), name="audio-mixer", daemon=True
            )
            self._thread.start()

    def _play(self, output: AudioSink, frame_ms: int) -> None:
        samples = self.sample_rate * frame_ms // 1000
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                self._take_inbox()
                with self._lock:
                    pcm = self._mix(samples)
                output.write(pcm)
            except Exception as exc:
                log.warning("audio output stopped: %s", exc)
                return
            wait = start + n * frame_ms / 1000 - time.monotonic()
            if wait < -0.5:  # the thread was starved: restart the pace instead of bursting
                start, n = time.monotonic(), 0
                wait = 0
            self._stop.wait(max(0.0, wait))

    def _take_inbox(self) -> None:
        """Everything the loop handed over since the last tick (bounded by the inbox)."""
        for _ in range(INBOX_FRAMES):
            try:
                pid, part, frame = self._inbox.popleft()
            except IndexError:
                return
            with self._lock:
                if self._participants.get(pid) is part:  # not removed meanwhile
                    self._take(part, frame)

    async def close(self) -> None:
        """Stop every drain task and the mixer thread."""
        with self._lock:
            tasks = [p.task for p in self._participants.values() if p.task is not None]
            self._participants.clear()
        thread, self._thread = self._thread, None
        self._stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if thread is not None:
            await asyncio.to_thread(thread.join, 2.0)
        self._inbox.clear()


class AudioSink(Protocol):
    """Anything the mixer can play into (see ``kiosk.media.devices.AudioOutput``)."""

    def write(self, pcm: Pcm) -> None: ...


def level_map(mixer: AudioMixer | None) -> Mapping[str, float]:
    """Levels for the screen; empty when there is no mixer."""
    return {} if mixer is None else mixer.levels()
