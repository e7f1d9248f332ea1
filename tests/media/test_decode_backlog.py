"""kiosk.media.decode_backlog: a decoder that falls behind shows now, not an ever later past."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import aiortc.rtcrtpreceiver as receiver_module
import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpCodecParameters
from aiortc.codecs.h264 import H264Encoder, h264_depayload
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.media import decode_backlog
from kiosk.media import ice as ice_seam
from kiosk.media.decode_backlog import (
    AUDIO_FRAMES,
    KEYFRAME_ASK_FRAMES,
    VIDEO_BEHIND_S,
    VIDEO_FRAMES,
    DecodeBacklog,
    is_keyframe,
)
from kiosk.media.patches import Patches
from kiosk.media.testpattern import TIMESTAMP_MODULO, TestPatternTrack, read_timestamp

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def _frames(n: int) -> list[av.VideoFrame]:
    out = []
    for i in range(n):
        image = np.full((240, 320, 3), (i * 37) % 255, dtype=np.uint8)
        image[: 20 + i, :40] = 255 - image[0, 0]
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
        out.append(frame)
    return out


def _encoded(encoder: Any, depayload: Any, n: int, key_at: set[int]) -> list[bytes]:
    """``n`` frames as aiortc's receiver hands them to its decoder (depayloaded, joined)."""
    out = []
    for i, frame in enumerate(_frames(n)):
        payloads, _ = encoder.encode(frame, force_keyframe=i in key_at)
        out.append(b"".join(depayload(p) for p in payloads))
    return out


# --- key frames ---------------------------------------------------------------------------------


def test_vp8_key_frames_are_told_from_delta_frames() -> None:
    data = _encoded(Vp8Encoder(), vp8_depayload, 5, {3})
    assert [is_keyframe("VP8", d) for d in data] == [True, False, False, True, False]


def test_h264_key_frames_are_told_from_delta_frames() -> None:
    data = _encoded(H264Encoder(), h264_depayload, 5, {3})
    assert [is_keyframe("H264", d) for d in data] == [True, False, False, True, False]


# --- the bound ----------------------------------------------------------------------------------


class Requests:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _vp8_stream() -> tuple[bytes, list[bytes]]:
    data = _encoded(Vp8Encoder(), vp8_depayload, 3, set())
    return data[0], data[1:]  # a key frame, delta frames


def _backlog() -> tuple[DecodeBacklog, Requests, Clock]:
    asked, clock = Requests(), Clock()
    return DecodeBacklog("video", asked, clock=clock), asked, clock


def test_a_decoder_held_up_for_a_moment_loses_nothing() -> None:
    key, deltas = _vp8_stream()
    q, asked, clock = _backlog()
    q.put((VP8, JitterFrame(key, 0)))
    for i in range(1, 28):  # 0.9 s of a 30 fps stream while the decoder thread does not run
        clock.now = i / 30
        q.put((VP8, JitterFrame(deltas[0], i)))
    assert q.qsize() == 28 and q.dropped == 0 and asked.count == 0
    assert [q.get_nowait()[1].timestamp for _ in range(3)] == [0, 1, 2]  # in order, unchanged


def test_a_decoder_a_second_behind_drops_its_backlog_and_asks_for_a_key_frame() -> None:
    key, deltas = _vp8_stream()
    q, asked, clock = _backlog()
    q.put((VP8, JitterFrame(key, 0)))
    q.put((VP8, JitterFrame(deltas[0], 1)))
    clock.now = VIDEO_BEHIND_S + 0.01  # the oldest has waited more than a second
    q.put((VP8, JitterFrame(deltas[0], 2)))
    assert q.qsize() == 0 and asked.count == 1
    assert q.dropped == 3 and q.overflows == 1
    # frames that depend on dropped ones are not decoded; the request repeats if no key comes
    for i in range(KEYFRAME_ASK_FRAMES):
        q.put((VP8, JitterFrame(deltas[1], 200 + i)))
    assert q.qsize() == 0 and asked.count == 2
    # the key frame: decoding goes on from it
    q.put((VP8, JitterFrame(key, 300)))
    q.put((VP8, JitterFrame(deltas[0], 301)))
    assert [q.get_nowait()[1].timestamp for _ in range(2)] == [300, 301]


def test_never_more_than_the_frame_cap_waits_whatever_the_clock() -> None:
    _key, deltas = _vp8_stream()
    q, asked, _ = _backlog()
    for i in range(VIDEO_FRAMES):  # a burst: all in the same instant
        q.put((VP8, JitterFrame(deltas[0], i)))
    assert q.qsize() == VIDEO_FRAMES and asked.count == 0
    q.put((VP8, JitterFrame(deltas[0], 99)))
    assert q.qsize() == 0 and asked.count == 1


