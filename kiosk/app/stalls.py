"""Event-loop stalls: how long the one loop thread was blocked, and in which code.

The loop beats a heartbeat (a timestamp set by a ``call_later`` callback every
:data:`BEAT_SECONDS`). A small daemon thread looks at it a few times a second: while the beat is
older than the threshold the loop is blocked, and the thread samples the loop thread's stack
(``sys._current_frames()``: file, line and function of each frame, never locals). When the loop
beats again the stall is over and ONE line is logged: how long it lasted and where it was, the
innermost frame and the innermost frames in our own and the media libraries' code, e.g.::

    event loop blocked for 4.2 s (4 of 4 samples): cryptography/.../rsa.py:12 generate_key
    < aiortc/rtcdtlstransport.py:80 generate_certificate < kiosk/media/peer.py:51 __init__

A loop blocked longer than :data:`HANG_SECONDS` is reported once while it lasts (it may never
beat again). Lines are rate-limited; the stall count and the longest stall are counters for
/status and /metrics whether or not a line was logged.

The decisions (when a stall starts and ends, what is logged, which frames are named) are pure
(:class:`StallTracker`, :func:`pick_frames`, :func:`short_path`) and tested with injected frames
and times; :class:`LoopStallReporter` is the thin part with the thread and the loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import FrameType

__all__ = [
    "BEAT_SECONDS",
    "HANG_SECONDS",
    "LoopStallReporter",
    "Stall",
    "StallTracker",
    "pick_frames",
    "short_path",
    "stack_of",
]

log = logging.getLogger(__name__)

BEAT_SECONDS = 0.1  # the loop's heartbeat period
CHECK_SECONDS = 0.25  # how often the thread looks at the heartbeat
THRESHOLD_SECONDS = 1.0  # a beat older than this: the loop is blocked
HANG_SECONDS = 10.0  # a stall this long is reported while it lasts (once)
MAX_DEPTH = 200  # frames walked per sample
MAX_SIGNATURES = 8  # distinct places kept per stall (the rest counted as "other")
NAMED_PACKAGES = ("kiosk", "aiortc", "aioice", "av", "pygame")

FrameInfo = tuple[str, int, str]  # (file name, line, function)


def short_path(filename: str) -> str:
    """A frame's file relative to its package: ``aiortc/rtcpeerconnection.py``,
    ``kiosk/media/peer.py``, ``asyncio/events.py`` (stdlib), else the base name."""
    path = filename.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    if "/kiosk/" in path:
        return "kiosk/" + path.rsplit("/kiosk/", 1)[1]
    parts = path.split("/")
    for i in range(len(parts) - 1, -1, -1):  # .../lib/python3.12/asyncio/events.py
        if parts[i].startswith("python3") and i > 0 and parts[i - 1] == "lib":
            return "/".join(parts[i + 1 :])
    return parts[-1]


def _package(path: str) -> str:
    return path.split("/", 1)[0].removesuffix(".py")


def pick_frames(
    frames: Sequence[FrameInfo], packages: Iterable[str] = NAMED_PACKAGES, limit: int = 3
) -> str:
    """Where a stack is, in one short string: the innermost frame, then the innermost ``limit``
    frames in ``packages`` (innermost first, ``<`` = called by). ``frames`` run outermost first
    (as :func:`traceback.extract_stack` gives them)."""
    if not frames:
        return "?"
    wanted = set(packages)
    named: list[str] = []
    innermost = frames[-1]
    for filename, line, function in reversed(frames):
        path = short_path(filename)
        if _package(path) in wanted:
            named.append(f"{path}:{line} {function}")
            if len(named) == limit:
                break
    first = f"{short_path(innermost[0])}:{innermost[1]} {innermost[2]}"
    if not named or named[0] != first:
        named.insert(0, first)
    return " < ".join(named)


def stack_of(frame: FrameType | None, max_depth: int = MAX_DEPTH) -> list[FrameInfo]:
    """(file, line, function) of a frame and its callers, outermost first; no locals."""
    out: list[FrameInfo] = []
    while frame is not None and len(out) < max_depth:
        code = frame.f_code
        out.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    out.reverse()
    return out


@dataclass(frozen=True, slots=True)
class Stall:
    """One stall, reported when it ended (``ongoing`` False) or while it lasts (True)."""

    seconds: float
    where: str  # the place seen most often
    seen: int  # samples at that place
    samples: int  # samples taken in the stall
    ongoing: bool = False
    not_logged: int = 0  # stalls since the last logged line that were not logged
    cpu_s: float | None = None  # CPU time the loop thread used in it (None: unknown)

    def line(self) -> str:
        if self.samples == 0:
            where = "not sampled (the loop thread held the interpreter)"
        else:
            where = f"({self.seen} of {self.samples} samples): {self.where}"
        head = "still blocked after" if self.ongoing else "blocked for"
        # Little CPU in a long stall: the thread waited (for a CPU, the GIL, a lock, I/O),
        # it did not compute.
        cpu = f", loop thread on CPU {self.cpu_s:.1f} s" if self.cpu_s is not None else ""
        tail = f" [{self.not_logged} more stalls not logged]" if self.not_logged else ""
        return f"event loop {head} {self.seconds:.1f} s{cpu} {where}{tail}"


@dataclass(slots=True)
class _Open:
    beat: float  # the heartbeat the stall started after
    cpu: float | None  # the loop thread's CPU time at the look before the stall
    places: Counter[str] = field(default_factory=Counter)
    samples: int = 0
    hang_reported: bool = False


class StallTracker:
    """When is the loop blocked, when to say so (pure: the caller passes times and samples).

    :meth:`observe` is called a few times a second with the current time and the loop's last
    heartbeat; ``sample`` is called only while the loop is blocked (it reads the stack). It
    returns the :class:`Stall` to log, if any. At most ``burst`` lines per ``window_s``; the
    others are counted (``stalls``, ``not_logged``) and mentioned in the next logged line.
    """

    def __init__(
        self,
        threshold_s: float = THRESHOLD_SECONDS,
        *,
        beat_s: float = BEAT_SECONDS,
        hang_s: float = HANG_SECONDS,
        burst: int = 6,
        window_s: float = 60.0,
    ) -> None:
        self.threshold_s = threshold_s
        self.beat_s = beat_s
        self.hang_s = hang_s
        self.burst = burst
        self.window_s = window_s
        self.stalls = 0  # stalls that ended (every one, logged or not)
        self.longest_s = 0.0
        self.total_s = 0.0
        self.not_logged = 0
        self._open: _Open | None = None
        self._last_cpu: float | None = None
        self._logged_at: list[float] = []

    def observe(
        self, now: float, beat: float, sample: Callable[[], str], cpu: float | None = None
    ) -> Stall | None:
        """``cpu``: the loop thread's CPU time now (optional; the stall line then says how much
        of the stall the thread computed)."""
        before, self._last_cpu = self._last_cpu, cpu  # the look before: the stall's start
        current = self._open
        if current is not None and beat != current.beat:  # the loop beat again: it ended
            self._open = None
            seconds = max(0.0, beat - current.beat - self.beat_s)
            if seconds < self.threshold_s:  # a late check, not a stall
                return None
            self.stalls += 1
            self.longest_s = max(self.longest_s, seconds)
            self.total_s += seconds
            return self._maybe_log(now, current, seconds, cpu, ongoing=False)
        if now - beat <= self.threshold_s + self.beat_s:
            return None
        if current is None:
            current = self._open = _Open(beat, before if before is not None else cpu)
        current.samples += 1
        place = sample()
        if place in current.places or len(current.places) < MAX_SIGNATURES:
            current.places[place] += 1
        else:
            current.places["other places"] += 1
        if not current.hang_reported and now - beat >= self.hang_s:
            current.hang_reported = True
            return self._stall(current, now - beat, cpu, ongoing=True)  # never rate-limited
        return None

    def _maybe_log(
        self, now: float, current: _Open, seconds: float, cpu: float | None, ongoing: bool
    ) -> Stall | None:
        self._logged_at = [t for t in self._logged_at if now - t < self.window_s]
        if len(self._logged_at) >= self.burst:
            self.not_logged += 1
            return None
        self._logged_at.append(now)
        stall = self._stall(current, seconds, cpu, ongoing)
        self.not_logged = 0
        return stall

    def _stall(self, current: _Open, seconds: float, cpu: float | None, ongoing: bool) -> Stall:
        if current.places:
            where, seen = current.places.most_common(1)[0]
        else:
            where, seen = "", 0
        used = None
        if cpu is not None and current.cpu is not None:
            # from the look before the stall to now (each end at most one check off)
            used = max(0.0, cpu - current.cpu)
        return Stall(seconds, where, seen, current.samples, ongoing, self.not_logged, used)


class LoopStallReporter:
    """The heartbeat on the loop and the thread that watches it (:class:`StallTracker`)."""

    def __init__(
        self,
        tracker: StallTracker | None = None,
        *,
        check_s: float = CHECK_SECONDS,
        logger: logging.Logger = log,
    ) -> None:
        self.tracker = tracker or StallTracker()
        self.check_s = check_s
        self._log = logger
        self._beat = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._cpu_clock: int | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stalls(self) -> int:
        return self.tracker.stalls

    @property
    def longest_s(self) -> float:
        return self.tracker.longest_s

    def start(self) -> None:
        """Start beating on the running loop (call from the loop thread) and watching it."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            self._cpu_clock = time.pthread_getcpuclockid(self._loop_thread)
        except (AttributeError, OSError):  # not on this platform: lines without CPU time
            self._cpu_clock = None
        self._stop.clear()
        self._tick()
        self._thread = threading.Thread(target=self._watch, name="loop-stalls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (from the loop thread); returns at once (the thread ends by itself)."""
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._thread = None

    def _tick(self) -> None:
        self._beat = time.monotonic()
        assert self._loop is not None
        if not self._stop.is_set():
            self._handle = self._loop.call_later(BEAT_SECONDS, self._tick)

    def _sample(self) -> str:
        frame = sys._current_frames().get(self._loop_thread or -1)
        return pick_frames(stack_of(frame))

    def _cpu(self) -> float | None:
        if self._cpu_clock is None:
            return None
        try:
            return time.clock_gettime(self._cpu_clock)
        except OSError:  # the thread has gone
            return None

    def _watch(self) -> None:
        while not self._stop.wait(self.check_s):
            try:
                stall = self.tracker.observe(
                    time.monotonic(), self._beat, self._sample, self._cpu()
                )
            except Exception:  # never let the watcher die silently, never take the loop down
                self._log.exception("loop stall reporter failed; no longer watching")
                return
            if stall is not None:
                self._log.warning("%s", stall.line())
