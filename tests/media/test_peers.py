"""Publisher and Subscriber against a fake Kurento made of real aiortc peers on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack

from kiosk.media.ice import IceSettings
from kiosk.media.peer import PeerBase
from kiosk.media.publisher import Publisher
from kiosk.media.sinks import AudioMixer, LatestFrame
from kiosk.media.subscriber import Subscriber
from kiosk.media.testpattern import TestPatternTrack, latency_ms, read_timestamp
from kiosk.media.tone import ToneTrack
from kiosk.openvidu.events import IceCandidateReceived, StreamInfo
from kiosk.testing.waits import wait_until
from tests.media.media_fake_server import ALICE, BOB, FakeServer

# real aiortc peers; ICE on loopback (the entry points' patches, restored afterwards)
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("loopback_ice")]

ICE = IceSettings.loopback()


class Harness:
    """Routes server candidates to the right PC, as MediaSession does (by sender id)."""

    def __init__(self, only_last_mline: bool = False) -> None:
        self.peers: dict[tuple[str, str], PeerBase] = {}  # (to, sender) -> peer
        self.server = FakeServer(self.deliver, only_last_mline=only_last_mline)
        self.delivered: list[tuple[str, IceCandidateReceived]] = []

    async def deliver(self, to: str, event: IceCandidateReceived) -> None:
        self.delivered.append((to, event))
        peer = self.peers[(to, event.sender_connection_id)]
        await peer.add_remote_candidate(event.candidate, event.sdp_mid, event.sdp_mline_index)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    yield h
    for peer in h.peers.values():
        await peer.close()
    await h.server.close()


def stream_info(stream_id: str, audio: bool = True, video: bool = True) -> StreamInfo:
    return StreamInfo(stream_id, 1, audio, video, True, True, "CUSTOM", 30, (320, 240))


async def publish_alice(h: Harness, **kwargs: Any) -> Publisher:
    pub = Publisher(
        h.server.client(ALICE),
        ALICE,
        ToneTrack(440),
        TestPatternTrack("Alice", width=320, height=240, fps=15),
        ice=ICE,
        **kwargs,
    )
    h.peers[(ALICE, ALICE)] = pub
    await pub.publish()
    return pub


async def subscribe_bob(
    h: Harness, stream_id: str, flow: Any = "kurento"
) -> tuple[Subscriber, LatestFrame, AudioMixer]:
    frames = LatestFrame()
    mixer = AudioMixer()
    sub = Subscriber(
        h.server.client(BOB),
        stream_info(stream_id),
        ALICE,
        flow,
        ice=ICE,
        on_video_track=frames.attach,
        on_audio_track=lambda t: mixer.add_track(ALICE, t),
    )
    h.peers[(BOB, ALICE)] = sub
    await sub.subscribe()
    return sub, frames, mixer


def _calls(h: Harness, caller: str, method: str) -> list[dict[str, Any]]:
    return [p for c, m, p in h.server.calls if c == caller and m == method]


async def test_publish_then_subscribe_kurento_flow(harness: Harness) -> None:
    pub = await publish_alice(harness)
    assert pub.stream_id is not None and pub.stream_id.endswith(ALICE)
    (params,) = _calls(harness, ALICE, "publishVideo")
    assert params["doLoopback"] is False
    assert params["hasAudio"] is True and params["hasVideo"] is True
    assert params["audioActive"] is True and params["videoActive"] is True
    assert params["typeOfVideo"] == "CUSTOM"
    assert json.loads(params["videoDimensions"]) == {"width": 320, "height": 240}
    offer = params["sdpOffer"]
    assert "a=candidate:" in offer  # the local description, not the bare offer
    assert offer.index("m=audio") < offer.index("m=video")
    assert "VP8/90000" in offer and "H264" not in offer
    assert offer.count("a=sendonly") == 2
    # the server's candidates reached us before the answer and were buffered, then applied
    assert any(to == ALICE for to, _ in harness.delivered)
    assert pub.candidates_added >= 1
    # own candidates were trickled with endpointName = own connection id
    trickled = _calls(harness, ALICE, "onIceCandidate")
    assert trickled and all(t["endpointName"] == ALICE for t in trickled)
    assert all(
        t["candidate"].startswith("candidate:") and " 127.0.0.1 " in t["candidate"]
        for t in trickled
    )

    _sub, frames, mixer = await subscribe_bob(harness, pub.stream_id)
    (recv,) = _calls(harness, BOB, "receiveVideoFrom")
    assert recv["sender"] == pub.stream_id and "a=recvonly" in recv["sdpOffer"]
    sub_trickled = _calls(harness, BOB, "onIceCandidate")
    assert sub_trickled and all(t["endpointName"] == ALICE for t in sub_trickled)

    await wait_until(lambda: frames.frame_count >= 5, 10, "video frames at the subscriber")
    await wait_until(lambda: mixer.levels().get(ALICE, -np.inf) > -30, 10, "tone level")
    frame = frames.latest()
    assert frame is not None and (frame.width, frame.height) == (320, 240)
    image = frame.to_ndarray(format="rgb24")
    assert read_timestamp(image) is not None
    lat = latency_ms(image, int(time.time() * 1000))
    assert lat is not None and lat < 2000
    await frames.stop()
    await mixer.close()


async def test_subscribe_server_offer_flow(harness: Harness) -> None:
    pub = await publish_alice(harness)
    assert pub.stream_id is not None
    _, frames, mixer = await subscribe_bob(harness, pub.stream_id, flow="mediasoup")
    prepare = _calls(harness, BOB, "prepareReceiveVideoFrom")
    assert prepare == [{"sender": pub.stream_id, "reconnect": False}]
    (recv,) = _calls(harness, BOB, "receiveVideoFrom")
    assert "sdpOffer" not in recv and recv["sdpAnswer"].count("a=recvonly") == 2
    await wait_until(lambda: frames.frame_count >= 3, 10, "video frames (server-offer flow)")
    await frames.stop()
    await mixer.close()


async def test_candidates_aimed_at_a_bundled_mline_still_connect() -> None:
    # Kurento repeats each candidate per m-line; aiortc only uses those for the first m-line
    # of the bundle. Here the server sends them for the *last* m-line only, by index.
    h = Harness(only_last_mline=True)
    try:
        pub = await publish_alice(h)
        assert pub.stream_id is not None
        assert {ev.sdp_mline_index for _, ev in h.delivered} == {1}
        # they reached the ICE transport every m-line shares (not silently ignored)
        transport = pub.pc.getTransceivers()[0].receiver.transport.transport
        assert any(c.type == "host" for c in transport.getRemoteCandidates())
        _, frames, mixer = await subscribe_bob(h, pub.stream_id)
        await wait_until(lambda: frames.frame_count >= 3, 10, "frames via rewritten candidates")
        await frames.stop()
        await mixer.close()
    finally:
        for peer in h.peers.values():
            await peer.close()
        await h.server.close()


async def test_non_loopback_candidates_are_dropped(harness: Harness) -> None:
    pub = await publish_alice(harness)
    before = pub.candidates_added
    await pub.add_remote_candidate(
        "candidate:1 1 UDP 2015363327 192.168.1.20 23918 typ host", "0", 0
    )
    await pub.add_remote_candidate("candidate:1 1 UDP 2015363327 abc.local 23918 typ host", "0", 0)
    await pub.add_remote_candidate("", "0", 0)
    assert pub.candidates_added == before
    assert pub.candidates_dropped >= 3


async def test_mute_announces_and_remote_sees_black_and_silence(harness: Harness) -> None:
    pub = await publish_alice(harness)
    assert pub.stream_id is not None
    _, frames, mixer = await subscribe_bob(harness, pub.stream_id)
    await wait_until(lambda: frames.frame_count >= 3, 10, "first frames")
    await wait_until(lambda: mixer.levels().get(ALICE, -np.inf) > -30, 10, "tone level")

    await pub.set_muted("video", True)
    await pub.set_muted("audio", True)
    changes = _calls(harness, ALICE, "streamPropertyChanged")
    assert changes == [
        {
            "streamId": pub.stream_id,
            "property": "videoActive",
            "newValue": False,
            "reason": "publishVideo",
        },
        {
            "streamId": pub.stream_id,
            "property": "audioActive",
            "newValue": False,
            "reason": "publishAudio",
        },
    ]

    def black() -> bool:
        frame = frames.latest()
        return frame is not None and float(frame.to_ndarray(format="rgb24").mean()) < 30

    await wait_until(black, 10, "black video after mute")
    await wait_until(lambda: mixer.levels().get(ALICE, 0.0) < -80, 10, "silence after mute")

    await pub.set_muted("video", False)
    await wait_until(lambda: not black(), 10, "picture back after unmute")
    assert _calls(harness, ALICE, "streamPropertyChanged")[-1]["newValue"] is True
    await frames.stop()
    await mixer.close()


async def test_publish_muted_from_start_and_audio_only(harness: Harness) -> None:
    pub = Publisher(
        harness.server.client(ALICE), ALICE, ToneTrack(300), None, ice=ICE, audio_active=False
    )
    harness.peers[(ALICE, ALICE)] = pub
    await pub.publish()
    (params,) = _calls(harness, ALICE, "publishVideo")
    assert params["hasVideo"] is False and "typeOfVideo" not in params
    assert params["audioActive"] is False and "m=video" not in params["sdpOffer"]
    assert await pub.set_muted("video", True) is False  # no video track: nothing to do


async def test_close_leaves_no_running_tasks(harness: Harness) -> None:
    baseline = {t for t in asyncio.all_tasks() if not t.done()}
    pub = await publish_alice(harness)
    assert pub.stream_id is not None
    sub, frames, mixer = await subscribe_bob(harness, pub.stream_id)
    await wait_until(lambda: frames.frame_count >= 2, 10, "frames")
    await frames.stop()
    await mixer.close()
    await sub.close()
    await pub.close()
    await harness.server.close()
    harness.peers.clear()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = {t for t in asyncio.all_tasks() if not t.done()} - baseline
        current = asyncio.current_task()
        if current is not None:
            left.discard(current)
        if not left:
            break
        await asyncio.sleep(0.1)
    assert not left, [t.get_name() for t in left]
    assert isinstance(pub.video, MediaStreamTrack) and pub.video.readyState == "ended"
