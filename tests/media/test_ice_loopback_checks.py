"""Loopback mode rejects connectivity checks from non-loopback addresses (issue 15, item 10):
a browser on this machine sends checks from its LAN address too, and aioice would learn that
address as a peer-reflexive candidate. No packet leaves the process: the check is handed to
the ICE agent as its socket would hand it over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aioice.ice
import pytest
from aioice import stun

from kiosk.media import ice


class RecordingProtocol:
    def __init__(self, local_candidate: Any) -> None:
        self.local_candidate = local_candidate
        self.sent: list[tuple[stun.Message, tuple[str, int]]] = []

    def send_stun(self, message: stun.Message, addr: tuple[str, int]) -> None:
        self.sent.append((message, addr))


@pytest.fixture()
def loopback() -> Iterator[None]:
    before = ice.current()
    ice.install(ice.IceSettings.loopback())
    try:
        yield
    finally:
        ice.install(before)


def check_from(conn: aioice.ice.Connection, remote_username: str) -> stun.Message:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = f"{conn.local_username}:{remote_username}"
    request.attributes["PRIORITY"] = 1853817087
    request.attributes["ICE-CONTROLLING"] = 12345
    request.add_message_integrity(conn.local_password.encode("utf8"))
    request.add_fingerprint()
    return request


async def test_checks_from_a_lan_address_are_dropped_in_loopback_mode(loopback: None) -> None:
    conn = aioice.ice.Connection(ice_controlling=False)
    await conn.gather_candidates()
    try:
        assert [c.host for c in conn.local_candidates] == ["127.0.0.1"]
        conn.remote_username, conn.remote_password = "peer", "peer-password-0123456789"
        recorder = RecordingProtocol(conn.local_candidates[0])
        protocol: Any = recorder  # stands in for aioice's StunProtocol (send_stun only)
        conn.request_received(check_from(conn, "peer"), ("192.168.1.23", 50000), protocol)
        assert recorder.sent == []
        assert [c.type for c in conn.remote_candidates] == []
        # the same check from loopback is answered
        conn.request_received(check_from(conn, "peer"), ("127.0.0.1", 50001), protocol)
        assert [addr for _, addr in recorder.sent][:1] == [("127.0.0.1", 50001)]
    finally:
        await conn.close()


async def test_outside_loopback_mode_aioice_answers_as_before() -> None:
    before = ice.current()
    ice.install(ice.IceSettings())
    try:
        assert aioice.ice.Connection.request_received is ice._ORIGINAL_REQUEST_RECEIVED
    finally:
        ice.install(before)
