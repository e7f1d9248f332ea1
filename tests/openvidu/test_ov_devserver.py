"""The OpenVidu client against the project's dev server (plain HTTP/WS on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from kiosk.devserver.server import DevServer, DevServerOptions
from kiosk.errors import AuthenticationFailed, RpcError, TlsUntrusted
from kiosk.openvidu.client import (
    ConnectionLost,
    ConnectionResumed,
    OpenViduClient,
    RosterChanged,
)
from kiosk.openvidu.events import ParticipantLeft, SignalReceived
from kiosk.openvidu.signaling import SignalingTimeouts
from kiosk.openvidu.tls import make_ssl_context
from kiosk.openvidu.tokens import RestTokenProvider
from kiosk.openvidu.urls import parse_token
from kiosk.testing.waits import next_event

SECRET = "Dev-Secret-123"
ROOM = "DevRoom"


class RecordingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that remembers (method, path, status) of every exchange."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.log: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.log.append((request.method, request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def server() -> AsyncIterator[DevServer]:
    srv = DevServer(DevServerOptions(port=0, tls=False, secret=SECRET, grace_seconds=0.5))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def provider(srv: DevServer, secret: str = SECRET, **kwargs: Any) -> RestTokenProvider:
    return RestTokenProvider(srv.url, secret, ROOM, timeout=5.0, **kwargs)


def client(name: str, **kwargs: Any) -> OpenViduClient:
    options: dict[str, Any] = {
        "ssl_context": None,
        "timeouts": SignalingTimeouts(ping_interval=0.3, ping_timeout=2.0, request_timeout=5.0),
    }
    options.update(kwargs)
    return OpenViduClient(name, **options)


async def roster(c: OpenViduClient, kind: str, within: float = 5.0) -> Any:
    async with asyncio.timeout(within):
        while True:
            event = await next_event(c, RosterChanged, within)
            for change in event.changes:
                if change.kind == kind:
                    return change


async def test_two_clients_see_each_other_join_and_leave(server: DevServer) -> None:
    alice, bob = client("Alice"), client("Bob")
    tokens = provider(server)
    a = await alice.join(await tokens.get_token())
    try:
        assert a.session_id == ROOM and a.role == "PUBLISHER" and a.rpc_session_id
        assert alice.model.participants == {}
        b = await bob.join(await tokens.get_token())
        try:
            assert b.connection_id != a.connection_id
            assert bob.model.participants[a.connection_id].display_name == "Alice"
            joined = await roster(alice, "joined")
            assert (joined.connection_id, joined.display_name) == (b.connection_id, "Bob")
            assert alice.model.participants[b.connection_id].display_name == "Bob"
        finally:
            await bob.leave()
        left = await next_event(alice, ParticipantLeft)
        assert (left.connection_id, left.reason) == (b.connection_id, "disconnect")
        assert b.connection_id not in alice.model.participants
    finally:
        await alice.leave()


async def test_signals_both_ways(server: DevServer) -> None:
    alice, bob = client("Alice"), client("Bob")
    tokens = provider(server)
    a = await alice.join(await tokens.get_token())
    b = await bob.join(await tokens.get_token())
    try:
        await alice.send_signal("chat", "hi bob", to=[b.connection_id])
        got = await next_event(bob, SignalReceived)
        assert (got.type, got.data, got.from_connection_id) == ("chat", "hi bob", a.connection_id)
        await bob.send_signal("signal:reply", json.dumps({"ok": True}))  # broadcast
        got = await next_event(alice, SignalReceived)
        assert (got.type, got.from_connection_id) == ("reply", b.connection_id)
        assert json.loads(got.data) == {"ok": True}
        mine = await next_event(bob, SignalReceived)  # broadcast includes the sender
        assert mine.from_connection_id == b.connection_id
    finally:
        await bob.leave()
        await alice.leave()


async def test_second_token_for_same_session_takes_409_path(server: DevServer) -> None:
    transport = RecordingTransport()
    tokens = provider(server, transport=transport)
    first, second = await tokens.get_token(), await tokens.get_token()
    assert first != second
    assert parse_token(first).session_id == parse_token(second).session_id == ROOM
    statuses = [(path, status) for _m, path, status in transport.log]
    assert statuses == [
        ("/openvidu/api/sessions", 200),
        (f"/openvidu/api/sessions/{ROOM}/connection", 200),
        ("/openvidu/api/sessions", 409),
        (f"/openvidu/api/sessions/{ROOM}/connection", 200),
    ]
    alice, bob = client("Alice"), client("Bob")
    await alice.join(first)
    try:
        b = await bob.join(second)
        assert (await roster(alice, "joined")).connection_id == b.connection_id
    finally:
        await bob.leave()
        await alice.leave()


async def test_wrong_secret(server: DevServer) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        await provider(server, secret="not-the-secret").get_token()
    assert str(info.value) == "wrong OpenVidu secret (HTTP 401 from POST /openvidu/api/sessions)"
    assert "not-the-secret" not in str(info.value)


async def test_reused_token_is_rejected_with_401(server: DevServer) -> None:
    tokens = provider(server)
    token = await tokens.get_token()
    holder = client("Holder")  # keeps the session alive after Alice left
    await holder.join(await tokens.get_token())
    alice = client("Alice")
    await alice.join(token)
    await alice.leave()
    again = client("Again")
    try:
        with pytest.raises(RpcError) as info:
            await again.join(token)
        assert info.value.code == 401 and info.value.method == "joinRoom"
        assert "tok_" not in str(info.value)
        assert not again.joined
    finally:
        await holder.leave()


async def test_resume_after_dropped_socket_keeps_connection_id(server: DevServer) -> None:
    alice, bob = client("Alice"), client("Bob")
    tokens = provider(server)
    a = await alice.join(await tokens.get_token())
    b = await bob.join(await tokens.get_token())
    try:
        signaling = alice.signaling
        assert signaling is not None and signaling._ws is not None
        signaling._ws.transport.abort()  # the network drops the socket under us
        await next_event(alice, ConnectionLost)
        await alice.resume()
        await next_event(alice, ConnectionResumed, within=1)
        assert alice.connection_id == a.connection_id
        await asyncio.sleep(1.0)  # longer than the server's grace period
        assert a.connection_id in bob.model.participants
        await bob.send_signal("ping", "after resume", to=[a.connection_id])
        got = await next_event(alice, SignalReceived)
        assert got.data == "after resume" and got.from_connection_id == b.connection_id
    finally:
        await bob.leave()
        await alice.leave()


async def test_client_that_stops_pinging_is_evicted(server: DevServer) -> None:
    tokens = provider(server)
    alice = client("Alice")
    await alice.join(await tokens.get_token())
    silent_token = await tokens.get_token()
    info = parse_token(silent_token)
    try:
        async with connect(info.ws_url, proxy=None) as ws:
            await ws.send(
                json.dumps(
                    {"jsonrpc": "2.0", "method": "ping", "id": 0, "params": {"interval": 100}}
                )
            )
            await ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "method": "joinRoom",
                        "id": 1,
                        "params": {
                            "token": silent_token,
                            "session": info.session_id,
                            "platform": "test",
                            "sdkVersion": "2.22.0",
                            "metadata": '{"clientData":"Silent"}',
                            "secret": "",
                            "recorder": False,
                        },
                    }
                )
            )
            joined = await roster(alice, "joined")
            assert joined.display_name == "Silent"
            # no more pings: watchdog 3 x 100 ms, then the 0.5 s grace period
            left = await next_event(alice, ParticipantLeft, within=5)
            assert left.connection_id == joined.connection_id
            assert left.reason == "networkDisconnect"
            assert joined.connection_id not in alice.model.participants
    finally:
        await alice.leave()


async def test_tls_devserver_untrusted_then_trusted(tmp_path: Path) -> None:
    srv = DevServer(DevServerOptions(port=0, tls=True, secret=SECRET, grace_seconds=0.5))
    await srv.start()
    try:
        assert srv.url.startswith("https://") and srv.certificate is not None
        with pytest.raises(TlsUntrusted) as rest_error:
            await RestTokenProvider(
                srv.url, SECRET, ROOM, ssl_context=make_ssl_context(True), timeout=5
            ).get_token()
        assert "server.verify_tls: false" in str(rest_error.value)

        insecure = make_ssl_context(False)
        token = await RestTokenProvider(srv.url, SECRET, ROOM, ssl_context=insecure).get_token()
        assert token.startswith("wss://")
        strict = client("Strict", ssl_context=make_ssl_context(True))
        with pytest.raises(TlsUntrusted) as ws_error:
            await strict.join(token)
        assert "server.ca_file" in str(ws_error.value)
        assert not strict.joined

        ca_file = tmp_path / "devserver.pem"
        ca_file.write_bytes(srv.certificate.cert_pem)
        trusted = make_ssl_context(True, str(ca_file))
        alice = client("Alice", ssl_context=trusted)
        fresh = await RestTokenProvider(srv.url, SECRET, ROOM, ssl_context=trusted).get_token()
        joined = await alice.join(fresh)
        assert joined.session_id == ROOM
        await alice.leave()
    finally:
        await srv.stop()
