"""A bound on the encoded frames waiting for a receiver's decoder thread.

aiortc 1.16's ``RTCRtpReceiver`` hands every complete encoded frame to its decoder thread
through an unbounded ``queue.Queue``. When decoding is slower than the stream (a Pi's core with
several 640x480 streams, a busy machine), that queue grows without end: everything on screen
gets later and later (0.6 s behind after a minute at 8 streams on the Pi 4 budget,
docs/benchmarks.md) and memory with it. Stopping the receiver puts ``None`` behind the backlog
and joins the thread on the event loop, so the loop waits until the whole backlog is decoded.

:class:`DecodeBacklog` replaces that queue:

* video: a frame may wait at most :data:`VIDEO_BEHIND_S` (and at most :data:`VIDEO_FRAMES`
  frames wait). Past that the backlog is dropped and a key frame requested (the receiver's
  decode-error flag, which makes it send a PLI); frames that depend on dropped ones are not
  decoded but dropped until a key frame comes (asked again every :data:`KEYFRAME_ASK_FRAMES`
  frames while none comes). The screen jumps to now instead of drifting behind. The bound is in
  time so that a decoder thread held up for a moment (a busy machine) loses nothing; only one
  that stays behind does.
* audio: at most :data:`AUDIO_FRAMES` (20 ms each); the oldest go (Opus conceals the gap).
* stop: the backlog is dropped before the end marker, so joining the thread waits for one
  decode at most.

:func:`install` makes every receiver created afterwards in this process use it (the kiosk, the
workers, the bots and the dev server alike; :mod:`kiosk.media.patches`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver as _receiver_module

__all__ = [
    "AUDIO_FRAMES",
    "KEYFRAME_ASK_FRAMES",
    "VIDEO_BEHIND_S",
    "VIDEO_FRAMES",
    "DecodeBacklog",
    "install",
    "installed",
    "is_keyframe",
    "uninstall",
]

log = logging.getLogger(__name__)

VIDEO_BEHIND_S = 1.0  # the oldest waiting frame arrived this long ago: the decoder is behind
VIDEO_FRAMES = 60  # and never more than this many waiting (2 s at 30 fps), whatever the clock
KEYFRAME_ASK_FRAMES = 15  # while waiting for a key frame, ask again every this many frames
AUDIO_FRAMES = 50  # 1 s of 20 ms Opus frames

_H264_IDR, _H264_SPS = 5, 7


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether an encoded frame (as aiortc depayloads it) can be decoded on its own.

    VP8 (RFC 6386 §9.1): bit 0 of the first byte is 0 on a key frame. H.264 (Annex B, as aiortc
    writes it): an IDR slice or a sequence parameter set in the frame. Other codecs: no
    dependencies assumed.
    """
    name = codec_name.upper()
    if name == "VP8":
        return bool(data) and data[0] & 0x01 == 0
    if name == "H264":
        i = data.find(b"\x00\x00\x01")
        while i != -1 and i + 3 < len(data):
            if data[i + 3] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            i = data.find(b"\x00\x00\x01", i + 3)
        return False
    return True


class DecodeBacklog(queue.Queue[Any]):
    """The queue between one receiver and its decoder thread, bounded (see the module text).

    ``put`` is called on the event loop (frames, and ``None`` at stop); ``get`` on the decoder
    thread. ``request_keyframe`` sets the receiver's decode-error flag: its next RTP packet then
    sends a PLI. Each item is kept with the time it came (``clock``), handed out without it.
    """

    def __init__(
        self,
        kind: str,
        request_keyframe: Callable[[], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.limit = VIDEO_FRAMES if kind == "video" else AUDIO_FRAMES
        self._clock = clock
        self._request_keyframe = request_keyframe
        self._wait_key = False
        self._waited = 0  # frames dropped since the key frame was asked for
        self.dropped = 0  # frames never decoded because of the bound
        self.overflows = 0  # times the backlog was dropped

    # queue.Queue's storage hooks (called with its mutex held): items carry their arrival time
    def _init(self, maxsize: int) -> None:
        self.queue: deque[tuple[float, Any]] = deque()

    def _put(self, item: Any) -> None:
        self.queue.append((self._clock(), item))

    def _get(self) -> Any:
        return self.queue.popleft()[1]

    def behind(self) -> float:
        """Seconds the oldest waiting frame has waited (0 when none waits)."""
        with self.mutex:
            return self._clock() - self.queue[0][0] if self.queue else 0.0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # stop: the thread ends after the frame it is decoding now
            self._drop_backlog()
            super().put(None)
            return
        if self.kind != "video":
            if self.qsize() >= self.limit:
                self._drop_oldest()
            super().put(item)
            return
        codec, frame = item
        key = is_keyframe(codec.name, frame.data)
        if self._wait_key:
            if not key:
                self.dropped += 1
                self._waited += 1
                if self._waited % KEYFRAME_ASK_FRAMES == 0:  # PLI or key frame lost: again
                    self._request_keyframe()
                return
            self._wait_key = False
        elif self.qsize() >= self.limit or self.behind() > VIDEO_BEHIND_S:
            self.overflows += 1
            self._drop_backlog()
            if not key:
                self.dropped += 1
                self._wait_key, self._waited = True, 0
                self._request_keyframe()
                if self.overflows == 1 or self.overflows % 100 == 0:
                    log.info(
                        "video decoding falls behind: waiting frames dropped, key frame "
                        "requested (%d times so far)",
                        self.overflows,
                    )
                return
        super().put(item)

    def _drop_backlog(self) -> None:
        while True:
            try:
                self.get_nowait()
            except queue.Empty:
                return
            self.dropped += 1

    def _drop_oldest(self) -> None:
        try:
            self.get_nowait()
        except queue.Empty:
            return
        self.dropped += 1


_lock = threading.Lock()
_ORIGINAL_INIT = _receiver_module.RTCRtpReceiver.__init__
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_ERROR_ATTR = "_RTCRtpReceiver__decoder_error"
_KIND_ATTR = "_RTCRtpReceiver__kind"


def _bounded_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL_INIT(self, *args, **kwargs)
    error = getattr(self, _ERROR_ATTR, None)
    old = getattr(self, _QUEUE_ATTR, None)
    kind = getattr(self, _KIND_ATTR, None)
    if not isinstance(error, threading.Event) or not isinstance(old, queue.Queue):
        return  # not the layout this was written for: aiortc's own queue stays
    setattr(self, _QUEUE_ATTR, DecodeBacklog(str(kind), error.set))


def install() -> bool:
    """Every ``RTCRtpReceiver`` created from now on gets a :class:`DecodeBacklog`.

    Process-wide and idempotent. Returns False (and logs one line) when aiortc's receiver does
    not have the expected layout, leaving aiortc untouched.
    """
    with _lock:
        cls = _receiver_module.RTCRtpReceiver
        if cls.__init__ is _bounded_init:
            return True
        probe = getattr(_receiver_module, "decoder_worker", None)
        if cls.__init__ is not _ORIGINAL_INIT or probe is None:
            log.warning("media: aiortc's RTCRtpReceiver is not as expected; decoding unbounded")
            return False
        cls.__init__ = _bounded_init  # type: ignore[method-assign]
        return True


def uninstall() -> None:
    """aiortc's own unbounded queue for receivers created from now on (benches compare both)."""
    with _lock:
        cls = _receiver_module.RTCRtpReceiver
        if cls.__init__ is _bounded_init:
            cls.__init__ = _ORIGINAL_INIT  # type: ignore[method-assign]


def installed() -> bool:
    return _receiver_module.RTCRtpReceiver.__init__ is _bounded_init
