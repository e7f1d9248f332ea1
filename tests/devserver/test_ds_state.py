"""Pure state of the dev server: id formats, metadata, tokens (kiosk.devserver.state)."""

from __future__ import annotations

import re

import pytest

from kiosk.devserver.state import (
    ServerState,
    StateError,
    full_metadata,
    new_connection_id,
    new_rpc_session_id,
    new_session_id,
    new_stream_id,
    new_token_value,
)


def test_identifier_formats() -> None:
    for _ in range(50):
        assert re.fullmatch(r"ses_[A-Z][A-Za-z0-9]{9}", new_session_id())
        assert re.fullmatch(r"con_[A-Z][A-Za-z0-9]{9}", new_connection_id())
        assert re.fullmatch(r"tok_[A-Z][A-Za-z0-9]{15}", new_token_value())
        assert re.fullmatch(r"[0-9a-v]{26}", new_rpc_session_id())
    con = "con_Kq3ZpWm8Tn"
    assert re.fullmatch(rf"str_CAM_[A-Z][A-Za-z0-9]{{3}}_{con}", new_stream_id(con, True, "CAMERA"))
    assert new_stream_id(con, True, "SCREEN").startswith("str_SCR_")
    assert new_stream_id(con, True, "CUSTOM").startswith("str_CUS_")
    assert new_stream_id(con, False, None).startswith("str_MIC_")
    assert len({new_rpc_session_id() for _ in range(100)}) == 100


def test_full_metadata_combination() -> None:
    assert full_metadata('{"clientData":"A"}', "srv") == '{"clientData":"A"}%/%srv'
    assert full_metadata("", "srv") == "srv"
    assert full_metadata("cli", "") == "cli"
    assert full_metadata("", "") == ""


def test_tokens_are_bound_to_their_session_and_single_use() -> None:
    state = ServerState(ws_base="wss://localhost:4443")
    state.create_session("A")
    state.create_session("B")
    conn = state.create_connection("A")
    assert conn.token.startswith("wss://localhost:4443?sessionId=A&token=tok_")
    with pytest.raises(StateError) as info:
        state.consume_token("B", conn.token)
    assert info.value.kind == "bad_token"
    found = state.consume_token("A", conn.token)
    state.activate(found, client_data="", platform="p", ip=None)
    with pytest.raises(StateError):
        state.consume_token("A", conn.token)
    with pytest.raises(StateError) as info:
        state.consume_token("Nope", conn.token)
    assert info.value.kind == "not_found"


def test_duplicate_custom_session_and_codec_resolution() -> None:
    state = ServerState(ws_base="ws://x", default_codec="VP8")
    s = state.create_session("Room", forced_video_codec="MEDIA_SERVER_PREFERRED")
    assert s.forced_video_codec_resolved == "VP8"
    assert state.create_session("", forced_video_codec="H264").forced_video_codec_resolved == "H264"
    with pytest.raises(StateError) as info:
        state.create_session("Room")
    assert info.value.kind == "conflict"
