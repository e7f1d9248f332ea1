"""A shared-memory latest-value video slot: one writer (a worker), one reader (the screen).

Layout of the segment (little endian)::

    0   u64  sequence   even: stable, odd: a write is in progress (seqlock)
    8   u32  width      of the frame in the slot (even, <= max_width)
    12  u32  height     (even, <= max_height)
    16  u64  frames     frames the writer received so far, shown or not (monotonic)
    24  i64  pts        of the frame in the slot (-1: none)
    32  u32  magic      SLOT_MAGIC
    36  u32  max_width
    40  u32  max_height
    64  …    I420 planes of the current frame, packed: Y (w*h), U, V (w/2*h/2 each)

The writer never blocks or waits: it bumps the sequence to odd, writes header and planes, bumps
it to even. The reader copies header and planes and checks the sequence did not change (and was
even); if it did, it tries again a bounded number of times and otherwise keeps what it had. A
frame larger than the slot is scaled down (aspect kept) by the writer before it is written.

Ownership: the MAIN process creates every segment (:meth:`VideoSlot.create`, a name unique per
kiosk pid) and unlinks it (:meth:`VideoSlot.close`); workers only attach
(:meth:`SlotWriter.attach`) through ``/dev/shm/<name>`` — attaching through
``multiprocessing.shared_memory`` would register the segment with the resource tracker a second
time (Python < 3.13), which then unlinks or warns about it behind the owner's back.
If the main process dies without closing, its resource tracker unlinks what it created.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import struct
import time
from collections.abc import Callable
from multiprocessing import shared_memory

import av
import numpy as np

from kiosk.errors import MediaError

__all__ = [
    "HEADER_SIZE",
    "SLOT_MAGIC",
    "SlotFrames",
    "SlotReader",
    "SlotWriter",
    "VideoSlot",
    "fit_size",
    "slot_size",
]

SLOT_MAGIC = 0x4B534C31  # "KSL1"
HEADER_SIZE = 64
READ_ATTEMPTS = 4
SHM_DIR = "/dev/shm"
_HEAD = struct.Struct("<QIIQq")  # sequence, width, height, frames, pts
_GEOMETRY = struct.Struct("<III")  # magic, max_width, max_height (at offset 32)
_SEQ = struct.Struct("<Q")
_COUNT = struct.Struct("<Q")

_names = itertools.count(1)


def slot_size(max_width: int, max_height: int) -> int:
    """Bytes of a slot for frames up to ``max_width`` x ``max_height``."""
    return HEADER_SIZE + max_width * max_height * 3 // 2


def fit_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The even size ``width`` x ``height`` is written at: scaled down to fit, aspect kept."""
    scale = min(1.0, max_width / max(1, width), max_height / max(1, height))
    w = max(2, int(width * scale) & ~1)
    h = max(2, int(height * scale) & ~1)
    return min(w, max_width & ~1), min(h, max_height & ~1)


class VideoSlot:
    """The main process's handle of one segment: creates it, unlinks it on :meth:`close`."""

    def __init__(self, max_width: int, max_height: int, *, prefix: str = "kiosk") -> None:
        if not (16 <= max_width <= 7680 and 16 <= max_height <= 4320):
            raise ValueError(f"slot size {max_width}x{max_height} out of range")
        self.max_width = max_width & ~1
        self.max_height = max_height & ~1
        self.name = f"{prefix}-{os.getpid()}-{next(_names)}"
        try:
            self._shm: shared_memory.SharedMemory | None = shared_memory.SharedMemory(
                self.name, create=True, size=slot_size(self.max_width, self.max_height)
            )
        except OSError as exc:
            raise MediaError(f"video slot {self.name}: {exc.strerror or exc}") from exc
        buf = self._shm.buf
        assert buf is not None
        _HEAD.pack_into(buf, 0, 0, 0, 0, 0, -1)
        _GEOMETRY.pack_into(buf, 32, SLOT_MAGIC, self.max_width, self.max_height)
        self.reader = SlotReader(buf)

    @classmethod
    def create(cls, max_width: int, max_height: int, *, prefix: str = "kiosk") -> VideoSlot:
        return cls(max_width, max_height, prefix=prefix)

    @property
    def closed(self) -> bool:
        return self._shm is None

    def close(self) -> None:
        """Unmap and unlink (idempotent). Readers must not be used afterwards."""
        shm, self._shm = self._shm, None
        if shm is None:
            return
        self.reader.release()
        with contextlib.suppress(BufferError):  # a view still alive: unlink anyway
            shm.close()
        with contextlib.suppress(FileNotFoundError):
            shm.unlink()


