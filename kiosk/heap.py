"""Give freed heap memory back to the operating system (glibc ``malloc_trim``).

A call's media allocates and frees constantly: decoded frames, packets, rate counters, whole
peer connections at every rejoin. glibc keeps freed memory inside its arenas for reuse; after
a rejoin or a burst of frames the pages stay resident although nothing uses them, and over
hours the holes left between live allocations show up as a slow RSS climb
(docs/reliability.md, "Heap trimming"). ``malloc_trim(0)`` hands every whole free page of every
arena back (``madvise``), wherever it lies in the heap.

* :class:`HeapTrimmer` is the interface; :class:`GlibcTrimmer` the real one (``None`` from
  :func:`find_trimmer` where the C library has no ``malloc_trim``: musl, macOS); tests pass
  their own.
* :class:`TrimSchedule` is the pure decision: trim every ``interval_s``, never two at once.
* :class:`HeapKeeper` runs a due trim on a worker thread (it takes the arena locks and walks the
  heap: milliseconds, not for the event loop) and keeps the counts for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "GlibcTrimmer",
    "HeapKeeper",
    "HeapStats",
    "HeapTrimmer",
    "TrimSchedule",
    "find_trimmer",
    "resident_bytes",
]

log = logging.getLogger(__name__)


class HeapTrimmer(Protocol):
    def trim(self) -> bool:
        """Return free heap pages to the OS; True if any memory was released."""
        ...


class GlibcTrimmer:
    """``malloc_trim(0)`` through ctypes."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._trim = libc.malloc_trim
        self._trim.argtypes = [ctypes.c_size_t]
        self._trim.restype = ctypes.c_int

    def trim(self) -> bool:
        return bool(self._trim(0))


def find_trimmer() -> HeapTrimmer | None:
    """The C library's trimmer, or None where there is none (not glibc)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - AttributeError where the symbol is missing
    except (OSError, AttributeError, TypeError):
        return None
    return GlibcTrimmer(libc)


def resident_bytes(pid: int | None = None) -> int | None:
    """The resident set size in bytes of this process (or of ``pid``); None where unknown
    (no /proc, the process is gone)."""
    try:
        with open(f"/proc/{'self' if pid is None else pid}/statm", "rb") as fh:
            fields = fh.read().split()
        return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@dataclass(slots=True)
class TrimSchedule:
    """When to trim: every ``interval_s`` (0: never), one at a time. Pure: the caller's clock."""

    interval_s: float
    _last: float | None = None
    _running: bool = False

    def due(self, now: float) -> bool:
        if self.interval_s <= 0 or self._running:
            return False
        if self._last is None:  # the first one an interval after start: start-up is warm-up
            self._last = now
            return False
        return now - self._last >= self.interval_s

    def started(self, now: float) -> None:
        self._running = True
        self._last = now

    def finished(self) -> None:
        self._running = False


@dataclass(slots=True)
class HeapStats:
    trims: int = 0
    released_bytes: int = 0  # RSS before − after, summed over trims (never negative)
    last_seconds: float = 0.0  # how long the last trim took


class HeapKeeper:
    """Runs due trims off the event loop; the housekeeping tick calls :meth:`tick`."""

    def __init__(
        self,
        trimmer: HeapTrimmer | None,
        interval_s: float,
        *,
        rss: Callable[[], int | None] = resident_bytes,
    ) -> None:
        self.trimmer = trimmer
        self.schedule = TrimSchedule(interval_s if trimmer is not None else 0.0)
        self.stats = HeapStats()
        self._rss = rss
        self._task: asyncio.Future[None] | None = None

    def tick(self, now: float) -> asyncio.Future[None] | None:
        """Start a trim on a worker thread if one is due; the future of it, else None."""
        if self.trimmer is None or not self.schedule.due(now):
            return None
        self.schedule.started(now)
        self._task = asyncio.ensure_future(asyncio.to_thread(self._trim_once))
        self._task.add_done_callback(self._done)
        return self._task

    def _trim_once(self) -> None:
        assert self.trimmer is not None
        before = self._rss() or 0
        t0 = time.perf_counter()
        self.trimmer.trim()
        took = time.perf_counter() - t0
        after = self._rss() or before
        self.stats.trims += 1
        self.stats.released_bytes += max(0, before - after)
        self.stats.last_seconds = took

    def _done(self, fut: asyncio.Future[None]) -> None:
        self.schedule.finished()
        if not fut.cancelled() and fut.exception() is not None:
            log.warning("heap trim failed: %s; no more trims", fut.exception())
            self.trimmer = None
