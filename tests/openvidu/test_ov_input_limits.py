"""Names, signal texts and ids are cut where they are parsed (issue 12, docs/reliability.md)."""

from __future__ import annotations

import json

from kiosk.openvidu.events import (
    MAX_ID_CHARS,
    MAX_METADATA_CHARS,
    MAX_NAME_CHARS,
    MAX_SIGNAL_CHARS,
    ParticipantJoined,
    SignalReceived,
    bounded_metadata,
    parse_notification,
)
from kiosk.openvidu.jsonrpc import Notification
from kiosk.openvidu.session_model import SessionModel, display_name_from_metadata

HUGE = "Z" * 500_000


def _joined(metadata: str) -> ParticipantJoined:
    event = parse_notification(
        Notification("participantJoined", {"id": "con_x", "createdAt": 1, "metadata": metadata})
    )
    assert isinstance(event, ParticipantJoined)
    return event


def test_a_500000_character_name_is_kept_cut_to_the_documented_length() -> None:
    event = _joined(json.dumps({"clientData": HUGE}) + "%/%" + "S" * 100_000)
    assert len(event.metadata) <= MAX_METADATA_CHARS
    model = SessionModel()
    model.apply(event)
    name = model.name_of("con_x")
    assert len(name) == MAX_NAME_CHARS and name.startswith("ZZZ") and name.endswith("…")


def test_a_short_name_and_its_metadata_are_untouched() -> None:
    meta = json.dumps({"clientData": "Ana"}) + '%/%{"role":"x"}'
    assert bounded_metadata(meta) == meta
    assert display_name_from_metadata(_joined(meta).metadata) == "Ana"


def test_a_raw_text_name_and_the_join_result_are_cut_too() -> None:
    assert len(display_name_from_metadata(HUGE)) == MAX_NAME_CHARS
    model = SessionModel()
    model.load_join_result(
        {"id": "me", "value": [{"id": "con_y", "metadata": json.dumps({"clientData": HUGE})}]}
    )
    assert len(model.name_of("con_y")) == MAX_NAME_CHARS
    assert len(model.participants["con_y"].metadata) <= MAX_METADATA_CHARS


def test_signal_text_is_cut_and_overlong_ids_are_a_bad_shape() -> None:
    event = parse_notification(
        Notification("sendMessage", {"type": "signal:chat", "data": HUGE, "from": "con_x"})
    )
    assert isinstance(event, SignalReceived) and len(event.data) == MAX_SIGNAL_CHARS
    long_id = "c" * (MAX_ID_CHARS + 1)
    assert parse_notification(Notification("participantJoined", {"id": long_id})) is None
    assert parse_notification(Notification("sendMessage", {"data": "hi", "from": long_id})) is None
