"""REST API of the dev server (§1): statuses, bodies, auth, CORS."""

from __future__ import annotations

import re

import httpx

from tests.devserver.ds_harness import SECRET, Harness

API = "/openvidu/api"


async def test_wrong_or_missing_secret_gives_401_with_basic_challenge(dev: Harness) -> None:
    async with httpx.AsyncClient(base_url=dev.server.url) as anon:
        r = await anon.get(f"{API}/sessions")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="Realm"'
        r = await anon.get(f"{API}/config", auth=("OPENVIDUAPP", "wrong"))
        assert r.status_code == 401
        r = await anon.post(f"{API}/sessions", json={}, auth=("OTHER", SECRET))
        assert r.status_code == 401
        # the public URL is the one unauthenticated API path
        r = await anon.get(f"{API}/config/openvidu-publicurl")
        assert r.status_code == 200
        assert r.text == dev.server.url + "/"


async def test_cors_preflight_with_authorization_is_allowed(dev: Harness) -> None:
    async with httpx.AsyncClient(base_url=dev.server.url) as anon:
        r = await anon.options(
            f"{API}/sessions",
            headers={
                "Origin": "http://localhost:4200",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:4200"
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    r = await dev.http.get(f"{API}/sessions", headers={"Origin": "http://localhost:4200"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:4200"
    assert "Access-Control-Allow-Credentials" not in r.headers


async def test_cors_is_not_granted_to_pages_elsewhere(dev: Harness) -> None:
    for origin in ("https://evil.example", "http://192.168.1.9:8080", "null"):
        async with httpx.AsyncClient(base_url=dev.server.url) as anon:
            r = await anon.options(
                f"{API}/sessions",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
        assert "Access-Control-Allow-Origin" not in r.headers, origin
        r = await dev.http.get(f"{API}/sessions", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in r.headers, origin
    for origin in ("http://127.0.0.1:5173", "https://[::1]:4200"):
        r = await dev.http.get(f"{API}/sessions", headers={"Origin": origin})
        assert r.headers["Access-Control-Allow-Origin"] == origin


async def test_create_session_shapes_and_409_on_duplicate(dev: Harness) -> None:
    r = await dev.http.post(f"{API}/sessions", json={"customSessionId": "KioskRoom"})
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == body["sessionId"] == body["customSessionId"] == "KioskRoom"
    assert body["object"] == "session"
    assert body["mediaMode"] == "ROUTED" and body["recordingMode"] == "MANUAL"
    assert body["forcedVideoCodec"] == "MEDIA_SERVER_PREFERRED"
    assert body["forcedVideoCodecResolved"] == "VP8"
    assert body["recording"] is False and body["allowTranscoding"] is False
    assert body["defaultRecordingProperties"]["resolution"] == "1280x720"
    assert body["connections"] == {"numberOfElements": 0, "content": []}
    assert isinstance(body["createdAt"], int)

    r = await dev.http.post(f"{API}/sessions", json={"customSessionId": "KioskRoom"})
    assert r.status_code == 409
    assert r.content == b""

    r = await dev.http.post(f"{API}/sessions")  # no body at all: generated id
    assert r.status_code == 200
    assert re.fullmatch(r"ses_[A-Z][A-Za-z0-9]{9}", r.json()["id"])
    assert r.json()["customSessionId"] == ""


async def test_create_session_rejects_bad_input_with_error_json(dev: Harness) -> None:
    cases = [
        {"customSessionId": "bad id!"},
        {"customSessionId": 12},
        {"mediaMode": "MESH"},
        {"forcedVideoCodec": "AV1"},
        {"allowTranscoding": "yes"},
    ]
    for body in cases:
        r = await dev.http.post(f"{API}/sessions", json=body)
        assert r.status_code == 400, body
        err = r.json()
        assert set(err) == {"timestamp", "status", "error", "message", "path"}
        assert err["status"] == 400 and err["path"] == f"{API}/sessions"
    r = await dev.http.post(
        f"{API}/sessions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["status"] == 400


async def test_create_connection_pending_shape_and_token(dev: Harness) -> None:
    sid = await dev.session("Room1")
    r = await dev.http.post(
        f"{API}/sessions/{sid}/connection", json={"role": "MODERATOR", "data": "srv"}
    )
    assert r.status_code == 200
    c = r.json()
    assert re.fullmatch(r"con_[A-Z][A-Za-z0-9]{9}", c["id"])
    assert c["connectionId"] == c["id"] and c["object"] == "connection"
    assert c["status"] == "pending" and c["sessionId"] == sid
    assert c["role"] == "MODERATOR" and c["serverData"] == "srv" and c["record"] is True
    assert c["type"] == "WEBRTC" and c["customIceServers"] == []
    for key in (
        "activeAt",
        "location",
        "ip",
        "platform",
        "clientData",
        "publishers",
        "subscribers",
        "kurentoOptions",
        "rtspUri",
        "adaptativeBitrate",
        "onlyPlayWithSubscribers",
        "networkCache",
    ):
        assert key in c and c[key] is None, key
    port = dev.server.port
    assert re.fullmatch(
        rf"ws://127\.0\.0\.1:{port}\?sessionId=Room1&token=tok_[A-Z][A-Za-z0-9]{{15}}",
        c["token"],
    )
    # every call: a new connection and a new token
    c2 = (await dev.http.post(f"{API}/sessions/{sid}/connection", json={})).json()
    assert c2["id"] != c["id"] and c2["token"] != c["token"] and c2["role"] == "PUBLISHER"


async def test_create_connection_errors(dev: Harness) -> None:
    sid = await dev.session("Room2")
    r = await dev.http.post(f"{API}/sessions/Nope/connection", json={})
    assert r.status_code == 404
    for body in ({"role": "ADMIN"}, {"data": {"name": "x"}}, {"type": "SIP"}, {"record": "no"}):
        r = await dev.http.post(f"{API}/sessions/{sid}/connection", json=body)
        assert r.status_code == 400, body
        assert r.json()["status"] == 400
    r = await dev.http.post(f"{API}/sessions/{sid}/connection")  # 2.22: body required
    assert r.status_code == 400
    r = await dev.http.post(
        f"{API}/sessions/{sid}/connection",
        content=b"[1,",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400


async def test_get_sessions_and_connections(dev: Harness) -> None:
    sid = await dev.session("Room3")
    pending = await dev.token(sid)
    _rpc, joined = await dev.join(sid, '{"clientData":"Alice"}', data="srv")

    r = await dev.http.get(f"{API}/sessions")
    assert r.status_code == 200
    listing = r.json()
    assert listing["numberOfElements"] == 1
    # default pendingConnections=false: only the active connection
    conns = listing["content"][0]["connections"]
    assert [c["id"] for c in conns["content"]] == [joined["id"]]

    r = await dev.http.get(f"{API}/sessions/{sid}", params={"pendingConnections": "true"})
    assert r.json()["connections"]["numberOfElements"] == 2

    r = await dev.http.get(f"{API}/sessions/{sid}/connection")  # default: pending included
    assert r.status_code == 200
    assert {c["id"] for c in r.json()["content"]} == {pending["id"], joined["id"]}

    r = await dev.http.get(f"{API}/sessions/{sid}/connection/{joined['id']}")
    active = r.json()
    assert active["status"] == "active"
    assert active["clientData"] == '{"clientData":"Alice"}' and active["serverData"] == "srv"
    assert active["platform"] == "pytest raw client"
    assert active["location"] == "unknown" and active["ip"] == "127.0.0.1"
    assert isinstance(active["activeAt"], int)
    assert active["publishers"] == [] and active["subscribers"] == []

    assert (await dev.http.get(f"{API}/sessions/Nope")).status_code == 404
    assert (await dev.http.get(f"{API}/sessions/Nope/connection")).status_code == 404
    assert (await dev.http.get(f"{API}/sessions/Nope/connection/con_X")).status_code == 400
    assert (await dev.http.get(f"{API}/sessions/{sid}/connection/con_X")).status_code == 404


async def test_delete_pending_connection_kills_its_token(dev: Harness) -> None:
    sid = await dev.session("Room4")
    conn = await dev.token(sid)
    r = await dev.http.delete(f"{API}/sessions/{sid}/connection/{conn['id']}")
    assert r.status_code == 204 and r.content == b""
    assert (
        await dev.http.delete(f"{API}/sessions/{sid}/connection/{conn['id']}")
    ).status_code == 404
    assert (
        await dev.http.delete(f"{API}/sessions/Nope/connection/{conn['id']}")
    ).status_code == 400
    rpc = await dev.client()
    from tests.devserver.ds_harness import join_params

    err = await rpc.error("joinRoom", join_params(conn["token"], sid))
    assert err["code"] == 401


async def test_delete_session_and_stream_statuses(dev: Harness) -> None:
    sid = await dev.session("Room5")
    assert (
        await dev.http.delete(f"{API}/sessions/{sid}/stream/str_CAM_Abcd_con_X")
    ).status_code == 404
    assert (await dev.http.delete(f"{API}/sessions/Nope/stream/str_X")).status_code == 400
    assert (await dev.http.delete(f"{API}/sessions/{sid}")).status_code == 204
    assert (await dev.http.get(f"{API}/sessions/{sid}")).status_code == 404
    assert (await dev.http.delete(f"{API}/sessions/{sid}")).status_code == 404
    # the same custom id can be created again
    assert (
        await dev.http.post(f"{API}/sessions", json={"customSessionId": sid})
    ).status_code == 200


async def test_config_version_and_accept_certificate(dev: Harness) -> None:
    r = await dev.http.get(f"{API}/config")
    assert r.status_code == 200
    cfg = r.json()
    assert cfg["VERSION"] == "2.22.0"
    assert cfg["OPENVIDU_PUBLICURL"] == dev.server.url
    assert cfg["HTTPS_PORT"] == dev.server.port
    r = await dev.http.get(f"{API}/config/openvidu-version")
    assert r.status_code == 200 and r.text == "2.22.0"
    async with httpx.AsyncClient(base_url=dev.server.url) as anon:
        r = await anon.get("/openvidu/accept-certificate")
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]


async def test_signal_endpoint_validation(dev: Harness) -> None:
    sid = await dev.session("Room6")
    r = await dev.http.post(f"{API}/signal", json={"session": sid})
    assert r.status_code == 406  # nobody joined yet
    r = await dev.http.post(f"{API}/signal", json={"data": "x"})
    assert r.status_code == 400
    r = await dev.http.post(f"{API}/signal", json={"session": sid, "to": "con_x"})
    assert r.status_code == 400
    r = await dev.http.post(f"{API}/signal", json={"session": "Nope"})
    assert r.status_code == 404
    rpc, me = await dev.join(sid)
    r = await dev.http.post(f"{API}/signal", json={"session": sid, "to": ["con_Unknown123"]})
    assert r.status_code == 406
    r = await dev.http.post(
        f"{API}/signal",
        json={"session": sid, "to": [me["id"]], "type": "signal:kiosk", "data": "reload"},
    )
    assert r.status_code == 200 and r.content == b""
    msg = await rpc.notification("sendMessage")
    assert msg == {"type": "signal:kiosk", "data": "reload"}  # no "from"


async def test_deprecated_tokens_endpoint(dev: Harness) -> None:
    sid = await dev.session("Room7")
    r = await dev.http.post(f"{API}/tokens", json={"session": sid, "role": "SUBSCRIBER"})
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == body["token"] and body["role"] == "SUBSCRIBER"
    assert body["connectionId"].startswith("con_")
    assert (await dev.http.post(f"{API}/tokens", json={"session": "Nope"})).status_code == 404
    assert (await dev.http.post(f"{API}/tokens", json={})).status_code == 400
