from __future__ import annotations

from typing import Any

from kiosk.openvidu.events import (
    ParticipantEvicted,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantUnpublished,
    StreamInfo,
    StreamPropertyChanged,
)
from kiosk.openvidu.session_model import SessionModel, display_name_from_metadata


def stream(stream_id: str) -> StreamInfo:
    return StreamInfo(stream_id, 1, True, True, True, True, "CAMERA", 30.0, (640, 480))


JOIN_RESULT: dict[str, Any] = {
    "id": "con_Self",
    "createdAt": 1650290010000,
    "metadata": '{"clientData":"Kiosk-Lobby"}',
    "value": [
        {
            "id": "con_Alice",
            "createdAt": 1650290002000,
            "metadata": '{"clientData":"Alice"}',
            "streams": [
                {
                    "id": "str_CAM_Ve8h_con_Alice",
                    "createdAt": 1650290003000,
                    "hasAudio": True,
                    "hasVideo": True,
                    "videoDimensions": '{"width":640,"height":480}',
                }
            ],
        },
        {"id": "con_Bob", "createdAt": 3, "metadata": 'Bob%/%{"room":"x"}'},
        "garbage",
        {"id": 7},
    ],
    "session": "KioskRoom",
    "role": "PUBLISHER",
    "sessionId": "rpc",
}


def test_display_name_rule() -> None:
    assert display_name_from_metadata('{"clientData":"Alice"}') == "Alice"
    assert display_name_from_metadata('{"clientData":"Alice"}%/%{"server":1}') == "Alice"
    assert display_name_from_metadata('{"clientData":"A%/%B"}') == '{"clientData":"A'
    assert display_name_from_metadata("Bob%/%server data") == "Bob"
    assert display_name_from_metadata('{"clientData":{"name":"x"}}') == (
        '{"clientData":{"name":"x"}}'
    )
    assert display_name_from_metadata('"just a json string"') == '"just a json string"'
    assert display_name_from_metadata("") == ""
    assert display_name_from_metadata("%/%server only") == ""


def test_load_join_result() -> None:
    model = SessionModel()
    changes = model.load_join_result(JOIN_RESULT)
    assert model.own_connection_id == "con_Self"
    assert model.own_display_name == "Kiosk-Lobby"
    assert set(model.participants) == {"con_Alice", "con_Bob"}
    alice = model.participants["con_Alice"]
    assert alice.display_name == "Alice" and alice.stream is not None
    assert alice.stream.video_dimensions == (640, 480)
    assert model.participants["con_Bob"].display_name == "Bob"
    assert model.participants["con_Bob"].stream is None
    assert [(c.kind, c.display_name) for c in changes] == [
        ("joined", "Alice"),
        ("published", "Alice"),
        ("joined", "Bob"),
    ]


def test_lifecycle_changes_for_toasts() -> None:
    model = SessionModel()
    model.load_join_result(JOIN_RESULT)
    changes = model.apply(ParticipantJoined("con_Carol", 9, '{"clientData":"Carol"}'))
    assert [(c.kind, c.display_name) for c in changes] == [("joined", "Carol")]
    assert model.apply(ParticipantJoined("con_Carol", 9, '{"clientData":"Carol"}')) == []

    changes = model.apply(ParticipantPublished("con_Carol", stream("str_CAM_1_con_Carol")))
    assert [c.kind for c in changes] == ["published"]
    # a duplicate announcement of the same stream (join/publish race) is not a new stream
    assert model.apply(ParticipantPublished("con_Carol", stream("str_CAM_1_con_Carol"))) == []

    changes = model.apply(
        StreamPropertyChanged("con_Carol", "str_CAM_1_con_Carol", "audioActive", False, "m")
    )
    assert [c.kind for c in changes] == ["stream_changed"]
    carol_stream = model.participants["con_Carol"].stream
    assert carol_stream is not None and carol_stream.audio_active is False
    model.apply(
        StreamPropertyChanged(
            "con_Carol", "str_CAM_1_con_Carol", "videoDimensions", (1280, 720), ""
        )
    )
    carol_stream = model.participants["con_Carol"].stream
    assert carol_stream is not None and carol_stream.video_dimensions == (1280, 720)

    changes = model.apply(ParticipantUnpublished("con_Carol", "unpublish"))
    assert [(c.kind, c.reason) for c in changes] == [("unpublished", "unpublish")]
    assert model.participants["con_Carol"].stream is None

    changes = model.apply(ParticipantLeft("con_Carol", "disconnect"))
    assert [(c.kind, c.display_name, c.reason) for c in changes] == [
        ("left", "Carol", "disconnect")
    ]
    assert "con_Carol" not in model.participants


