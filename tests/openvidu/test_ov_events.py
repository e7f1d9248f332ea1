from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.openvidu.events import (
    IceCandidateReceived,
    MediaErrorReceived,
    ParticipantEvicted,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantUnpublished,
    RecordingChanged,
    SignalReceived,
    StreamInfo,
    StreamPropertyChanged,
    UnknownNotification,
    parse_notification,
)
from kiosk.openvidu.jsonrpc import Notification

STREAM = {
    "id": "str_CAM_Rt4k_con_Zb2Yc7Hd0e",
    "createdAt": 1650290011500,
    "hasAudio": True,
    "hasVideo": True,
    "audioActive": True,
    "videoActive": False,
    "typeOfVideo": "CAMERA",
    "frameRate": 30,
    "videoDimensions": '{"width":640,"height":480}',
    "filter": {},
}


def parse(method: str, params: dict[str, Any]) -> Any:
    return parse_notification(Notification(method, params))


def test_participant_joined_tolerates_absent_members() -> None:
    assert parse("participantJoined", {"id": "con_A", "createdAt": 5, "metadata": "m"}) == (
        ParticipantJoined("con_A", 5, "m")
    )
    assert parse("participantJoined", {"id": "con_A", "metadata": None}) == (
        ParticipantJoined("con_A", 0, "")
    )


def test_participant_published_full_stream() -> None:
    event = parse("participantPublished", {"id": "con_Zb2Yc7Hd0e", "streams": [STREAM]})
    assert event == ParticipantPublished(
        "con_Zb2Yc7Hd0e",
        StreamInfo(
            stream_id="str_CAM_Rt4k_con_Zb2Yc7Hd0e",
            created_at=1650290011500,
            has_audio=True,
            has_video=True,
            audio_active=True,
            video_active=False,
            type_of_video="CAMERA",
            frame_rate=30.0,
            video_dimensions=(640, 480),
        ),
    )


def test_audio_only_stream_with_absent_members() -> None:
    event = parse(
        "participantPublished",
        {"id": "con_B", "streams": [{"id": "str_MIC_Qa1b_con_B", "hasAudio": True}]},
    )
    assert isinstance(event, ParticipantPublished)
    stream = event.stream
    assert (stream.has_audio, stream.audio_active, stream.has_video, stream.video_active) == (
        True,
        True,
        False,
        False,
    )
    assert stream.type_of_video is None and stream.video_dimensions is None


def test_left_unpublished_evicted() -> None:
    assert parse("participantLeft", {"connectionId": "c", "reason": "disconnect"}) == (
        ParticipantLeft("c", "disconnect")
    )
    assert parse("participantUnpublished", {"connectionId": "c"}) == (
        ParticipantUnpublished("c", "")
    )
    assert parse("participantEvicted", {"connectionId": "c", "reason": None}) == (
        ParticipantEvicted("c", "")
    )


def test_stream_property_changed_decodes_new_value() -> None:
    base = {"connectionId": "c", "streamId": "s", "reason": "publishAudio"}
    event = parse("streamPropertyChanged", {**base, "property": "audioActive", "newValue": "false"})
    assert event == StreamPropertyChanged("c", "s", "audioActive", False, "publishAudio")
    event = parse("streamPropertyChanged", {**base, "property": "videoActive", "newValue": "true"})
    assert isinstance(event, StreamPropertyChanged) and event.new_value is True
    twice = '"{\\"width\\":1280,\\"height\\":720}"'
    event = parse(
        "streamPropertyChanged", {**base, "property": "videoDimensions", "newValue": twice}
    )
    assert isinstance(event, StreamPropertyChanged) and event.new_value == (1280, 720)
    event = parse(
        "streamPropertyChanged",
        {**base, "property": "filter", "newValue": {"type": "GStreamerFilter"}},
    )
    assert isinstance(event, StreamPropertyChanged) and event.new_value == {
        "type": "GStreamerFilter"
    }


def test_signal_prefix_stripped_and_server_signals_have_no_sender() -> None:
    assert parse("sendMessage", {"data": "hi", "type": "signal:chat", "from": "con_A"}) == (
        SignalReceived("chat", "hi", "con_A", "signal:chat")
    )
    assert parse("sendMessage", {}) == SignalReceived("signal", "", None, "signal")


def test_ice_candidate_and_misc() -> None:
    event = parse(
        "iceCandidate",
        {
            "senderConnectionId": "con_K",
            "endpointName": "con_Z_str_CAM_Ve8h_con_K",
            "sdpMLineIndex": 1,
            "sdpMid": "1",
            "candidate": "candidate:1 1 UDP 2015363327 192.168.1.20 23918 typ host",
        },
    )
    assert event == IceCandidateReceived(
        "con_K",
        "con_Z_str_CAM_Ve8h_con_K",
        "candidate:1 1 UDP 2015363327 192.168.1.20 23918 typ host",
        "1",
        1,
    )
    assert parse("mediaError", {"error": "boom"}) == MediaErrorReceived("boom")
    assert parse("recordingStopped", {"id": "r", "name": "n", "reason": "x"}) == (
        RecordingChanged(False, "r", "n", "x")
    )
    assert parse("networkQualityLevelChanged", {"newValue": 3}) == (
        UnknownNotification("networkQualityLevelChanged")
    )


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("participantJoined", {}),
        ("participantJoined", {"id": 5}),
        ("participantJoined", {"id": "c", "metadata": {"x": 1}}),
        ("participantJoined", {"id": "c", "createdAt": "soon"}),
        ("participantPublished", {"id": "c"}),
        ("participantPublished", {"id": "c", "streams": []}),
        ("participantPublished", {"id": "c", "streams": ["x"]}),
        ("participantPublished", {"id": "c", "streams": [{"hasAudio": True}]}),
        ("participantPublished", {"id": "c", "streams": [{"id": "s", "hasAudio": "yes"}]}),
        ("participantLeft", {"reason": "disconnect"}),
        ("streamPropertyChanged", {"connectionId": "c", "property": "audioActive"}),
        (
            "streamPropertyChanged",
            {"connectionId": "c", "property": "videoDimensions", "newValue": "garbage"},
        ),
        ("streamPropertyChanged", {"connectionId": "c", "property": "filter", "newValue": "x"}),
        ("sendMessage", {"from": 7}),
        ("iceCandidate", {"candidate": "c"}),
        ("iceCandidate", {"senderConnectionId": "c", "sdpMLineIndex": "zero"}),
    ],
)
def test_bad_shapes_give_none(method: str, params: dict[str, Any]) -> None:
    assert parse(method, params) is None


METHODS = [
    "participantJoined",
    "participantPublished",
    "participantUnpublished",
    "participantLeft",
    "participantEvicted",
    "streamPropertyChanged",
    "sendMessage",
    "iceCandidate",
    "mediaError",
    "recordingStarted",
    "recordingStopped",
    "somethingElse",
]
KEYS = [
    "id",
    "connectionId",
    "createdAt",
    "metadata",
    "streams",
    "reason",
    "streamId",
    "property",
    "newValue",
    "data",
    "type",
    "from",
    "senderConnectionId",
    "endpointName",
    "candidate",
    "sdpMid",
    "sdpMLineIndex",
    "error",
    "name",
]
values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["true", "false", '{"width":1,"height":2}', '"{\\"width\\":1}"']),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from([*KEYS, "hasAudio", "hasVideo"]), children, max_size=5)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(METHODS), st.dictionaries(st.sampled_from(KEYS), values, max_size=8))
def test_parse_notification_never_raises(method: str, params: dict[str, Any]) -> None:
    parse_notification(Notification(method, params))
