from __future__ import annotations

import pytest

from kiosk.calendar.links import find_session, server_host

HOST = "meet.example.org"


@pytest.mark.parametrize(
    ("text", "session", "kind"),
    [
        ("https://meet.example.org/#/daily", "daily", "this-server"),
        ("https://meet.example.org:4443/rooms/daily-2", "daily-2", "this-server"),
        ("see https://meet.example.org/join?sessionId=abc_1, thanks", "abc_1", "this-server"),
        ("https://meet.example.org/x?session=../../etc", None, "none"),
        ("https://meet.example.org/#/bad%20id", None, "none"),
        ("https://evil.example.com/#/daily", None, "other-server"),
        ("https://meet.example.org.evil.com/#/daily", None, "other-server"),
        ("https://user@evil.example.com/meet.example.org/daily", None, "other-server"),
        ("no link at all", None, "none"),
    ],
)
def test_links(text: str, session: str | None, kind: str) -> None:
    link = find_session(explicit=None, texts=[text], host=HOST)
    assert (link.session_id, link.kind) == (session, kind)


def test_explicit_property_wins_and_is_validated() -> None:
    assert find_session(explicit="room-1", texts=[], host=HOST).session_id == "room-1"
    bad = find_session(explicit="room 1; drop", texts=["https://meet.example.org/#/ok"], host=HOST)
    assert bad.session_id == "ok"


def test_server_host() -> None:
    assert server_host("https://Meet.Example.org.:4443") == "meet.example.org"
    assert server_host("https://[::1]:4443") == "::1"