class SlotReader:
    """Reads the newest frame of a slot (main process)."""

    def __init__(self, buf: memoryview) -> None:
        self._buf: memoryview | None = buf
        self.torn = 0  # reads that found a write in progress every time (kept the old frame)

    def release(self) -> None:
        self._buf = None

    def frames(self) -> int:
        """Frames the writer received so far (cheap: no copy)."""
        if self._buf is None:
            return 0
        return int(_COUNT.unpack_from(self._buf, 16)[0])

    def sequence(self) -> int:
        if self._buf is None:
            return 0
        return int(_SEQ.unpack_from(self._buf, 0)[0])

    def read(self) -> tuple[int, av.VideoFrame] | None:
        """(sequence, frame) of a consistent copy of the slot, or None (empty, or every
        attempt overlapped a write)."""
        buf = self._buf
        if buf is None:
            return None
        for _ in range(READ_ATTEMPTS):
            seq, width, height, _frames, pts = _HEAD.unpack_from(buf, 0)
            if seq & 1:
                time.sleep(0)  # let the writer finish (another process: no lock to wait on)
                continue
            if width == 0 or height == 0:
                return None
            size = width * height * 3 // 2
            if HEADER_SIZE + size > len(buf):
                return None
            data = np.frombuffer(buf, dtype=np.uint8, count=size, offset=HEADER_SIZE).copy()
            if _SEQ.unpack_from(buf, 0)[0] != seq:
                continue
            frame = av.VideoFrame.from_ndarray(data.reshape(height * 3 // 2, width), "yuv420p")
            if pts >= 0:
                frame.pts = pts
            return int(seq), frame
        self.torn += 1
        return None


class SlotWriter:
    """Writes frames into a slot the main process created (worker process)."""

    def __init__(self, name: str) -> None:
        if "/" in name or not name or len(name) > 200:
            raise MediaError("video slot: bad name")
        path = os.path.join(SHM_DIR, name)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise MediaError(f"video slot {name}: {exc.strerror or exc}") from exc
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_SIZE:
                raise MediaError(f"video slot {name}: too small")
            self._map: mmap.mmap | None = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.name = name
        buf = memoryview(self._map)
        magic, self.max_width, self.max_height = _GEOMETRY.unpack_from(buf, 32)
        if magic != SLOT_MAGIC or slot_size(self.max_width, self.max_height) > size:
            buf.release()
            self.close()
            raise MediaError(f"video slot {name}: not a video slot")
        self._buf: memoryview | None = buf
        self._seq = int(_SEQ.unpack_from(buf, 0)[0]) & ~1
        self.written = 0

    @classmethod
    def attach(cls, name: str) -> SlotWriter:
        return cls(name)

    def write(self, frame: av.VideoFrame, frames: int) -> None:
        """Put ``frame`` in the slot (``frames``: received so far, shown or not). Never waits."""
        buf = self._buf
        if buf is None:
            return
        width, height = fit_size(frame.width, frame.height, self.max_width, self.max_height)
        if frame.format.name != "yuv420p" or (width, height) != (frame.width, frame.height):
            frame = frame.reformat(width=width, height=height, format="yuv420p")
        planes = frame.to_ndarray()  # (h * 3 / 2, w) uint8, line padding removed
        size = width * height * 3 // 2
        pts = frame.pts if frame.pts is not None else -1
        self._seq += 1  # odd: writing
        _SEQ.pack_into(buf, 0, self._seq)
        _HEAD.pack_into(buf, 0, self._seq, width, height, frames, pts)
        buf[HEADER_SIZE : HEADER_SIZE + size] = planes.reshape(-1).data
        self._seq += 1  # even: stable
        _SEQ.pack_into(buf, 0, self._seq)
        self.written += 1

    def count(self, frames: int) -> None:
        """Update only the received-frames counter (a frame skipped for a newer one)."""
        if self._buf is not None:
            _COUNT.pack_into(self._buf, 16, frames)

    def close(self) -> None:
        buf, self._buf = getattr(self, "_buf", None), None
        if buf is not None:
            buf.release()
        mapping, self._map = self._map, None
        if mapping is not None:
            mapping.close()


class SlotFrames:
    """A :class:`~kiosk.protocols.FrameSource` over a slot, shaped like ``LatestFrame``.

    ``frame_count`` is the writer's counter; ``latest()`` copies the slot only when its sequence
    changed since the last copy (the screen asks only after ``frame_count`` changed anyway).
    ``last_frame_at`` follows the counter whenever it is looked at (the screen every frame, the
    stall check every second).
    """

    def __init__(self, slot: VideoSlot, clock: Callable[[], float] = time.monotonic) -> None:
        self.slot = slot
        self._clock = clock
        self._frame: av.VideoFrame | None = None
        self._seq = 0
        self._seen = 0
        self.skipped = 0
        self.last_frame_at: float | None = None
        self.started_at: float = clock()
        self.ended = False

    @property
    def frame_count(self) -> int:
        if self.slot.closed:  # unlinked: the count stays where it was (it never goes back)
            return self._seen
        count = self.slot.reader.frames()
        if count != self._seen:
            self._seen = count
            self.last_frame_at = self._clock()
        return count

    def latest(self) -> av.VideoFrame | None:
        if self.slot.closed:
            return self._frame
        if self.slot.reader.sequence() != self._seq:
            got = self.slot.reader.read()
            if got is not None:
                self._seq, self._frame = got
        return self._frame

    def stalled(self, now: float, stall_seconds: float) -> bool:
        _ = self.frame_count  # refresh last_frame_at
        since = self.last_frame_at if self.last_frame_at is not None else self.started_at
        return now - since > stall_seconds

    async def stop(self) -> None:
        """The slot's owner (the remote subscriber) unlinks it; here only mark the end."""
        self.ended = True
