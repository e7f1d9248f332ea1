"""Forwarding encoded media without re-encoding: the receiver tap, the relay, the passthrough track.

aiortc's ``RTCRtpReceiver`` reassembles each complete encoded frame in its jitter buffer and
hands ``(codec, JitterFrame)`` to its decoder thread through a ``queue.Queue`` (aiortc 1.16:
the private attribute ``_RTCRtpReceiver__decoder_queue``, used by ``_handle_rtp_packet`` and
by ``receive()`` when it starts the thread). :func:`tap_receiver` swaps that queue, on each
publisher receiver and before the receiver starts, for a :class:`TapQueue` that gives encoded
frames to an :class:`EncodedRelay` instead of the decoder; control items (the ``None`` that
stops the thread) still pass through, so the receiver's lifecycle is unchanged. Nothing is
decoded on the server.

Each subscriber gets a :class:`PassthroughTrack` whose ``recv()`` returns ``av.Packet``\\ s;
``RTCRtpSender`` then only packetizes them (``Encoder.pack``: new SSRC, sequence numbers and
VP8 picture ids; RTP timestamps keep the publisher's spacing). NACKs from subscribers are
served from the sender's own history, NACKs and REMB towards the publisher come from the
receiver as usual.

Keyframes: a new video subscriber drops frames until a keyframe and asks the publisher for one
(RTCP PLI via ``RTCRtpReceiver._send_rtcp_pli``); a subscriber's own PLI/FIR reaches the sender's
``_send_keyframe`` hook, which :func:`hook_keyframes` replaces per sender instance by the relay's
keyframe request (throttled), so it is forwarded to the publisher. A subscriber that falls behind
(queue full) drops its backlog and waits for the next keyframe.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import queue
import time
from typing import Any

import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.errors import MediaError

__all__ = ["EncodedRelay", "PassthroughTrack", "TapQueue", "hook_keyframes", "tap_receiver"]

_CLOCK_RATES = {"audio": 48000, "video": 90000}
_KEYFRAME_INTERVAL = 0.25  # s: at most one PLI per publisher track per interval
_AUDIO_PREROLL = 5  # audio frames kept for a subscriber whose sender has not started


def _is_vp8_keyframe(data: bytes) -> bool:
    # VP8 frame tag (RFC 6386 §9.1): bit 0 of the first byte is 0 for a key frame.
    return bool(data) and (data[0] & 0x01) == 0


class PassthroughTrack(MediaStreamTrack):
    """A track that yields the publisher's encoded frames as ``av.Packet`` (no decoding).

    Until the subscriber's sender starts reading (ICE/DTLS still connecting) only a short tail
    is kept: video from the newest keyframe on, the last few audio frames. A sender that falls
    ``max_queue`` frames behind loses its backlog and (video) waits for the next keyframe.
    """

    def __init__(self, relay: EncodedRelay, max_queue: int) -> None:
        super().__init__()
        self.kind = relay.kind
        self._relay = relay
        self._frames: collections.deque[tuple[bytes, int]] = collections.deque()
        self._max_queue = max_queue
        self._wakeup = asyncio.Event()
        self._started = False
        self._ended = False
        self._need_keyframe = relay.kind == "video"
        self._time_base = fractions.Fraction(1, _CLOCK_RATES[relay.kind])
        self.forwarded = 0

    def push(self, data: bytes, timestamp: int) -> None:
        if self._ended or self.readyState != "live":
            return
        keyframe = self.kind == "video" and _is_vp8_keyframe(data)
        if self._need_keyframe:
            if not keyframe:
                self._relay.request_keyframe()
                return
            self._need_keyframe = False
        if not self._started:
            if keyframe:
                self._frames.clear()
            elif self.kind == "audio":
                while len(self._frames) >= _AUDIO_PREROLL:
                    self._frames.popleft()
        if len(self._frames) >= self._max_queue:
            self._frames.clear()
            if self.kind == "video" and not keyframe:
                self._need_keyframe = True
                self._relay.request_keyframe()
                return
        self._frames.append((data, timestamp))
        self._wakeup.set()

    def end(self) -> None:
        """The publisher's track ended: let the sender finish."""
        self._ended = True
        self._frames.clear()
        self._wakeup.set()

    async def recv(self) -> av.Packet[Any]:
        self._started = True
        while not self._frames:
            if self._ended or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            self._wakeup.clear()
            await self._wakeup.wait()
        data, timestamp = self._frames.popleft()
        packet = av.Packet(data)
        packet.pts = timestamp
        packet.time_base = self._time_base
        self.forwarded += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self._ended = True
        self._relay.detach(self)
        self._frames.clear()
        self._wakeup.set()


