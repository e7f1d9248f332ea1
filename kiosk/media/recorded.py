"""A test pattern encoded once and sent again and again: many 30 fps senders on one machine.

A bot's :class:`~kiosk.media.testpattern.TestPatternTrack` is encoded live by aiortc (libvpx),
which costs a 640x480@30 sender most of a core: eight such bots on a 2-core machine arrive at
3–13 fps. Without that cost eight senders fit, though on 2 cores the dev server's relay and the
kiosk's receive path for eight such streams still fall behind (docs/reliability.md, "Peak RSS at
eight 640x480@30 streams"). :class:`RecordedPatternTrack` encodes ``seconds`` of the pattern
with VP8 at start (one key frame first) and then hands aiortc the encoded packets in a loop,
paced in real time; aiortc only packetizes them (``RTCRtpSender`` sends an ``av.Packet`` as it
is).

What the receiver gets is a real VP8 stream at the full rate and size; the picture repeats every
``seconds`` and its timestamp strip is that of the recording (latency cannot be read off it).
A PLI gets no key frame sooner than the next loop. ``kiosk bot --recorded`` uses it.
"""

from __future__ import annotations

import fractions
import functools
import time
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.media.pacing import Pacer
from kiosk.media.testpattern import PatternRenderer

__all__ = ["RecordedPatternTrack", "encode_pattern"]

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
BITRATE = 500_000  # aiortc's default VP8 target


@functools.lru_cache(maxsize=4)
def encode_pattern(
    name: str, width: int, height: int, fps: int, seconds: float
) -> tuple[bytes, ...]:
    """``seconds`` of the test pattern as VP8 frames, the first a key frame, no other (kept:
    every bot of a process with the same arguments sends the same recording)."""
    count = max(1, round(fps * seconds))
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.framerate = fractions.Fraction(fps, 1)
    codec.bit_rate = BITRATE
    codec.gop_size = count * 2
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    renderer = PatternRenderer(name, width, height)
    start = time.time()
    out: list[bytes] = []
    for i in range(count):
        rgb = av.VideoFrame.from_ndarray(renderer.render(start + i / fps), format="rgb24")
        frame = rgb.reformat(format="yuv420p")
        frame.pts = i
        out.extend(bytes(p) for p in codec.encode(frame))
    out.extend(bytes(p) for p in codec.encode(None))
    return tuple(out)


class RecordedPatternTrack(MediaStreamTrack):
    """Encoded VP8 test-pattern packets at ``fps``, looped (see the module text)."""

    kind = "video"

    def __init__(
        self, name: str, width: int = 640, height: int = 480, fps: int = 30, seconds: float = 2.0
    ) -> None:
        super().__init__()
        if fps <= 0:
            raise ValueError("recorded pattern fps must be positive")
        self.fps = fps
        self.packets = encode_pattern(name, width, height, fps, seconds)
        self._pacer = Pacer(fps)
        self._sent = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self._sent)
        packet = av.Packet(self.packets[self._sent % len(self.packets)])
        packet.pts = self._sent * 90000 // self.fps
        packet.time_base = VIDEO_TIME_BASE
        self._sent += 1
        return packet
