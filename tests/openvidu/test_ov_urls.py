from __future__ import annotations

import pytest

from kiosk.errors import InvalidToken, KioskError
from kiosk.openvidu.urls import parse_host_override, parse_token

TOKEN = "wss://localhost:4443?sessionId=KioskRoom&token=tok_F5aGx0LqRz7cVbN2"


def test_standard_token() -> None:
    info = parse_token(TOKEN)
    assert info.session_id == "KioskRoom"
    assert info.ws_url == "wss://localhost:4443/openvidu?sessionId=KioskRoom"


def test_plain_ws_token_keeps_scheme_and_drops_path_and_other_params() -> None:
    info = parse_token("ws://127.0.0.1:8080/some/path?sessionId=a-b_c&token=tok_X&edition=pro")
    assert info.ws_url == "ws://127.0.0.1:8080/openvidu?sessionId=a-b_c"


def test_token_without_port_and_ipv6() -> None:
    assert parse_token("wss://example.org?sessionId=S&token=tok_A").ws_url == (
        "wss://example.org/openvidu?sessionId=S"
    )
    assert parse_token("wss://[::1]:4443?sessionId=S&token=tok_A").ws_url == (
        "wss://[::1]:4443/openvidu?sessionId=S"
    )


def test_session_id_is_url_decoded_then_quoted() -> None:
    info = parse_token("wss://h?sessionId=Room%201&token=tok_A")
    assert info.session_id == "Room 1"
    assert info.ws_url.endswith("?sessionId=Room%201")


def test_host_override_replaces_only_the_host() -> None:
    info = parse_token(TOKEN, "10.0.0.5:4443")
    assert info.ws_url == "wss://10.0.0.5:4443/openvidu?sessionId=KioskRoom"
    assert parse_token(TOKEN, "openvidu.lan").ws_url == (
        "wss://openvidu.lan/openvidu?sessionId=KioskRoom"
    )


@pytest.mark.parametrize("override", ["", "http://x", "x:notaport", "a b", "x/y", ":443"])
def test_bad_host_override(override: str) -> None:
    with pytest.raises(InvalidToken):
        parse_host_override(override)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "tok_F5aGx0LqRz7cVbN2",
        "https://localhost:4443?sessionId=KioskRoom&token=tok_F5aGx0LqRz7cVbN2",
        "wss://localhost:4443?token=tok_F5aGx0LqRz7cVbN2",
        "wss://localhost:4443?sessionId=&token=tok_F5aGx0LqRz7cVbN2",
        "wss://?sessionId=KioskRoom&token=tok_F5aGx0LqRz7cVbN2",
        "wss://localhost:99999?sessionId=KioskRoom&token=tok_F5aGx0LqRz7cVbN2",
        " wss://localhost:4443?sessionId=KioskRoom&token=tok_F5aGx0LqRz7cVbN2",
    ],
)
def test_bad_tokens_are_rejected_without_quoting_them(token: str) -> None:
    with pytest.raises(KioskError) as info:
        parse_token(token)
    assert isinstance(info.value, InvalidToken)
    message = str(info.value)
    assert "not an OpenVidu token" in message
    assert "tok_F5aGx0LqRz7cVbN2" not in message
    assert "\n" not in message
    assert info.value.retry_after_hint == "long"


# --- where the call goes (issue 18 item 1) ----------------------------------------------------

from kiosk.openvidu.urls import SignalingPolicy  # noqa: E402

HTTPS = SignalingPolicy("https://openvidu.example.org:4443")


def test_https_server_refuses_a_token_asking_for_plain_ws() -> None:
    token = "ws://openvidu.example.org:4443?sessionId=R&token=tok_ABCDEFGH"
    with pytest.raises(InvalidToken, match="unencrypted") as caught:
        parse_token(token, policy=HTTPS)
    assert "tok_" not in str(caught.value)
    # a plain-HTTP server (a dev server on this machine) keeps ws
    local = SignalingPolicy("http://127.0.0.1:4443")
    assert parse_token("ws://127.0.0.1:4443?sessionId=R&token=tok_A", policy=local).ws_url == (
        "ws://127.0.0.1:4443/openvidu?sessionId=R"
    )


def test_token_host_must_be_the_servers_unless_allowed() -> None:
    elsewhere = "wss://attacker.example.net:443?sessionId=R&token=tok_ABCDEFGH"
    with pytest.raises(InvalidToken, match=r"attacker\.example\.net") as caught:
        parse_token(elsewhere, policy=HTTPS)
    assert "allow_token_hosts" in str(caught.value) and "tok_" not in str(caught.value)
    allowed = SignalingPolicy(HTTPS.server_url, allow_token_hosts=("Attacker.Example.NET",))
    assert parse_token(elsewhere, policy=allowed).ws_url.startswith(
        "wss://attacker.example.net:443/openvidu"
    )
    same_host = "wss://OPENVIDU.example.org?sessionId=R&token=tok_A"  # case, port may differ
    assert parse_token(same_host, policy=HTTPS).ws_url == (
        "wss://openvidu.example.org/openvidu?sessionId=R"
    )


def test_websocket_host_override_decides_host_and_scheme() -> None:
    elsewhere_ws = "ws://attacker.example.net?sessionId=R&token=tok_A"
    # with an override the token's host and scheme are not used: wss for an https server.url
    info = parse_token(elsewhere_ws, "openvidu.lan:4443", HTTPS)
    assert info.ws_url == "wss://openvidu.lan:4443/openvidu?sessionId=R"
    # an explicit scheme in the override is the admin's choice
    assert parse_token(TOKEN, "ws://10.0.0.5:8080", HTTPS).ws_url == (
        "ws://10.0.0.5:8080/openvidu?sessionId=KioskRoom"
    )
    assert parse_token(elsewhere_ws, "wss://[::1]:4443/").ws_url == (
        "wss://[::1]:4443/openvidu?sessionId=R"
    )
    with pytest.raises(InvalidToken, match="scheme"):
        parse_token(TOKEN, "https://openvidu.lan", HTTPS)