class EncodedRelay:
    """Fans out one publisher receiver's encoded frames to any number of PassthroughTracks."""

    def __init__(self, kind: str, receiver: RTCRtpReceiver) -> None:
        self.kind = kind
        self._receiver: RTCRtpReceiver | None = receiver
        self._tracks: set[PassthroughTrack] = set()
        self._last_keyframe_request = -1.0
        self._tasks: set[asyncio.Task[None]] = set()
        self.frames = 0
        self.closed = False

    def attach(self) -> PassthroughTrack:
        track = PassthroughTrack(self, max_queue=120 if self.kind == "video" else 50)
        if self.closed:
            track.end()
        else:
            self._tracks.add(track)
            if self.kind == "video":
                self.request_keyframe(force=True)
        return track

    def detach(self, track: PassthroughTrack) -> None:
        self._tracks.discard(track)

    @property
    def consumers(self) -> int:
        """Subscriber tracks this relay feeds now (an audio-only subscriber has no video one)."""
        return len(self._tracks)

    def on_frame(self, data: bytes, timestamp: int) -> None:
        """Called on the loop thread by the receiver for each complete encoded frame."""
        self.frames += 1
        for track in list(self._tracks):
            track.push(data, timestamp)

    def request_keyframe(self, force: bool = False) -> None:
        """Ask the publisher for a keyframe (RTCP PLI), at most once per interval."""
        if self.kind != "video" or self._receiver is None or self.closed:
            return
        now = time.monotonic()
        if not force and now - self._last_keyframe_request < _KEYFRAME_INTERVAL:
            return
        self._last_keyframe_request = now
        receiver = self._receiver
        for source in receiver.getSynchronizationSources():
            task = asyncio.get_running_loop().create_task(receiver._send_rtcp_pli(source.source))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.closed = True
        for track in list(self._tracks):
            track.end()
        self._tracks.clear()
        self._receiver = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


class TapQueue(queue.Queue[Any]):
    """Stands in for a receiver's decoder queue: encoded frames go to the relay instead."""

    def __init__(self, relay: EncodedRelay) -> None:
        super().__init__()
        self._relay: EncodedRelay | None = relay

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if isinstance(item, tuple):
            relay = self._relay
            if relay is not None and not relay.closed:
                _codec, encoded_frame = item
                relay.on_frame(bytes(encoded_frame.data), int(encoded_frame.timestamp))
            return
        super().put(item, block, timeout)  # None: stop the (idle) decoder thread

    def release(self) -> None:
        self._relay = None


def tap_receiver(receiver: RTCRtpReceiver, relay: EncodedRelay) -> TapQueue:
    """Divert a receiver's encoded frames to ``relay`` (must run before the receiver starts)."""
    attribute = "_RTCRtpReceiver__decoder_queue"
    if not isinstance(getattr(receiver, attribute, None), queue.Queue):
        raise MediaError("aiortc RTCRtpReceiver has no decoder queue to tap (aiortc version?)")
    tap = TapQueue(relay)
    setattr(receiver, attribute, tap)
    return tap


def hook_keyframes(sender: RTCRtpSender, relay: EncodedRelay) -> None:
    """Forward a subscriber's PLI/FIR to the publisher instead of to an encoder."""
    # RTCRtpSender handles PLI/FIR by calling self._send_keyframe(), which only matters when
    # it encodes; for passthrough, forward the request to the publisher instead.
    sender._send_keyframe = relay.request_keyframe  # type: ignore[method-assign]
