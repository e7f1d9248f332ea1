"""Publishing and subscribing through the MediaBackend seam, with a scripted backend.

The backend here is a small, real implementation of the seam that answers with canned SDP and
emits one server candidate per endpoint, so that everything the dev server does around media
(stream ids, fan-out, property changes, candidate routing, cleanup) is observable without
WebRTC.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kiosk.devserver.media_api import CandidateSink, MediaBackend, ServerCandidate
from kiosk.errors import MediaError
from tests.devserver.ds_harness import Harness, running

API = "/openvidu/api"

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 100\r\na=mid:1\r\na=sendonly\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "a=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=1\r\n"
)
CANDIDATE = "candidate:1 1 UDP 2130706431 127.0.0.1 40000 typ host"


class ScriptedBackend:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.offers: list[str] = []
        self.fail_subscribe = False

    async def publish(
        self,
        connection_id: str,
        stream_id: str,
        sdp_offer: str,
        has_audio: bool,
        has_video: bool,
        emit: CandidateSink,
    ) -> str:
        self.calls.append(("publish", (connection_id, stream_id)))
        self.offers.append(sdp_offer)
        emit(ServerCandidate(connection_id, connection_id, stream_id, CANDIDATE, "0", 0))
        return "v=0\r\nanswer-publish\r\n"

    async def subscribe(
        self, subscriber_id: str, stream_id: str, sdp_offer: str, emit: CandidateSink
    ) -> str:
        if self.fail_subscribe:
            raise MediaError("subscriber endpoint failed")
        self.calls.append(("subscribe", (subscriber_id, stream_id)))
        publisher = stream_id[stream_id.rfind("con_") :]
        emit(
            ServerCandidate(
                subscriber_id, publisher, f"{subscriber_id}_{stream_id}", CANDIDATE, "0", 0
            )
        )
        return "v=0\r\nanswer-subscribe\r\n"

    async def prepare_subscribe(
        self, subscriber_id: str, stream_id: str, emit: CandidateSink
    ) -> str:
        self.calls.append(("prepare_subscribe", (subscriber_id, stream_id)))
        return OFFER.replace("sendonly", "sendonly")

    async def complete_subscribe(self, subscriber_id: str, stream_id: str, sdp_answer: str) -> None:
        self.calls.append(("complete_subscribe", (subscriber_id, stream_id)))

    async def add_client_candidate(
        self, connection_id: str, endpoint_name: str, candidate: str, sdp_mid: str, index: int
    ) -> None:
        self.calls.append(("candidate", (connection_id, endpoint_name)))

    async def unpublish(self, stream_id: str) -> None:
        self.calls.append(("unpublish", (stream_id,)))

    async def unsubscribe(self, subscriber_id: str, stream_id: str) -> None:
        self.calls.append(("unsubscribe", (subscriber_id, stream_id)))

    async def release(self, connection_id: str) -> None:
        self.calls.append(("release", (connection_id,)))

    async def close(self) -> None:
        self.calls.append(("close", ()))


@pytest.fixture
async def media_dev() -> AsyncIterator[tuple[Harness, ScriptedBackend]]:
    backend = ScriptedBackend()
    assert isinstance(backend, MediaBackend)
    async with running(media=backend, grace_seconds=0.3, close_after_leave_seconds=0.5) as h:
        yield h, backend
    assert ("close", ()) in backend.calls


def publish_params(**over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "sdpOffer": OFFER,
        "doLoopback": False,
        "hasAudio": True,
        "hasVideo": True,
        "audioActive": True,
        "videoActive": True,
        "typeOfVideo": "CAMERA",
        "frameRate": 30,
        "videoDimensions": '{"width":640,"height":480}',
    }
    params.update(over)
    return params


async def test_publish_announces_the_stream_and_routes_candidates(
    media_dev: tuple[Harness, ScriptedBackend],
) -> None:
    dev, backend = media_dev
    sid = await dev.session("Media")
    alice, a = await dev.join(sid)
    bob, b = await dev.join(sid)
    pub = await alice.result("publishVideo", publish_params())
    assert pub["sdpAnswer"] == "v=0\r\nanswer-publish\r\n"
    assert re.fullmatch(rf"str_CAM_[A-Z][A-Za-z0-9]{{3}}_{a['id']}", pub["id"])
    assert isinstance(pub["createdAt"], int)
    # the offer reached the backend munged to VP8 (+ its RTX), audio untouched
    munged = backend.offers[0]
    assert "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n" in munged
    assert "H264" not in munged and "opus/48000/2" in munged

    cand = await alice.notification("iceCandidate")
    assert cand == {
        "senderConnectionId": a["id"],
        "endpointName": pub["id"],
        "sdpMLineIndex": 0,
        "sdpMid": "0",
        "candidate": CANDIDATE,
    }
    published = await bob.notification("participantPublished")
    assert published == {
        "id": a["id"],
        "streams": [
            {
                "id": pub["id"],
                "createdAt": pub["createdAt"],
                "hasAudio": True,
                "hasVideo": True,
                "audioActive": True,
                "videoActive": True,
                "typeOfVideo": "CAMERA",
                "frameRate": 30,
                "videoDimensions": '{"width":640,"height":480}',
                "filter": {},
            }
        ],
    }
    assert (await alice.error("publishVideo", publish_params()))["code"] == 106

    # a late joiner sees the stream in joinRoom.value
    _carol, c = await dev.join(sid)
    alice_entry = next(v for v in c["value"] if v["id"] == a["id"])
    assert alice_entry["streams"] == published["streams"]
    bob_entry = next(v for v in c["value"] if v["id"] == b["id"])
    assert "streams" not in bob_entry

    # client-offer subscription: candidates come from the publisher's connection id
    sub = await bob.result("receiveVideoFrom", {"sender": pub["id"], "sdpOffer": OFFER})
    assert sub["sdpAnswer"] == "v=0\r\nanswer-subscribe\r\n"
    cand = await bob.notification("iceCandidate")
    assert cand["senderConnectionId"] == a["id"]
    assert cand["endpointName"] == f"{b['id']}_{pub['id']}"

    # REST shows the publisher and the subscriber
    conns = {
        c["id"]: c
        for c in (await dev.http.get(f"{API}/sessions/{sid}/connection")).json()["content"]
    }
    media = conns[a["id"]]["publishers"][0]
    assert media["streamId"] == pub["id"]
    assert media["mediaOptions"]["typeOfVideo"] == "CAMERA"
    assert media["mediaOptions"]["filter"] == {}
    assert [s["streamId"] for s in conns[b["id"]]["subscribers"]] == [pub["id"]]


async def test_audio_only_stream_id_and_absent_video_members(
    media_dev: tuple[Harness, ScriptedBackend],
) -> None:
    dev, _ = media_dev
    sid = await dev.session("AudioOnly")
    alice, _a = await dev.join(sid)
    bob, _ = await dev.join(sid)
    params = publish_params(hasVideo=False, videoActive=None, frameRate=None)
    params = {k: v for k, v in params.items() if v is not None}
    del params["typeOfVideo"], params["videoDimensions"]
    pub = await alice.result("publishVideo", params)
    assert pub["id"].startswith("str_MIC_")
    stream = (await bob.notification("participantPublished"))["streams"][0]
    assert "typeOfVideo" not in stream and "videoDimensions" not in stream
    assert "frameRate" not in stream and "videoActive" not in stream
    assert stream["filter"] == {}


async def test_stream_property_changed_encoding_and_storage(
    media_dev: tuple[Harness, ScriptedBackend],
) -> None:
    dev, _ = media_dev
    sid = await dev.session("Props")
    alice, a = await dev.join(sid)
    bob, _ = await dev.join(sid)
    pub = await alice.result("publishVideo", publish_params())
    await alice.result(
        "streamPropertyChanged",
        {
            "streamId": pub["id"],
            "property": "audioActive",
            "newValue": False,
            "reason": "publishAudio",
        },
    )
    change = await bob.notification("streamPropertyChanged")
    assert change == {
        "connectionId": a["id"],
        "streamId": pub["id"],
        "property": "audioActive",
        "newValue": "false",
        "reason": "publishAudio",
    }
    dims = '{"width":1280,"height":720}'
    await alice.result(
        "streamPropertyChanged",
        {
            "streamId": pub["id"],
            "property": "videoDimensions",
            "newValue": dims,
            "reason": "trackReplaced",
        },
    )
    change = await bob.notification("streamPropertyChanged")
    assert json.loads(json.loads(change["newValue"])) == {"width": 1280, "height": 720}
    # the publisher itself is not told
    assert [n for n in alice.drain() if n["method"] == "streamPropertyChanged"] == []
    # new values are stored: a late joiner sees them
    _, c = await dev.join(sid)
    stream = next(v for v in c["value"] if v["id"] == a["id"])["streams"][0]
    assert stream["audioActive"] is False and stream["videoDimensions"] == dims
    err = await alice.error(
        "streamPropertyChanged", {"streamId": pub["id"], "property": "audioActive", "reason": "x"}
    )
    assert err["code"] == -1


async def test_unpublish_force_unpublish_and_rest_delete_stream(
    media_dev: tuple[Harness, ScriptedBackend],
) -> None:
    dev, backend = media_dev
    sid = await dev.session("Unpublish")
    alice, a = await dev.join(sid)
    mod, _ = await dev.join(sid, role="MODERATOR")

    pub = await alice.result("publishVideo", publish_params())
    await alice.result("unpublishVideo", {})
    assert await mod.notification("participantUnpublished") == {
        "connectionId": a["id"],
        "reason": "unpublish",
    }
    assert ("unpublish", (pub["id"],)) in backend.calls
    assert [n for n in alice.drain() if n["method"] == "participantUnpublished"] == []

    pub = await alice.result("publishVideo", publish_params())
    await mod.result("forceUnpublish", {"streamId": pub["id"]})
    expected = {"connectionId": a["id"], "reason": "forceUnpublishByUser"}
    assert await alice.notification("participantUnpublished") == expected
    assert await mod.notification("participantUnpublished") == expected

    pub = await alice.result("publishVideo", publish_params())
    r = await dev.http.delete(f"{API}/sessions/{sid}/stream/{pub['id']}")
    assert r.status_code == 204
    expected = {"connectionId": a["id"], "reason": "forceUnpublishByServer"}
    assert await alice.notification("participantUnpublished") == expected
    assert (await dev.http.delete(f"{API}/sessions/{sid}/stream/{pub['id']}")).status_code == 404


async def test_server_offer_flow_and_leave_releases_media(
    media_dev: tuple[Harness, ScriptedBackend],
) -> None:
    dev, backend = media_dev
    sid = await dev.session("ServerOffer")
    alice, a = await dev.join(sid)
    bob, b = await dev.join(sid)
    pub = await alice.result("publishVideo", publish_params())
    err = await bob.error("receiveVideoFrom", {"sender": pub["id"], "sdpAnswer": "v=0\r\n"})
    assert err["code"] == 303  # no prepareReceiveVideoFrom first
    prepared = await bob.result(
        "prepareReceiveVideoFrom", {"sender": pub["id"], "reconnect": False}
    )
    assert "H264" not in prepared["sdpOffer"]  # the server's own offer is munged too
    assert await bob.result("receiveVideoFrom", {"sender": pub["id"], "sdpAnswer": "v=0\r\n"})
    assert ("complete_subscribe", (b["id"], pub["id"])) in backend.calls

    await bob.result(
        "onIceCandidate",
        {"endpointName": a["id"], "candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0},
    )
    assert ("candidate", (b["id"], a["id"])) in backend.calls
    await bob.result("unsubscribeFromVideo", {"sender": a["id"]})
    assert ("unsubscribe", (b["id"], pub["id"])) in backend.calls

    await alice.result("leaveRoom", {})
    assert await bob.notification("participantLeft") == {
        "connectionId": a["id"],
        "reason": "disconnect",
    }
    assert ("release", (a["id"],)) in backend.calls


async def test_backend_media_error_maps_to_303(media_dev: tuple[Harness, ScriptedBackend]) -> None:
    dev, backend = media_dev
    sid = await dev.session("Broken")
    alice, _ = await dev.join(sid)
    bob, _ = await dev.join(sid)
    pub = await alice.result("publishVideo", publish_params())
    backend.fail_subscribe = True
    err = await bob.error("receiveVideoFrom", {"sender": pub["id"], "sdpOffer": OFFER})
    assert err["code"] == 303 and "subscriber endpoint failed" in err["message"]


class ThreadedEmitBackend(ScriptedBackend):
    """Emits its candidate from another thread, as a backend with worker threads might."""

    async def publish(
        self,
        connection_id: str,
        stream_id: str,
        sdp_offer: str,
        has_audio: bool,
        has_video: bool,
        emit: CandidateSink,
    ) -> str:
        cand = ServerCandidate(connection_id, connection_id, stream_id, CANDIDATE, "0", 0)
        worker = threading.Thread(target=emit, args=(cand,))
        worker.start()
        await asyncio.to_thread(worker.join, 5)
        return "v=0\r\nanswer-publish\r\n"


async def test_candidates_emitted_from_another_thread_are_delivered() -> None:
    async with running(media=ThreadedEmitBackend()) as dev:
        sid = await dev.session("Threads")
        alice, a = await dev.join(sid)
        pub = await alice.result("publishVideo", publish_params())
        cand = await alice.notification("iceCandidate")
        assert cand["senderConnectionId"] == a["id"] and cand["endpointName"] == pub["id"]
