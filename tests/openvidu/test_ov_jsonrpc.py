from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.openvidu.jsonrpc import (
    MAX_FRAME_BYTES,
    ErrorResponse,
    JsonRpcProtocol,
    Malformed,
    Notification,
    Response,
    encode_error,
    encode_notification,
    encode_response,
)

SECRET_TOKEN = "wss://h?sessionId=S&token=tok_Zz9Yy8Xx7Ww6Vv5U"


def test_server_frames_from_the_shared_encoder_parse_on_the_client() -> None:
    # The dev server builds its frames with these encoders; the client must read them back.
    proto = JsonRpcProtocol()
    assert proto.parse(encode_response(4, {"value": "pong"})) == Response(4, {"value": "pong"})
    assert proto.parse(encode_response(5, "bye")) == Response(5, {"value": "bye"})
    assert proto.parse(encode_error(6, 401, "Token is not valid. Code: 401")) == ErrorResponse(
        6, 401, "Token is not valid. Code: 401"
    )
    assert proto.parse(encode_notification("participantLeft", {"reason": "x"})) == Notification(
        "participantLeft", {"reason": "x"}
    )
    assert json.loads(encode_error(None, -1, "m"))["jsonrpc"] == "2.0"


def test_ids_start_at_zero_and_count_up() -> None:
    proto = JsonRpcProtocol()
    first_id, first = proto.request("ping", {"interval": 5000})
    second_id, second = proto.request("ping", None)
    third_id, third = proto.request("joinRoom", {"token": "t"})
    assert (first_id, second_id, third_id) == (0, 1, 2)
    assert json.loads(first) == {
        "jsonrpc": "2.0",
        "method": "ping",
        "params": {"interval": 5000},
        "id": 0,
    }
    assert "params" not in json.loads(second)
    assert json.loads(third)["params"] == {"token": "t"}


def test_session_id_param_only_allowed_for_connect() -> None:
    proto = JsonRpcProtocol()
    proto.request("connect", {"sessionId": "x", "reconnect": True})
    try:
        proto.request("joinRoom", {"sessionId": "x"})
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("sessionId accepted in joinRoom params")


def test_parse_response_error_notification() -> None:
    proto = JsonRpcProtocol()
    assert proto.parse('{"id":1,"result":{"id":"con_A","sessionId":"r"},"jsonrpc":"2.0"}') == (
        Response(1, {"id": "con_A", "sessionId": "r"})
    )
    # non-object results are wrapped
    assert proto.parse('{"id":3,"result":"bye","jsonrpc":"2.0"}') == Response(3, {"value": "bye"})
    # errors tolerate extra members (data, sessionId, stray top-level data)
    frame = proto.parse(
        '{"id":2,"error":{"code":401,"message":"nope","data":"trace","sessionId":"r"},'
        '"data":{},"jsonrpc":"2.0"}'
    )
    assert frame == ErrorResponse(2, 401, "nope")
    assert proto.parse('{"id":null,"error":{"code":-1},"jsonrpc":"2.0"}') == ErrorResponse(
        None, -1, ""
    )
    assert proto.parse(b'{"method":"participantLeft","params":{"connectionId":"c"}}') == (
        Notification("participantLeft", {"connectionId": "c"})
    )
    assert proto.parse('{"method":"x","jsonrpc":"2.0"}') == Notification("x", {})


def test_malformed_frames() -> None:
    proto = JsonRpcProtocol()
    cases: list[str | bytes] = [
        "not json",
        b"\xff\xfe\x00garbage",
        "[1,2,3]",
        '[{"id":1,"result":{}}]',
        "42",
        '"str"',
        "null",
        '{"id":"1","result":{}}',
        '{"id":true,"result":{}}',
        '{"result":{}}',
        '{"id":1,"error":"bad"}',
        '{"id":1,"error":{"code":"401","message":"x"}}',
        '{"id":1,"error":{"code":401,"message":5}}',
        '{"method":5}',
        '{"method":""}',
        '{"method":"has space"}',
        '{"method":"' + "m" * 65 + '"}',
        '{"method":"m","params":[1]}',
        '{"method":"m","params":{},"id":4}',
        '{"jsonrpc":"2.0"}',
        '{"id":1,"result":NaN}',
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"id":1,"result":{"v":' + "9" * 10_000 + "}}",
        " " * (MAX_FRAME_BYTES + 1),
        b"{" * (MAX_FRAME_BYTES + 1),
    ]
    for data in cases:
        frame = proto.parse(data)
        assert isinstance(frame, Malformed), (data[:40], frame)


def test_malformed_reason_never_contains_frame_text() -> None:
    proto = JsonRpcProtocol()
    for data in (
        f'{{"id":"{SECRET_TOKEN}","result":{{}}}}',
        f'{{"method":"m","params":"{SECRET_TOKEN}"}}',
        f'{{"method":"{SECRET_TOKEN}","params":{{}}}}',
        '{"method":"tok_Zz9Yy8Xx7Ww6Vv5U","params":{},"id":1}',
        f"{SECRET_TOKEN} not json",
        f'["{SECRET_TOKEN}"]',
    ):
        frame = proto.parse(data)
        assert isinstance(frame, Malformed)
        assert "tok_" not in frame.reason


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_parse_never_raises_on_text(text: str) -> None:
    JsonRpcProtocol().parse(text)


@settings(max_examples=150, deadline=None)
@given(st.binary())
def test_parse_never_raises_on_bytes(data: bytes) -> None:
    JsonRpcProtocol().parse(data)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_parse_never_raises_on_json_values(value: Any) -> None:
    frame = JsonRpcProtocol().parse(json.dumps(value))
    assert isinstance(frame, Response | ErrorResponse | Notification | Malformed)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "id": json_values,
            "result": json_values,
            "error": json_values | st.fixed_dictionaries({"code": json_values}),
            "method": json_values | st.text(),
            "params": json_values,
            "jsonrpc": json_values,
        },
    )
)
def test_parse_never_raises_on_rpc_like_objects(value: dict[str, Any]) -> None:
    frame = JsonRpcProtocol().parse(json.dumps(value))
    if isinstance(frame, Response):
        assert isinstance(frame.result, dict) and isinstance(frame.id, int)
    if isinstance(frame, ErrorResponse):
        assert isinstance(frame.code, int) and isinstance(frame.message, str)
    if isinstance(frame, Notification):
        assert isinstance(frame.params, dict) and isinstance(frame.method, str)