def test_eviction_reported_once_and_self_eviction() -> None:
    model = SessionModel()
    model.load_join_result(JOIN_RESULT)
    first = model.apply(ParticipantLeft("con_Bob", "networkDisconnect"))
    second = model.apply(ParticipantEvicted("con_Bob", "networkDisconnect"))
    assert [c.kind for c in first] == ["left"] and second == []
    # evicted without participantLeft (still removed)
    assert [c.kind for c in model.apply(ParticipantEvicted("con_Alice", "x"))] == ["left"]
    changes = model.apply(ParticipantEvicted("con_Self", "forceDisconnectByServer"))
    assert [(c.kind, c.reason) for c in changes] == [("self_evicted", "forceDisconnectByServer")]
    assert model.evicted
    assert model.apply(ParticipantEvicted("con_Self", "forceDisconnectByServer")) == []


def test_published_before_joined_and_own_events() -> None:
    model = SessionModel()
    model.load_join_result(JOIN_RESULT)
    changes = model.apply(ParticipantPublished("con_Dave", stream("str_CAM_2_con_Dave")))
    assert [c.kind for c in changes] == ["joined", "published"]
    changes = model.apply(ParticipantJoined("con_Dave", 1, '{"clientData":"Dave"}'))
    assert changes == []
    assert model.participants["con_Dave"].display_name == "Dave"
    assert model.participants["con_Dave"].stream is not None
    # our own id never becomes a remote participant
    assert model.apply(ParticipantJoined("con_Self", 1, "")) == []
    model.set_own_stream("str_CAM_3_con_Self")
    changes = model.apply(ParticipantUnpublished("con_Self", "forceUnpublishByServer"))
    assert [c.kind for c in changes] == ["self_unpublished"]
    assert model.own_stream_id is None
    assert "con_Self" not in model.participants


def test_ice_servers_from_join_like_the_browser() -> None:
    """customIceServers win; else the coturn entry (IPv6 bracketed); credentials never logged."""
    from kiosk.media.ice import IceSettings, rtc_ice_servers
    from kiosk.openvidu.client import ice_servers_from_join
    from kiosk.redact import redact

    coturn = {
        "coturnIp": "192.168.1.20",
        "coturnPort": 3478,
        "turnUsername": "1650376410:Ab3dEf9h",
        "turnCredential": "mW8rYb2c5pQ1kL0sV3nX7tZ4hJ8=",
    }
    (server,) = ice_servers_from_join(coturn)
    assert server.urls == ("turn:192.168.1.20:3478",) and server.username == "1650376410:Ab3dEf9h"
    assert "mW8rYb2c5pQ1kL0sV3nX7tZ4hJ8=" not in redact("cred mW8rYb2c5pQ1kL0sV3nX7tZ4hJ8=")
    (v6,) = ice_servers_from_join({**coturn, "coturnIp": "2001:db8::7"})
    assert v6.urls == ("turn:[2001:db8::7]:3478",)
    custom = {
        **coturn,
        "customIceServers": [
            {"url": "turns:turn.example.org:443", "username": "u", "credential": "pass-word-1"},
            {"url": "stun:stun.example.org:3478"},
        ],
    }
    servers = ice_servers_from_join(custom)
    assert [s.urls for s in servers] == [
        ("turns:turn.example.org:443",),
        ("stun:stun.example.org:3478",),
    ]
    assert servers[1].username is None
    assert ice_servers_from_join({"coturnIp": "10.0.0.1", "coturnPort": 3478}) == ()
    rtc = rtc_ice_servers(servers, IceSettings())
    assert [s.urls for s in rtc] == [["turns:turn.example.org:443"], ["stun:stun.example.org:3478"]]
    assert rtc[0].credential == "pass-word-1"
    assert rtc_ice_servers(servers, IceSettings.loopback()) == []  # loopback: no STUN/TURN at all
