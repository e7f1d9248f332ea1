"""kiosk.media.jitter: video frames leave the jitter buffer at their marker packet."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from kiosk.media import ice as ice_seam
from kiosk.media import jitter
from kiosk.media.jitter import MarkerJitterBuffer
from kiosk.media.patches import Patches
from kiosk.media.testpattern import TIMESTAMP_MODULO, TestPatternTrack, read_timestamp

SSRC = 0x1234


def pkt(seq: int, ts: int, payload: bytes, marker: bool = False) -> RtpPacket:
    packet = RtpPacket(
        payload_type=96,
        marker=1 if marker else 0,
        sequence_number=seq & 0xFFFF,
        timestamp=ts & 0xFFFFFFFF,
        ssrc=SSRC,
        payload=payload,
    )
    packet._data = payload  # type: ignore[attr-defined]  # what RTCRtpReceiver sets
    return packet


def frame_packets(seq: int, ts: int, sizes: int, tag: bytes) -> list[RtpPacket]:
    """One frame of ``sizes`` packets; the last carries the marker."""
    return [pkt(seq + i, ts, tag + bytes([i]), marker=(i == sizes - 1)) for i in range(sizes)]


def feed(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[JitterFrame | None]:
    return [buffer.add(p)[1] for p in packets]


# --- unit: synthetic packets ------------------------------------------------------------------


def test_frame_is_released_at_its_marker_packet() -> None:
    buffer = MarkerJitterBuffer(capacity=128, is_video=True)
    out = feed(buffer, frame_packets(100, 9000, 3, b"A"))
    assert out[:2] == [None, None]
    frame = out[2]
    assert frame is not None
    assert frame.data == b"A\x00A\x01A\x02"
    assert frame.timestamp == 9000
    assert buffer.pending_packets() == 0
    # aiortc's own buffer still holds the same frame: it waits for the next frame's packet
    original = JitterBuffer(capacity=128, is_video=True)
    assert feed(original, frame_packets(100, 9000, 3, b"A")) == [None, None, None]
    released = original.add(pkt(103, 12000, b"B"))[1]
    assert released is not None and released.data == b"A\x00A\x01A\x02"


def test_single_packet_frames_each_come_out_at_once() -> None:
    buffer = MarkerJitterBuffer(capacity=16, is_video=True)
    for i in range(40):  # more than the capacity: slots are reused
        frame = buffer.add(pkt(i, i * 3000, bytes([i]), marker=True))[1]
        assert frame is not None and frame.data == bytes([i]) and frame.timestamp == i * 3000
    assert buffer.pending_packets() == 0


def test_reordered_packets_wait_for_the_gap_then_release_in_order() -> None:
    buffer = MarkerJitterBuffer(capacity=128, is_video=True)
    a0, a1, a2 = frame_packets(10, 3000, 3, b"A")
    assert feed(buffer, [a0, a2]) == [None, None]  # marker in, middle missing: not complete
    frame = buffer.add(a1)[1]
    assert frame is not None and frame.data == b"A\x00A\x01A\x02"
    # the marker packet of the next frame arriving before its first packet
    b0, b1 = frame_packets(13, 6000, 2, b"B")
    assert buffer.add(b1)[1] is None
    frame = buffer.add(b0)[1]
    assert frame is not None and frame.data == b"B\x00B\x01" and frame.timestamp == 6000
    assert buffer.pending_packets() == 0


def test_late_duplicate_of_a_released_frame_is_dropped() -> None:
    buffer = MarkerJitterBuffer(capacity=128, is_video=True)
    packets = frame_packets(500, 3000, 2, b"A")
    assert feed(buffer, packets)[-1] is not None
    pli, frame = buffer.add(packets[0])  # a retransmission that arrives after the frame left
    assert (pli, frame) == (False, None)
    assert buffer.pending_packets() == 0
    nxt = buffer.add(pkt(502, 6000, b"B", marker=True))[1]
    assert nxt is not None and nxt.data == b"B"


def test_lost_marker_falls_back_to_the_timestamp_rule() -> None:
    buffer = MarkerJitterBuffer(capacity=128, is_video=True)
    # frame A's marker packet was lost and the NACK gave up; its packets are still contiguous
    assert feed(buffer, [pkt(1, 3000, b"a"), pkt(2, 3000, b"b")]) == [None, None]
    frame = buffer.add(pkt(3, 6000, b"c", marker=True))[1]
    assert frame is not None and frame.data == b"ab" and frame.timestamp == 3000
    assert buffer.frames_on_timestamp == 1
    # B is complete too and comes out with the next packet at the latest
    frame = buffer.add(pkt(4, 9000, b"d"))[1]
    assert frame is not None and frame.data == b"c"


def test_a_lost_packet_blocks_until_overflow_then_asks_for_a_keyframe() -> None:
    capacity = 16
    buffer = MarkerJitterBuffer(capacity=capacity, is_video=True)
    first = frame_packets(0, 0, 3, b"A")
    del first[1]  # lost for good
    assert feed(buffer, first) == [None, None]
    seq, ts, pli_seen = 3, 3000, False
    released: list[JitterFrame] = []
    for _ in range(20):  # 40 packets: beyond the capacity
        for p in frame_packets(seq, ts, 2, b"F"):
            pli, frame = buffer.add(p)
            pli_seen = pli_seen or pli
            if frame is not None:
                released.append(frame)
        seq, ts = seq + 2, ts + 3000
    assert pli_seen, "overflow behind a lost packet must request a keyframe"
    assert released, "frames after the loss must flow again"
    assert all(f.timestamp != 0 for f in released), "the broken frame must not be decoded"
    # the newest frame came out at its marker, and the buffer holds nothing more
    assert released[-1].timestamp == ts - 3000
    assert buffer.pending_packets() == 0


def test_no_packets_are_kept_over_a_long_run_with_sequence_wraparound() -> None:
    buffer = MarkerJitterBuffer(capacity=512, is_video=True)
    seq, ts, out = 65_000, 4_294_900_000, 0
    for i in range(1500):
        sizes = 1 + i % 4
        frames = feed(buffer, frame_packets(seq, ts, sizes, b"x"))
        assert frames[:-1] == [None] * (sizes - 1)
        assert frames[-1] is not None and frames[-1].timestamp == ts & 0xFFFFFFFF
        assert buffer.pending_packets() == 0
        out += 1
        seq, ts = seq + sizes, ts + 3000
    assert out == 1500 and buffer.frames_on_marker == 1500


def test_audio_buffers_keep_aiortcs_behaviour() -> None:
    # An audio marker starts a talkspurt; it must not make audio frames come out differently.
    mine = MarkerJitterBuffer(capacity=16, prefetch=4)
    theirs = JitterBuffer(capacity=16, prefetch=4)
    for i in range(30):
        p = pkt(i, i * 960, bytes([i]), marker=(i % 7 == 0))
        a, b = mine.add(p), theirs.add(p)
        assert (a[0], a[1] and a[1].data, a[1] and a[1].timestamp) == (
            b[0],
            b[1] and b[1].data,
            b[1] and b[1].timestamp,
        )


def test_install_is_idempotent_and_uninstall_restores() -> None:
    import aiortc.rtcrtpreceiver as receiver_module

    try:
        assert jitter.install() is True
        assert jitter.install() is True
        assert getattr(receiver_module, "JitterBuffer") is MarkerJitterBuffer  # noqa: B009
        assert jitter.installed()
    finally:
        jitter.uninstall()
    assert getattr(receiver_module, "JitterBuffer") is JitterBuffer  # noqa: B009
    assert not jitter.installed()


# --- two real aiortc peers --------------------------------------------------------------------


async def _connect(sender: RTCPeerConnection, receiver: RTCPeerConnection) -> None:
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)


async def _latencies(fps: int, frames: int) -> tuple[list[int], RTCRtpReceiver]:
    """Glass-to-glass latency (test-pattern stamp → decoded frame) of ``frames`` frames."""
    settings = ice_seam.IceSettings.loopback()
    tx = RTCPeerConnection(ice_seam.rtc_configuration(settings))
    rx = RTCPeerConnection(ice_seam.rtc_configuration(settings))
    source = TestPatternTrack("Jitter", 320, 240, fps)
    got: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    def on_track(track: MediaStreamTrack) -> None:
        if not got.done():
            got.set_result(track)

    rx.on("track", on_track)
    tx.addTrack(source)
    try:
        await asyncio.wait_for(_connect(tx, rx), 15)
        track = await asyncio.wait_for(got, 15)
        out: list[int] = []
        deadline = time.monotonic() + 30
        skipped = 0
        while len(out) < frames and time.monotonic() < deadline:
            try:
                frame: Any = await asyncio.wait_for(track.recv(), 10)
            except MediaStreamError:
                break
            now_ms = round(time.time() * 1000)
            if skipped < 2:  # the first frames include the encoder/decoder start-up
                skipped += 1
                continue
            stamp = read_timestamp(frame.to_ndarray(format="rgb24"))
            if stamp is not None:
                out.append((now_ms - stamp) % TIMESTAMP_MODULO)
        receiver = rx.getReceivers()[0]
        return out, receiver
    finally:
        source.stop()
        await asyncio.wait_for(tx.close(), 10)
        await asyncio.wait_for(rx.close(), 10)


@pytest.mark.integration
async def test_two_peers_get_frames_a_frame_interval_earlier(loopback_ice: Patches) -> None:
    fps = 5  # 200 ms between frames makes the one-frame hold of aiortc's buffer unmistakable
    jitter.uninstall()
    before, receiver = await _latencies(fps, 6)
    assert type(receiver._RTCRtpReceiver__jitter_buffer) is JitterBuffer  # type: ignore[attr-defined]
    assert jitter.install()
    after, receiver = await _latencies(fps, 6)
    buffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
    assert isinstance(buffer, MarkerJitterBuffer)
    assert buffer.frames_on_marker >= 6
    assert len(before) >= 5 and len(after) >= 5, (before, after)
    print("latency ms before", before, "after", after)
    median_before, median_after = statistics.median(before), statistics.median(after)
    # aiortc's buffer holds each frame until the next one starts: about 1000/fps ms more
    assert median_before >= 150, before
    assert median_after <= 100, after
    assert median_before - median_after >= 120, (before, after)