def test_a_key_frame_that_overflows_is_kept() -> None:
    key, deltas = _vp8_stream()
    q, asked, clock = _backlog()
    q.put((VP8, JitterFrame(deltas[0], 0)))
    clock.now = 5.0
    q.put((VP8, JitterFrame(key, 99)))
    assert q.qsize() == 1 and q.get_nowait()[1].timestamp == 99 and asked.count == 0


def test_audio_keeps_the_newest_second() -> None:
    q = DecodeBacklog("audio", Requests())
    for i in range(AUDIO_FRAMES + 7):
        q.put((OPUS, JitterFrame(b"\x01", i)))
    assert q.qsize() == AUDIO_FRAMES
    assert q.get_nowait()[1].timestamp == 7 and q.dropped == 7


def test_stop_does_not_wait_for_the_backlog() -> None:
    key, deltas = _vp8_stream()
    q = DecodeBacklog("video", Requests())
    q.put((VP8, JitterFrame(key, 0)))
    for i in range(5):
        q.put((VP8, JitterFrame(deltas[0], i + 1)))
    q.put(None)  # what RTCRtpReceiver.stop() sends its decoder thread
    assert q.qsize() == 1 and q.get_nowait() is None


def test_install_is_idempotent_and_uninstall_restores() -> None:
    was = decode_backlog.installed()
    try:
        assert decode_backlog.install() and decode_backlog.install()
        assert decode_backlog.installed()
        decode_backlog.uninstall()
        assert not decode_backlog.installed()
    finally:
        if was:
            decode_backlog.install()


# --- two real aiortc peers, a decoder slower than the stream -----------------------------------

DECODE_S = 0.1  # 10 frames a second at most, for a 30 fps stream


class _SlowDecoder:
    slow = True  # off before closing: what is still queued then decodes at full speed

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def decode(self, encoded: Any) -> list[Any]:
        if _SlowDecoder.slow:
            time.sleep(DECODE_S)  # on the receiver's decoder thread, as a slow core would be
        return list(self.inner.decode(encoded))


async def _connect(sender: RTCPeerConnection, receiver: RTCPeerConnection) -> None:
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)


async def _late_by(seconds: float) -> tuple[list[int], Any, int]:
    """Latency (ms) of the frames shown in the last second of ``seconds`` of a 30 fps stream,
    the receiver's decoder queue and how many frames waited in it at the end."""
    settings = ice_seam.IceSettings.loopback()
    tx = RTCPeerConnection(ice_seam.rtc_configuration(settings))
    rx = RTCPeerConnection(ice_seam.rtc_configuration(settings))
    source = TestPatternTrack("Backlog", 320, 240, 30)
    got: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    def on_track(track: MediaStreamTrack) -> None:
        if not got.done():
            got.set_result(track)

    rx.on("track", on_track)
    _SlowDecoder.slow = True
    tx.addTrack(source)
    try:
        await asyncio.wait_for(_connect(tx, rx), 15)
        track = await asyncio.wait_for(got, 15)
        start = time.monotonic()
        late: list[int] = []
        while time.monotonic() - start < seconds:
            try:
                frame: Any = await asyncio.wait_for(track.recv(), 10)
            except MediaStreamError:
                break
            if time.monotonic() - start < seconds - 1.0:
                continue
            stamp = read_timestamp(frame.to_ndarray(format="rgb24"))
            if stamp is not None:
                late.append((round(time.time() * 1000) - stamp) % TIMESTAMP_MODULO)
        queue = rx.getReceivers()[0]._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
        # closing joins the decoder thread on this loop once it decoded all that waits: at the
        # slow speed an unbounded backlog would block the loop for seconds
        waiting = queue.qsize()
        _SlowDecoder.slow = False
        return late, queue, waiting
    finally:
        source.stop()
        await asyncio.wait_for(tx.close(), 10)
        await asyncio.wait_for(rx.close(), 10)


@pytest.mark.integration
async def test_a_slow_decoder_shows_recent_frames_not_a_growing_backlog(
    loopback_ice: Patches, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = getattr(receiver_module, "get_decoder")  # noqa: B009
    monkeypatch.setattr(receiver_module, "get_decoder", lambda codec: _SlowDecoder(real(codec)))
    decode_backlog.uninstall()
    before, queue, waiting_before = await _late_by(10.0)
    assert not isinstance(queue, DecodeBacklog)
    assert decode_backlog.install()
    after, queue, waiting_after = await _late_by(10.0)
    assert isinstance(queue, DecodeBacklog)
    print("ms late, unbounded:", before, "bounded:", after)
    print("frames waiting at the end, unbounded:", waiting_before, "bounded:", waiting_after)
    assert waiting_before > 60  # 20 more frames a second than it decodes
    assert waiting_after <= 40  # about a second of frames at most
    assert before and after, "no readable frame in the last second"
    # unbounded: after 10 s at a third of the speed the picture is seconds old, getting older
    assert min(before) > 3000, before
    # bounded: at most a second behind, plus a decode and a key frame round trip
    assert max(after) < 2500, after
    assert queue.overflows >= 1 and queue.dropped > 0
