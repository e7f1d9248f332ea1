"""kiosk.media.recorded: a pre-encoded test pattern arrives as a real, decodable VP8 stream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from kiosk.media import ice as ice_seam
from kiosk.media.decode_backlog import is_keyframe
from kiosk.media.patches import Patches
from kiosk.media.recorded import RecordedPatternTrack, encode_pattern


def test_the_recording_has_one_key_frame_first_and_the_asked_length() -> None:
    packets = encode_pattern("Rec", 320, 240, 30, 1.0)
    assert len(packets) == 30
    assert [is_keyframe("VP8", p) for p in packets] == [True] + [False] * 29


async def test_frames_are_paced_in_real_time() -> None:
    track = RecordedPatternTrack("Rec", 160, 120, 20, seconds=0.5)
    t0 = time.monotonic()
    pts = [(await track.recv()).pts for _ in range(11)]
    assert time.monotonic() - t0 >= 0.45  # 10 intervals of 50 ms, never faster
    assert pts == [i * 4500 for i in range(11)]  # 90 kHz clock, across the loop at 10
    track.stop()


@pytest.mark.integration
async def test_a_receiver_decodes_it_across_the_loop(loopback_ice: Patches) -> None:
    settings = ice_seam.IceSettings.loopback()
    tx = RTCPeerConnection(ice_seam.rtc_configuration(settings))
    rx = RTCPeerConnection(ice_seam.rtc_configuration(settings))
    source = RecordedPatternTrack("Rec", 320, 240, 30, seconds=0.5)  # loops every 15 frames
    got: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    def on_track(track: MediaStreamTrack) -> None:
        if not got.done():
            got.set_result(track)

    rx.on("track", on_track)
    tx.addTrack(source)
    try:
        await tx.setLocalDescription(await tx.createOffer())
        await rx.setRemoteDescription(tx.localDescription)
        await rx.setLocalDescription(await rx.createAnswer())
        await tx.setRemoteDescription(rx.localDescription)
        track = await asyncio.wait_for(got, 15)
        sizes = set()
        for _ in range(40):  # past two loops of the recording
            frame: Any = await asyncio.wait_for(track.recv(), 10)
            sizes.add((frame.width, frame.height))
        assert sizes == {(320, 240)}
        assert source._sent >= 40
    finally:
        source.stop()
        await asyncio.wait_for(tx.close(), 10)
        await asyncio.wait_for(rx.close(), 10)
