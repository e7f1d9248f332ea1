"""JSON-RPC side of the dev server (§3–§5) with raw WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import re

from tests.devserver.ds_harness import Harness, join_params

API = "/openvidu/api"


async def test_ping_answered_before_join_and_without_session_id(dev: Harness) -> None:
    rpc = await dev.client()
    frame = await rpc.request("ping", {"interval": 5000})
    assert frame == {"id": 0, "result": {"value": "pong"}, "jsonrpc": "2.0"}
    frame = await rpc.request("ping")  # later pings have no params
    assert frame["result"] == {"value": "pong"}


async def test_join_room_result_has_every_must_member(dev: Harness) -> None:
    sid = await dev.session("JoinRoom")
    conn = await dev.token(sid, data="srv")
    rpc = await dev.client()
    frame = await rpc.request("joinRoom", join_params(conn["token"], sid, '{"clientData":"K"}'))
    assert frame["id"] == 0 and frame["jsonrpc"] == "2.0"
    r = frame["result"]
    assert r["id"] == conn["id"]
    assert isinstance(r["createdAt"], int) and not isinstance(r["createdAt"], bool)
    assert r["metadata"] == '{"clientData":"K"}%/%srv'  # client data first (§6.3)
    assert r["value"] == []
    assert r["session"] == sid
    assert r["role"] == "PUBLISHER" and r["record"] is True
    assert r["version"] == "2.22.0"
    assert r["mediaServer"] == "kurento" and r["videoSimulcast"] is False
    assert re.fullmatch(r"[0-9a-v]{26}", r["sessionId"])
    assert re.fullmatch(r"[0-9A-F]{16}", r["finalUserId"])
    assert not any(v is None for v in r.values())  # no nulls on JSON-RPC
    assert "customIceServers" not in r and "coturnIp" not in r
    # every result carries the same RPC session id
    echo = await rpc.result("echo", {})
    assert echo == {"sessionId": r["sessionId"]}


async def test_join_room_lists_others_and_custom_ice_servers(dev: Harness) -> None:
    sid = await dev.session("JoinOthers")
    _alice, a = await dev.join(sid, '{"clientData":"Alice"}')
    ice = [{"url": "turn:127.0.0.1:3478", "username": "u", "credential": "c"}]
    bob_conn = await dev.token(sid, customIceServers=ice)
    bob = await dev.client()
    b = await bob.result("joinRoom", join_params(bob_conn["token"], sid, ""))
    assert b["customIceServers"] == ice
    assert b["value"] == [
        {"id": a["id"], "createdAt": a["createdAt"], "metadata": '{"clientData":"Alice"}'}
    ]  # no "streams": Alice is not publishing


async def test_join_errors_and_single_use_token(dev: Harness) -> None:
    sid = await dev.session("Errors")
    other_sid = await dev.session("Other")
    conn = await dev.token(sid)
    rpc = await dev.client()
    err = await rpc.error("joinRoom", join_params(conn["token"], "Nope"))
    assert err["code"] == 202
    err = await rpc.error("joinRoom", join_params(conn["token"], other_sid))
    assert err["code"] == 401
    assert "tok_" not in err["message"]  # tokens never in messages
    for bad in ({"metadata": {"a": 1}}, {"sdkVersion": "2.22"}, {"platform": None}):
        params = {**join_params(conn["token"], sid), **bad}
        assert (await rpc.error("joinRoom", params))["code"] == -1, bad
    params = join_params(conn["token"], sid)
    del params["secret"]
    assert (await rpc.error("joinRoom", params))["code"] == -1
    # the failed attempts did not consume the token
    await rpc.result("joinRoom", join_params(conn["token"], sid))
    second = await dev.client()
    err = await second.error("joinRoom", join_params(conn["token"], sid))
    assert err["code"] == 401


async def test_methods_before_join_get_803_and_unknown_methods_minus_32601(dev: Harness) -> None:
    rpc = await dev.client()
    for method in ("publishVideo", "sendMessage", "leaveRoom", "echo", "onIceCandidate"):
        assert (await rpc.error(method, {}))["code"] == 803, method
    err = await rpc.error("sessionStatus", {})
    assert err["code"] == -32601


async def test_bad_frames_are_ignored_and_the_socket_stays_up(dev: Harness) -> None:
    rpc = await dev.client()
    await rpc.send_raw("this is not json")
    await rpc.send_raw('[{"jsonrpc":"2.0","method":"ping","id":99}]')
    await rpc.send_raw('{"jsonrpc":"2.0","method":"ping"}')
    await rpc.send_raw('{"jsonrpc":"2.0","method":"ping","id":"7"}')
    await rpc.send_raw("42")
    frame = await rpc.request("ping")
    assert frame["result"] == {"value": "pong"}
    assert rpc.drain() == []  # none of the bad frames got an answer
    assert not rpc.closed.is_set()


async def test_two_clients_see_join_and_leave_with_metadata(dev: Harness) -> None:
    sid = await dev.session("Pair")
    alice, a = await dev.join(sid, '{"clientData":"Alice"}')
    bob, b = await dev.join(sid, '{"clientData":"Bob"}', data="lobby")
    joined = await alice.notification("participantJoined")
    assert joined == {"id": b["id"], "createdAt": b["createdAt"], "metadata": b["metadata"]}
    assert joined["metadata"] == '{"clientData":"Bob"}%/%lobby'
    assert b["value"][0]["id"] == a["id"]

    assert await bob.result("leaveRoom", {}) == {"sessionId": b["sessionId"]}
    left = await alice.notification("participantLeft")
    assert left == {"connectionId": b["id"], "reason": "disconnect"}
    # after leaveRoom the server does not answer on that socket (§4.10)
    try:
        await bob.request("sendMessage", {"message": "{}"}, wait=0.4)
        raise AssertionError("a request after leaveRoom was answered")
    except TimeoutError:
        pass
    # and closes the socket itself after close_after_leave_seconds
    await asyncio.wait_for(bob.closed.wait(), 5)
    r = await dev.http.get(f"{API}/sessions/{sid}/connection")
    assert [c["id"] for c in r.json()["content"]] == [a["id"]]


async def test_session_removed_after_last_leave_and_tokens_die(dev: Harness) -> None:
    sid = await dev.session("Ephemeral")
    spare = await dev.token(sid)
    rpc, _ = await dev.join(sid)
    await rpc.result("leaveRoom", {})
    assert (await dev.http.get(f"{API}/sessions/{sid}")).status_code == 404
    r = await dev.http.post(f"{API}/sessions", json={"customSessionId": sid})
    assert r.status_code == 200  # a fresh session with the same id
    late = await dev.client()
    assert (await late.error("joinRoom", join_params(spare["token"], sid)))["code"] == 401


async def test_signals_broadcast_targeted_and_validation(dev: Harness) -> None:
    sid = await dev.session("Signals")
    alice, a = await dev.join(sid)
    bob, b = await dev.join(sid)
    await alice.notification("participantJoined")

    msg = json.dumps({"to": [], "data": "hello", "type": "signal:chat"})
    await alice.result("sendMessage", {"message": msg})
    expected = {"data": "hello", "type": "signal:chat", "from": a["id"]}
    assert await alice.notification("sendMessage") == expected  # broadcast includes sender
    assert await bob.notification("sendMessage") == expected

    msg = json.dumps({"to": [b["id"]], "data": "psst"})
    await alice.result("sendMessage", {"message": msg})
    assert await bob.notification("sendMessage") == {"data": "psst", "from": a["id"]}

    bad_to = json.dumps({"to": [b["id"], "con_Nobody1234"], "data": "x"})
    assert (await alice.error("sendMessage", {"message": bad_to}))["code"] == 601
    assert (await alice.error("sendMessage", {"message": "not json"}))["code"] == 600
    assert (await alice.error("sendMessage", {"message": "[1]"}))["code"] == 600
    await asyncio.sleep(0.1)
    assert [n for n in bob.drain() if n["method"] == "sendMessage"] == []  # nothing delivered


async def test_publish_validation_comes_before_the_missing_media(dev: Harness) -> None:
    sid = await dev.session("Publish")
    sub, _ = await dev.join(sid, role="SUBSCRIBER")
    pub, _ = await dev.join(sid)
    vp8_offer = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"
    )
    h264_offer = vp8_offer.replace("VP8/90000", "H264/90000")
    params = {
        "sdpOffer": vp8_offer,
        "doLoopback": False,
        "hasAudio": False,
        "hasVideo": True,
        "audioActive": False,
        "videoActive": True,
        "typeOfVideo": "CAMERA",
        "frameRate": 30,
        "videoDimensions": '{"width":640,"height":480}',
    }
    assert (await sub.error("publishVideo", params))["code"] == 401
    no_type = {k: v for k, v in params.items() if k != "typeOfVideo"}
    assert (await pub.error("publishVideo", no_type))["code"] == -1
    no_loop = {k: v for k, v in params.items() if k != "doLoopback"}
    assert (await pub.error("publishVideo", no_loop))["code"] == -1
    assert (await pub.error("publishVideo", {**params, "hasAudio": "yes"}))["code"] == -1
    assert (await pub.error("publishVideo", {**params, "sdpOffer": h264_offer}))["code"] == 800
    err = await pub.error("publishVideo", params)
    assert err["code"] == 204
    assert "without media" in err["message"]
    # nothing was announced
    await asyncio.sleep(0.1)
    assert [n for n in sub.drain() if n["method"] == "participantPublished"] == []


async def test_subscribe_errors_and_ice_candidates_are_accepted(dev: Harness) -> None:
    sid = await dev.session("Subscribe")
    alice, a = await dev.join(sid)
    stream = f"str_CAM_Abcd_{a['id']}"
    err = await alice.error("receiveVideoFrom", {"sender": stream, "sdpOffer": "v=0\r\n"})
    assert err["code"] == 105  # own stream
    bob, _ = await dev.join(sid)
    err = await bob.error("receiveVideoFrom", {"sender": stream, "sdpOffer": "v=0\r\n"})
    assert err["code"] == 105  # Alice does not publish
    err = await bob.error(
        "receiveVideoFrom", {"sender": "str_CAM_Abcd_con_Nobody1234", "sdpOffer": "v=0\r\n"}
    )
    assert err["code"] == 102
    assert (await bob.error("receiveVideoFrom", {"sender": stream}))["code"] == -1
    candidate = {
        "endpointName": a["id"],
        "candidate": "candidate:1 1 UDP 2130706431 127.0.0.1 5000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    assert "sessionId" in await bob.result("onIceCandidate", candidate)
    assert (await bob.error("onIceCandidate", {**candidate, "sdpMLineIndex": "0"}))["code"] == -1
    assert (await bob.error("unpublishVideo", {}))["code"] == 105
    assert (await bob.error("unsubscribeFromVideo", {"sender": "con_Nobody1234"}))["code"] == 102
    assert await bob.result("unsubscribeFromVideo", {"sender": a["id"]})
    assert await bob.result(
        "videoData", {"height": 480, "width": 640, "videoActive": True, "audioActive": True}
    )
    assert (await bob.error("videoData", {"height": 480}))["code"] == -1


async def test_moderator_only_force_methods(dev: Harness) -> None:
    sid = await dev.session("Moderated")
    alice, a = await dev.join(sid)
    mod, m = await dev.join(sid, role="MODERATOR")
    err = await alice.error("forceDisconnect", {"connectionId": m["id"]})
    assert err["code"] == 401
    assert (await alice.error("forceUnpublish", {"streamId": "str_X"}))["code"] == 401
    assert (await mod.error("forceUnpublish", {"streamId": "str_X"}))["code"] == 105
    assert (await mod.error("forceDisconnect", {"connectionId": "con_Nobody1234"}))["code"] == 102
    await mod.result("forceDisconnect", {"connectionId": a["id"]})
    evicted = {"connectionId": a["id"], "reason": "forceDisconnectByUser"}
    assert await alice.notification("participantEvicted") == evicted
    assert await mod.notification("participantLeft") == evicted
    assert await mod.notification("participantEvicted") == evicted


async def test_session_id_inside_params_is_refused_with_803(dev: Harness) -> None:
    sid = await dev.session("StraySessionId")
    rpc, me = await dev.join(sid)
    err = await rpc.error("echo", {"sessionId": "0000000000000000000000000v"})
    assert err["code"] == 803
    # the socket keeps working, and the right id is harmless
    assert await rpc.result("echo", {"sessionId": me["sessionId"]})


async def test_media_server_option_is_announced_in_join_room() -> None:
    from tests.devserver.ds_harness import running

    async with running(media_server="mediasoup", version="2.22.1") as dev:
        sid = await dev.session("Mediasoup")
        _, me = await dev.join(sid)
        assert me["mediaServer"] == "mediasoup"
        assert me["version"] == "2.22.1"
