"""Event-loop stalls: how long the one loop thread was blocked, and in which code.

The loop beats a heartbeat (a timestamp set by a ``call_later`` callback every
:data:`BEAT_SECONDS`). A small daemon thread looks at it a few times a second: while the beat is
older than the threshold the loop is blocked, and the thread samples the loop thread's stack
(``sys._current_frames()``: file, line and function of each frame, never locals). When the loop
beats again the stall is over and ONE line is logged: how long it lasted and where it was, the
innermost frame and the innermost frames in our own and the media libraries' code, e.g.::

    event loop blocked for 0.6 s, loop thread on CPU 0.1 s (1 of 1 samples): ssl.py:597
    load_default_certs < kiosk/openvidu/tls.py:22 make_ssl_context < kiosk/app/operations.py:75 join

The loop thread's CPU time in the stall tells computing from waiting (0.0 s of 0.6 s: it was
not scheduled, or waited for the GIL or a lock); the other Python threads that ran most
meanwhile are named when they ran ≥ 0.05 s (only they can hold the GIL).

A loop blocked longer than :data:`HANG_SECONDS` is reported once while it lasts (it may never
beat again). Lines are rate-limited; the stall count and the longest stall are counters for
/status and /metrics whether or not a line was logged.

The decisions (when a stall starts and ends, what is logged, which frames are named) are pure
(:class:`StallTracker`, :func:`pick_frames`, :func:`short_path`) and tested with injected frames
and times; :class:`LoopStallReporter` is the thin part with the thread and the loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

__all__ = [
    "BEAT_SECONDS",
    "HANG_SECONDS",
    "LoopStallReporter",
    "Stall",
    "StallTracker",
    "freeze_startup_heap",
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
TOP_THREADS = 3  # other threads named in a stall line
MIN_THREAD_CPU = 0.05  # s; a thread that ran less in a stall is not named

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


def thread_kind(name: str) -> str:
    """A thread's name without its number: ``Thread-3 (worker)`` → ``worker``,
    ``ThreadPoolExecutor-0_2`` → ``ThreadPoolExecutor-0``, ``asyncio_1`` → ``asyncio``."""
    if name.endswith(")") and " (" in name:
        return name[name.index(" (") + 2 : -1]
    head, _, tail = name.rpartition("_")
    return head if head and tail.isdigit() else name


def thread_cpu_clock(native_id: int) -> int | None:
    """The CPU-time clock of a thread by its kernel id (Linux: ``MAKE_THREAD_CPUCLOCK``).
    Unlike ``pthread_getcpuclockid`` it is safe for a thread that has ended (``EINVAL``)."""
    if not sys.platform.startswith("linux"):
        return None
    return (~native_id << 3) | 6  # CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK


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
    # the other Python threads that ran most meanwhile (name, CPU s): who held the GIL
    others: tuple[tuple[str, float], ...] = ()

    def line(self) -> str:
        if self.samples == 0:
            where = "not sampled (the loop thread held the interpreter)"
        else:
            where = f"({self.seen} of {self.samples} samples): {self.where}"
        head = "still blocked after" if self.ongoing else "blocked for"
        # Little CPU in a long stall: the thread waited (for a CPU, the GIL, a lock, I/O),
        # it did not compute.
        cpu = f", loop thread on CPU {self.cpu_s:.1f} s" if self.cpu_s is not None else ""
        if self.others:
            busy = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.others)
            cpu += f", other threads {busy}"
        tail = f" [{self.not_logged} more stalls not logged]" if self.not_logged else ""
        return f"event loop {head} {self.seconds:.1f} s{cpu} {where}{tail}"


@dataclass(slots=True)
class _Open:
    beat: float  # the heartbeat the stall started after
    cpu: float | None  # the loop thread's CPU time at the look before the stall
    threads: Mapping[str, float] | None  # the other threads' CPU time then (by name)
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
        self._last_threads: Mapping[str, float] | None = None
        self._logged_at: list[float] = []

    def observe(
        self,
        now: float,
        beat: float,
        sample: Callable[[], str],
        cpu: float | None = None,
        threads: Mapping[str, float] | None = None,
    ) -> Stall | None:
        """``cpu``: the loop thread's CPU time now; ``threads``: the other threads' CPU time
        by name (both optional: the stall line then says how much of the stall the loop
        thread computed, and which other threads ran most meanwhile)."""
        before, self._last_cpu = self._last_cpu, cpu  # the look before: the stall's start
        before_threads, self._last_threads = self._last_threads, threads
        current = self._open
        if current is not None and beat != current.beat:  # the loop beat again: it ended
            self._open = None
            seconds = max(0.0, beat - current.beat - self.beat_s)
            if seconds < self.threshold_s:  # a late check, not a stall
                return None
            self.stalls += 1
            self.longest_s = max(self.longest_s, seconds)
            self.total_s += seconds
            return self._maybe_log(now, current, seconds, cpu, threads, ongoing=False)
        if now - beat <= self.threshold_s + self.beat_s:
            return None
        if current is None:
            current = self._open = _Open(
                beat,
                before if before is not None else cpu,
                before_threads if before_threads is not None else threads,
            )
        current.samples += 1
        place = sample()
        if place in current.places or len(current.places) < MAX_SIGNATURES:
            current.places[place] += 1
        else:
            current.places["other places"] += 1
        if not current.hang_reported and now - beat >= self.hang_s:
            current.hang_reported = True
            return self._stall(current, now - beat, cpu, threads, ongoing=True)  # not limited
        return None

    def _maybe_log(
        self,
        now: float,
        current: _Open,
        seconds: float,
        cpu: float | None,
        threads: Mapping[str, float] | None,
        ongoing: bool,
    ) -> Stall | None:
        self._logged_at = [t for t in self._logged_at if now - t < self.window_s]
        if len(self._logged_at) >= self.burst:
            self.not_logged += 1
            return None
        self._logged_at.append(now)
        stall = self._stall(current, seconds, cpu, threads, ongoing)
        self.not_logged = 0
        return stall

    def _stall(
        self,
        current: _Open,
        seconds: float,
        cpu: float | None,
        threads: Mapping[str, float] | None,
        ongoing: bool,
    ) -> Stall:
        if current.places:
            where, seen = current.places.most_common(1)[0]
        else:
            where, seen = "", 0
        used = None
        if cpu is not None and current.cpu is not None:
            # from the look before the stall to now (each end at most one check off)
            used = max(0.0, cpu - current.cpu)
        others: tuple[tuple[str, float], ...] = ()
        if threads is not None and current.threads is not None:
            ran = {n: t - current.threads.get(n, 0.0) for n, t in threads.items()}
            top = sorted(ran.items(), key=lambda item: -item[1])[:TOP_THREADS]
            others = tuple((n, t) for n, t in top if t >= MIN_THREAD_CPU)
        return Stall(seconds, where, seen, current.samples, ongoing, self.not_logged, used, others)


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
        self._cpu_clock = thread_cpu_clock(threading.get_native_id())
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

    def _threads(self) -> dict[str, float] | None:
        """CPU time of the other Python threads, summed by name (aiortc names all its decoders
        ``video-decoder``); only they can hold the GIL the loop thread waits for."""
        if self._cpu_clock is None:
            return None
        out: dict[str, float] = {}
        me = threading.get_ident()
        for thread in threading.enumerate():
            tid = thread.native_id
            if tid is None or thread.ident in (me, self._loop_thread):
                continue
            clock = thread_cpu_clock(tid)
            if clock is None:
                continue
            try:
                used = time.clock_gettime(clock)
            except OSError:  # it ended meanwhile
                continue
            name = thread_kind(thread.name)
            out[name] = out.get(name, 0.0) + used
        return out

    def _watch(self) -> None:
        while not self._stop.wait(self.check_s):
            try:
                stall = self.tracker.observe(
                    time.monotonic(), self._beat, self._sample, self._cpu(), self._threads()
                )
            except Exception:  # never let the watcher die silently, never take the loop down
                self._log.exception("loop stall reporter failed; no longer watching")
                return
            if stall is not None:
                self._log.warning("%s", stall.line())


def freeze_startup_heap() -> int:
    """Collect once, then move every object alive into the collector's permanent generation.

    Called by the entry point after imports and set-up, before the first call. A full (gen 2)
    collection walks every tracked object; ~100,000 of the kiosk's ~115,000 are modules,
    classes and functions from start that live as long as the process. A rejoin allocates
    enough (new peer connections: aiortc's rate counters alone are 1,000 objects per stream)
    to trigger a full collection, which blocked the loop 1.0-1.3 s on a loaded 2-core machine
    (docs/reliability.md). Frozen objects are not scanned again; the rest still are. Returns
    how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("garbage collector: %d objects from start frozen", frozen)
    return frozen
