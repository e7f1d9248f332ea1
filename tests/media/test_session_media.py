"""MediaSession: subscribe once per stream, route candidates, follow events, close cleanly."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import numpy as np
import pytest

from kiosk.media.devices import LocalMedia
from kiosk.media.ice import IceSettings
from kiosk.media.session_media import MediaSession
from kiosk.media.sinks import AudioMixer
from kiosk.media.subscriber import Subscriber
from kiosk.media.testpattern import TestPatternTrack, read_timestamp
from kiosk.media.tone import ToneTrack
from kiosk.openvidu.events import (
    IceCandidateReceived,
    ParticipantLeft,
    ParticipantPublished,
    StreamPropertyChanged,
    parse_stream,
)
from kiosk.openvidu.session_model import SessionModel
from kiosk.testing.waits import wait_until
from tests.media.media_fake_server import ALICE, BOB, FakeServer

# real aiortc peers; ICE on loopback (the entry points' patches, restored afterwards)
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("loopback_ice")]

ICE = IceSettings.loopback()


def stream_json(stream_id: str) -> dict[str, Any]:
    return {
        "id": stream_id,
        "createdAt": 1,
        "hasAudio": True,
        "hasVideo": True,
        "audioActive": True,
        "videoActive": True,
        "typeOfVideo": "CUSTOM",
        "frameRate": 15,
        "videoDimensions": json.dumps({"width": 320, "height": 240}),
        "filter": {},
    }


def calls(server: FakeServer, caller: str, method: str) -> list[dict[str, Any]]:
    return [p for c, m, p in server.calls if c == caller and m == method]


def live_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if not t.done() and t is not current}


async def test_media_session_end_to_end_with_fake_server() -> None:
    baseline = live_tasks()
    sessions: dict[str, MediaSession] = {}

    async def deliver(to: str, event: IceCandidateReceived) -> None:
        sessions[to].handle(event)

    server = FakeServer(deliver)
    local = LocalMedia(ToneTrack(440), TestPatternTrack("Alice", 320, 240, fps=15), [], "CUSTOM")
    alice = MediaSession(server.client(ALICE), ALICE, "kurento", local, ICE)
    sessions[ALICE] = alice
    mixer = AudioMixer()
    bob_model = SessionModel()  # the owner of Bob's view of the streams, as in the kiosk
    bob = MediaSession(
        server.client(BOB), BOB, "kurento", None, ICE, mixer=mixer, stream_of=bob_model.stream_of
    )
    sessions[BOB] = bob

    def bob_sees(event: Any) -> None:
        bob_model.apply(event)
        bob.handle(event)

    try:
        await alice.start()
        assert alice.publish_state == "published", alice.publish_error
        assert alice.publisher is not None and alice.publisher.stream_id is not None
        stream_id = alice.publisher.stream_id

        bob_model.load_join_result(
            {
                "id": BOB,
                "metadata": "",
                "value": [
                    {
                        "id": ALICE,
                        "createdAt": 1,
                        "metadata": "",
                        "streams": [stream_json(stream_id)],
                    },
                    {"id": "con_NotPublishing", "createdAt": 2, "metadata": ""},
                ],
            }
        )
        await bob.start(publish=False)
        stream = parse_stream(stream_json(stream_id))
        assert stream is not None
        # The kiosk seeds subscriptions by replaying who already publishes …
        for cid, participant in bob_model.participants.items():
            if participant.stream is not None:
                bob.handle(ParticipantPublished(cid, participant.stream))
        bob_sees(ParticipantPublished(ALICE, stream))  # … and the §4.2 race: same stream again
        await wait_until(
            lambda: ALICE in bob.frames and bob.frames[ALICE].frame_count >= 3, 10, "frames at Bob"
        )
        assert len(calls(server, BOB, "receiveVideoFrom")) == 1
        assert set(bob.frames) == {ALICE}
        await wait_until(lambda: bob.levels().get(ALICE, -np.inf) > -30, 10, "Alice's tone")
        latest = bob.frames[ALICE].latest()
        assert latest is not None and read_timestamp(latest.to_ndarray(format="rgb24"))
        # Alice's self-view is fed from her published video
        assert alice.local_frame is not None and alice.local_frame.frame_count > 0

        # candidates: routed by sender id, non-loopback ones dropped
        sub = bob.subscribers[ALICE]
        assert isinstance(sub, Subscriber)  # in this process (media.workers: 0)
        dropped = sub.candidates_dropped
        bob.handle(
            IceCandidateReceived(ALICE, "x", "candidate:1 1 UDP 1 10.1.2.3 9 typ host", "0", 0)
        )
        bob.handle(
            IceCandidateReceived(
                "con_Unknown", "x", "candidate:1 1 UDP 1 127.0.0.1 9 typ host", "0", 0
            )
        )
        await wait_until(lambda: sub.candidates_dropped == dropped + 1, 5, "dropped candidate")

        # properties and stall detection
        bob_sees(StreamPropertyChanged(ALICE, stream_id, "audioActive", False, "publishAudio"))
        seen = bob_model.stream_of(ALICE)
        assert seen is not None and not seen.audio_active and seen.video_active
        now = time.monotonic()
        assert bob.stalled(now, 5.0) == []
        assert bob.stalled(now + 60, 5.0) == [stream_id]
        bob_sees(StreamPropertyChanged(ALICE, stream_id, "videoActive", False, "publishVideo"))
        assert bob.stalled(now + 60, 5.0) == []  # a muted video is not a stalled one

        # mute through the session announces it
        await alice.set_muted("video", True)
        assert calls(server, ALICE, "streamPropertyChanged")[-1]["property"] == "videoActive"

        # resubscribe renegotiates and frames flow again
        before = bob.frames[ALICE].frame_count
        assert await bob.resubscribe(stream_id)
        assert await bob.resubscribe("str_unknown") is False
        assert len(calls(server, BOB, "receiveVideoFrom")) == 2
        assert calls(server, BOB, "unsubscribeFromVideo") == [{"sender": ALICE}]
        await wait_until(lambda: bob.frames[ALICE].frame_count >= 3, 10, "frames after resub")
        assert bob.subscribers[ALICE] is not sub and sub.closed
        del before

        # republish: a new stream id, mute state kept
        await alice.republish()
        assert alice.publish_state == "published"
        assert alice.publisher is not None and alice.publisher.stream_id != stream_id
        assert calls(server, ALICE, "unpublishVideo") == [{}]
        assert calls(server, ALICE, "publishVideo")[-1]["videoActive"] is False

        # participantLeft closes the subscription
        bob.handle(ParticipantLeft(ALICE, "disconnect"))
        await wait_until(
            lambda: ALICE not in bob.subscribers and ALICE not in bob.frames,
            5,
            "subscription closed",
        )
        assert ALICE not in bob.levels()
    finally:
        await bob.close()
        await alice.close()
        await mixer.close()
        await server.close()
        local.close()
    await wait_until(lambda: not (live_tasks() - baseline), 5, "tasks to end")
    decoders = [t for t in threading.enumerate() if t.name.endswith("-decoder")]
    await wait_until(lambda: not any(t.is_alive() for t in decoders), 5, "decoder threads")
    assert not (live_tasks() - baseline), [t.get_name() for t in live_tasks() - baseline]


async def test_subscribe_failure_is_reported_not_raised() -> None:
    server = FakeServer(lambda to, ev: asyncio.sleep(0))
    bob = MediaSession(server.client(BOB), BOB, "kurento", None, ICE)
    stream = parse_stream(stream_json("str_CUS_gone_con_Ghost"))
    assert stream is not None
    bob.handle(ParticipantPublished("con_Ghost", stream))
    await wait_until(lambda: "str_CUS_gone_con_Ghost" in bob.errors, 5, "error recorded")
    assert "105" in bob.errors["str_CUS_gone_con_Ghost"]
    assert "con_Ghost" not in bob.subscribers
    await bob.close()
    await server.close()


async def test_publish_failure_leaves_session_receiving_only() -> None:
    class Refusing:
        async def call(
            self,
            method: str,
            params: dict[str, Any] | None = None,
            timeout: float | None = None,  # noqa: ASYNC109
        ) -> dict[str, Any]:
            from kiosk.errors import RpcError

            raise RpcError(method, 401, "Unable to publish video")

    local = LocalMedia(ToneTrack(440), None, [], "CUSTOM")
    alice = MediaSession(Refusing(), ALICE, "kurento", local, ICE)
    await alice.start()
    assert alice.publish_state == "failed" and alice.publisher is None
    assert alice.publish_error is not None and "401" in alice.publish_error
    await alice.close()
    local.close()
