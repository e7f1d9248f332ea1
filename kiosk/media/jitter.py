"""Release video frames on the RTP marker bit instead of one frame late.

aiortc 1.16's ``JitterBuffer`` (``aiortc/jitterbuffer.py``) hands a video frame to the decoder
only when a packet with a *different* RTP timestamp arrives, i.e. when the first packet of the
next frame is in. At 30 fps that holds every frame back by about one frame interval (33 ms), at
5 fps by 200 ms. RFC 7741 §4.1 (VP8) and RFC 6184 §5.1 (H.264) set the marker bit on the last
packet of a frame, so a frame whose packets are contiguous from the start of the buffer up to a
packet with marker=1 is complete and can go to the decoder at once.

:class:`MarkerJitterBuffer` keeps everything else of aiortc's buffer (capacity, reorder window,
``smart_remove`` on overflow, PLI flags, the timestamp-change rule as a fallback when a marker
packet is lost). Audio buffers (``is_video=False``) behave exactly as before: an audio marker
means "start of a talkspurt", not "end of frame".

:func:`install` swaps the class that ``aiortc.rtcrtpreceiver`` instantiates (that module binds
``JitterBuffer`` by name and builds ``JitterBuffer(capacity=512, is_video=True)`` in
``RTCRtpReceiver.__init__``), so every receiver created afterwards in this process uses it —
the kiosk's subscribers and the dev server's publisher receivers alike. Call it once at start,
before any peer connection exists.
"""

from __future__ import annotations

import logging
import threading

import aiortc.rtcrtpreceiver as _receiver_module
from aiortc.jitterbuffer import JitterBuffer, JitterFrame

log = logging.getLogger(__name__)

__all__ = ["MarkerJitterBuffer", "install", "installed", "uninstall"]

_ORIGINAL: type[JitterBuffer] = JitterBuffer
_lock = threading.Lock()


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, but a video frame is complete at its marker packet."""

    frames_on_marker: int  # frames released by their marker bit (before the next frame)
    frames_on_timestamp: int  # frames released by the next frame's timestamp (marker lost)

    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)
        self.frames_on_marker = 0
        self.frames_on_timestamp = 0

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if not self._is_video or self._prefetch > 0 or self._origin is None:
            return super()._remove_frame(sequence_number)
        origin = self._origin
        capacity = self._capacity
        slots = self._packets
        timestamp: int | None = None
        parts: list[bytes] = []
        for count in range(capacity):
            packet = slots[(origin + count) % capacity]
            if packet is None:
                return None  # a gap: wait for it (NACK) or for overflow handling
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                # The next frame started but this one never showed its marker (lost packet
                # retransmitted without it, or a sender that does not set it): aiortc's rule.
                self.remove(count)
                self.frames_on_timestamp += 1
                return JitterFrame(data=b"".join(parts), timestamp=timestamp)
            parts.append(packet._data)  # type: ignore[attr-defined]  # set by the receiver
            if packet.marker:
                self.remove(count + 1)
                self.frames_on_marker += 1
                return JitterFrame(data=b"".join(parts), timestamp=timestamp)
        return None

    def pending_packets(self) -> int:
        """Packets currently held (tests use it to show nothing leaks)."""
        return sum(1 for p in self._packets if p is not None)


def install() -> bool:
    """Make every ``RTCRtpReceiver`` created from now on use :class:`MarkerJitterBuffer`.

    Process-wide and idempotent. Returns False (and logs one line) when the installed aiortc does
    not have the expected layout, leaving aiortc untouched.
    """
    with _lock:
        current = getattr(_receiver_module, "JitterBuffer", None)
        if current is MarkerJitterBuffer:
            return True
        if current is not _ORIGINAL or not hasattr(_ORIGINAL, "_remove_frame"):
            log.warning(
                "media: aiortc.rtcrtpreceiver.JitterBuffer is not aiortc's own class; "
                "frames are released one frame late"
            )
            return False
        setattr(_receiver_module, "JitterBuffer", MarkerJitterBuffer)  # noqa: B010
        return True


def uninstall() -> None:
    """Restore aiortc's own jitter buffer for receivers created from now on (tests)."""
    with _lock:
        if getattr(_receiver_module, "JitterBuffer", None) is MarkerJitterBuffer:
            setattr(_receiver_module, "JitterBuffer", _ORIGINAL)  # noqa: B010


def installed() -> bool:
    """Whether new receivers release video frames on the marker bit."""
    return getattr(_receiver_module, "JitterBuffer", None) is MarkerJitterBuffer
