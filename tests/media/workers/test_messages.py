"""Main ⇄ worker messages: round trips, bounds, and one-line errors for bad input."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest

from kiosk.media.workers import messages as msg
from kiosk.media.workers.assign import least_loaded, resolve_count, restart_delay

pytestmark = pytest.mark.unit


def _body(frame: bytes) -> bytes:
    (size,) = struct.unpack(">I", frame[:4])
    assert size == len(frame) - 4
    return frame[4:]


@pytest.mark.parametrize(
    "message",
    [
        msg.Hello(0, ["127.0.0.1"], True, True, 1920, 1080),
        msg.Open(
            3,
            "str_X",
            True,
            True,
            "kurento",
            False,
            "kiosk-1-2",
            [msg.IceServerSpec(["turn:h:3478"], "u", "p")],
        ),
        msg.Open(4, "s", True, False, "mediasoup", True, None),
        msg.RemoteDescription(1, "v=0\r\n", "answer"),
        msg.RemoteCandidate(1, "candidate:1 1 UDP 1 127.0.0.1 5000 typ host", "0", 0),
        msg.RemoteCandidate(1, "", None, None),
        msg.Close(9),
        msg.Ready(1234),
        msg.LocalDescription(1, "v=0\r\n", "offer"),
        msg.Applied(2),
        msg.TrackStarted(2, "video"),
        msg.Failed(2, "setRemoteDescription: bad"),
        msg.Closed(2, 5),
        msg.Audio(7, 48000, 2, bytes(960 * 4)),
    ],
)
def test_every_message_survives_a_round_trip(message: msg.Message) -> None:
    assert msg.decode(_body(msg.encode(message))) == message


def _json(data: object) -> bytes:
    return b"J" + json.dumps(data).encode()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "unknown kind"),
        (b"Jnot json", "not JSON"),
        (_json([1]), "not a JSON object"),
        (_json({"t": "Nope"}), "unknown type"),
        (_json({"t": "Close"}), "field sub missing"),
        (_json({"t": "Close", "sub": -1}), "field sub"),
        (_json({"t": "Close", "sub": True}), "field sub"),
        (_json({"t": "Close", "sub": 1, "extra": 2}), "unexpected field"),
        (_json({"t": "TrackStarted", "sub": 1, "kind": "data"}), "not one of"),
        (_json({"t": "Failed", "sub": 1, "reason": "x" * 5000}), "at most"),
        (_json({"t": "LocalDescription", "sub": 1, "sdp": 5, "type": "offer"}), "field sdp"),
        (b"A\x00", "short header"),
        (b"A" + struct.pack(">IIBH", 1, 48000, 3, 1) + b"\0" * 6, "bad format"),
        (b"A" + struct.pack(">IIBH", 1, 48000, 2, 10) + b"\0" * 6, "does not match"),
    ],
)
def test_bad_messages_are_one_line_errors_that_do_not_quote_them(body: bytes, problem: str) -> None:
    with pytest.raises(msg.BadMessage, match=problem) as info:
        msg.decode(body)
    text = str(info.value)
    assert "\n" not in text and "xxxxxxxx" not in text


def test_a_secret_in_a_bad_message_is_never_in_the_error() -> None:
    body = _json(
        {
            "t": "Open",
            "sub": 1,
            "stream_id": "s",
            "has_audio": True,
            "has_video": True,
            "flow": "kurento",
            "video": True,
            "slot": None,
            "ice_servers": [{"urls": ["turn:x"], "username": "u", "credential": 7}],
        }
    )
    with pytest.raises(msg.BadMessage) as info:
        msg.decode(body)
    assert "turn:x" not in str(info.value)


def test_frames_over_the_bound_are_refused_on_both_ends() -> None:
    with pytest.raises(msg.BadMessage, match="too large"):
        msg.encode(msg.LocalDescription(1, "x" * (msg.MAX_FRAME + 1), "offer"))

    async def read(data: bytes) -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await msg.read_frame(reader)

    with pytest.raises(msg.BadMessage, match="out of bounds"):
        asyncio.run(read(struct.pack(">I", msg.MAX_FRAME + 1)))
    frame = msg.encode(msg.Close(1))
    assert msg.decode(asyncio.run(read(frame))) == msg.Close(1)
    with pytest.raises(asyncio.IncompleteReadError):
        asyncio.run(read(frame[:-1]))


def test_workers_auto_leaves_one_core_to_the_main_process() -> None:
    assert resolve_count("auto", 4) == 3
    assert resolve_count("auto", 8) == 4
    assert resolve_count("auto", 2) == 0
    assert resolve_count("auto", None) == 0
    assert resolve_count(0, 4) == 0
    assert resolve_count(2, 2) == 2
    assert resolve_count(50, 4) == 8


def test_a_subscription_goes_to_the_least_loaded_worker() -> None:
    assert least_loaded({}) is None
    assert least_loaded({0: 2, 1: 1, 2: 1}, ready={0, 1, 2}) == 1
    assert least_loaded({3: 0}) == 3
    # at the kiosk's start nobody is ready yet: the first subscriptions are shared out
    assert least_loaded({0: 1, 1: 0}) == 1
    assert least_loaded({0: 1, 1: 0}, ready={0}) == 1
    # on a tie the worker that is up goes first
    assert least_loaded({0: 1, 1: 1}, ready={1}) == 1


def test_a_stream_failing_over_goes_to_a_worker_that_is_up() -> None:
    # worker 1 was killed and is starting again; worker 0 (up) already has one stream
    assert least_loaded({0: 1, 1: 0}, ready={0}, restarting={1}) == 0
    # once it is up it takes its share again
    assert least_loaded({0: 2, 1: 0}, ready={0, 1}, restarting={1}) == 1
    # a restarting worker with much less load still gets the stream
    assert least_loaded({0: 3, 1: 0}, ready={0}, restarting={1}) == 1


def test_a_crashing_worker_is_restarted_ever_later_up_to_a_cap() -> None:
    delays = [restart_delay(n) for n in range(0, 10)]
    assert delays[0] == 0.0 and delays[1] == 0.5 and delays[2] == 1.0
    assert delays == sorted(delays) and max(delays) == 30.0
