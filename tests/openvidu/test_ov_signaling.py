"""Signaling and client against a small hostile WebSocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from kiosk.errors import ResumeFailed, RpcError, RpcTimeout, SignalingLost
from kiosk.openvidu.client import (
    ConnectionLost,
    ConnectionResumed,
    EvictedSelf,
    OpenViduClient,
    RosterChanged,
)
from kiosk.openvidu.events import ParticipantJoined, SignalReceived
from kiosk.openvidu.jsonrpc import Notification
from kiosk.openvidu.signaling import Signaling, SignalingTimeouts
from kiosk.testing.waits import next_event, wait_until

RPC_ID = "4lh7gq0k2i1r9s8b3c5d6e7f8g"


class HostileServer:
    """Answers ping/joinRoom/connect/echo; can send garbage, go silent or drop sockets."""

    def __init__(self) -> None:
        self.port = 0
        self.sockets: list[ServerConnection] = []
        self.received: list[list[dict[str, Any]]] = []  # per socket
        self.silent = False
        self.garbage_after_join: list[str | bytes] = []
        self.known_rpc_ids = {RPC_ID}
        self.token_seen: str | None = None
        self.answer_leave = True

    async def handler(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._handle(ws)

    async def _handle(self, ws: ServerConnection) -> None:
        self.sockets.append(ws)
        log: list[dict[str, Any]] = []
        self.received.append(log)
        async for raw in ws:
            msg = json.loads(raw)
            log.append(msg)
            method, rid = msg.get("method"), msg.get("id")
            if self.silent:
                continue
            if method == "ping":
                await ws.send(
                    json.dumps({"id": rid, "result": {"value": "pong"}, "jsonrpc": "2.0"})
                )
            elif method == "joinRoom":
                self.token_seen = msg["params"]["token"]
                result = {
                    "id": "con_Self",
                    "createdAt": 1,
                    "metadata": msg["params"]["metadata"],
                    "value": [
                        {"id": "con_Alice", "createdAt": 1, "metadata": '{"clientData":"Alice"}'}
                    ],
                    "session": msg["params"]["session"],
                    "version": "2.22.0",
                    "mediaServer": "kurento",
                    "videoSimulcast": False,
                    "record": True,
                    "role": "PUBLISHER",
                    "coturnIp": "127.0.0.1",
                    "coturnPort": 3478,
                    "turnUsername": "1650376410:Ab3dEf9h",
                    "turnCredential": "mW8rYb2c5pQ1kL0sV3nX7tZ4hJ8=",
                    "sessionId": RPC_ID,
                }
                await ws.send(json.dumps({"id": rid, "result": result, "jsonrpc": "2.0"}))
                for frame in self.garbage_after_join:
                    await ws.send(frame)
            elif method == "connect":
                sid = msg["params"].get("sessionId")
                if sid in self.known_rpc_ids:
                    body: dict[str, Any] = {
                        "result": {"value": "reconnection successful", "sessionId": sid}
                    }
                else:
                    body = {"error": {"code": 40007, "message": "reconnection error"}}
                await ws.send(json.dumps({"id": rid, **body, "jsonrpc": "2.0"}))
            elif method == "echo":
                await ws.send(json.dumps({"id": rid, "result": {"sessionId": RPC_ID}}))
            elif method == "fail":
                await ws.send(
                    json.dumps(
                        {
                            "id": rid,
                            "error": {
                                "code": 401,
                                "message": f"Token {self.token_seen} is not valid",
                                "data": "java.lang.Exception\n\tat x",
                            },
                            "data": {},
                        }
                    )
                )
            elif method == "sendMessage":
                payload = json.loads(msg["params"]["message"])
                await ws.send(json.dumps({"id": rid, "result": {"sessionId": RPC_ID}}))
                await ws.send(
                    json.dumps(
                        {
                            "method": "sendMessage",
                            "params": {
                                "data": payload["data"],
                                "type": payload["type"],
                                "from": "con_Self",
                            },
                        }
                    )
                )
            elif method == "leaveRoom" and self.answer_leave:
                await ws.send(json.dumps({"id": rid, "result": {"sessionId": RPC_ID}}))
            elif method == "notify":
                await ws.send(json.dumps(msg["params"]["frame"]))
                await ws.send(json.dumps({"id": rid, "result": {}}))
            # anything else: never answered (like OpenVidu for unknown methods)

    async def drop_all(self) -> None:
        for ws in list(self.sockets):
            ws.transport.abort()


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    server = HostileServer()
    async with serve(server.handler, "127.0.0.1", 0, max_size=2**22) as ws_server:
        server.port = next(iter(ws_server.sockets)).getsockname()[1]
        yield server


def token(port: int) -> str:
    return f"ws://127.0.0.1:{port}?sessionId=KioskRoom&token=tok_Hq2Wx7Lm4Np9Rs3T"


def client(request_timeout: float = 2.0, **kwargs: Any) -> OpenViduClient:
    timeouts = SignalingTimeouts(
        ping_interval=0.2, ping_timeout=0.5, request_timeout=request_timeout
    )
    return OpenViduClient("Kiosk-Lobby", ssl_context=None, timeouts=timeouts, **kwargs)


async def test_join_sends_exact_params_and_pings_first(hostile: HostileServer) -> None:
    c = client()
    join = await c.join(token(hostile.port))
    try:
        assert join.connection_id == "con_Self" and join.rpc_session_id == RPC_ID
        assert join.session_id == "KioskRoom" and join.role == "PUBLISHER"
        assert join.server_version == "2.22.0" and join.media_server == "kurento"
        assert [s.urls for s in join.ice_servers] == [("turn:127.0.0.1:3478",)]
        first, second = hostile.received[0][:2]
        assert first == {"jsonrpc": "2.0", "method": "ping", "params": {"interval": 200}, "id": 0}
        assert second["method"] == "joinRoom" and second["id"] == 1
        assert second["params"] == {
            "token": token(hostile.port),
            "session": "KioskRoom",
            "platform": "kiosk (Python aiortc; Linux)",
            "sdkVersion": "2.22.0",
            "metadata": '{"clientData":"Kiosk-Lobby"}',
            "secret": "",
            "recorder": False,
        }
        assert json.loads(second["params"]["metadata"]) == {"clientData": "Kiosk-Lobby"}
        roster = await next_event(c, RosterChanged)
        assert [(ch.kind, ch.display_name) for ch in roster.changes] == [("joined", "Alice")]
        assert c.model.participants["con_Alice"].display_name == "Alice"

        def later_pings() -> list[dict[str, Any]]:
            return [m for m in hostile.received[0][2:] if m["method"] == "ping"]

        await wait_until(lambda: len(later_pings()) >= 1, 5, "a ping after the first")
        assert all("params" not in m for m in later_pings())
    finally:
        await c.leave()
    assert any(m["method"] == "leaveRoom" for m in hostile.received[0])


async def test_garbage_frames_are_survived(
    hostile: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret_frame = f"not json {token(hostile.port)}"
    hostile.garbage_after_join = [
        "not json at all",
        secret_frame,
        "[1, 2, 3]",
        '[{"jsonrpc":"2.0","method":"participantJoined","params":{"id":"con_X"}}]',
        '"a string"',
        "12",
        '{"id": "seven", "result": {}}',
        '{"id": 99999, "result": {"value": "stray"}}',
        '{"id": 99998, "error": {"code": 1, "message": "stray"}}',
        '{"method": 5, "params": {}}',
        '{"method": "participantJoined", "params": [1]}',
        '{"method": "participantJoined", "params": {"id": 42}}',
        '{"method": "participantPublished", "params": {"id": "con_X", "streams": "no"}}',
        '{"method": "fancyProOnlyThing", "params": {}}',
        b"\xff\xfe\xfd invalid utf-8",
        b'{"method": "participantLeft", "params": {"connectionId": "con_Alice"}}',
        "[" * 50_000 + "]" * 50_000,
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        '{"pad": "' + "x" * (1_200_000) + '"}',
        json.dumps(
            {
                "method": "participantJoined",
                "params": {"id": "con_Bob", "createdAt": 2, "metadata": '{"clientData":"Bob"}'},
                "jsonrpc": "2.0",
            }
        ),
    ]
    caplog.set_level(logging.DEBUG)
    c = client()
    await c.join(token(hostile.port))
    try:
        joined = await next_event(c, ParticipantJoined)
        assert joined.connection_id == "con_Bob"
        assert set(c.model.participants) == {"con_Bob"}  # Alice left via the binary frame
        signaling = c.signaling
        assert signaling is not None
        answered = signaling.pings_answered
        await wait_until(
            lambda: signaling.pings_answered >= answered + 2, 5, "two more pings answered"
        )
        assert not signaling.lost.is_set()
        assert await c.rpc.call("echo") == {"sessionId": RPC_ID}
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("malformed frame" in w for w in warnings)
        for record in caplog.records:
            if record.name.startswith("websockets.server"):
                continue  # the test server's own log
            message = record.getMessage()
            assert "tok_Hq2Wx7Lm4Np9Rs3T" not in message
            assert "\n" not in message
            assert len(message) < 400
    finally:
        await c.leave()


async def test_silent_server_sets_lost_and_fails_pending(hostile: HostileServer) -> None:
    c = client(request_timeout=10.0)
    await c.join(token(hostile.port))
    try:
        signaling = c.signaling
        assert signaling is not None
        hostile.silent = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        pending = asyncio.create_task(c.rpc.call("echo"))
        lost = await next_event(c, ConnectionLost, within=5)
        elapsed = loop.time() - started
        # next ping within 0.2 s, unanswered for 0.5 s: lost well before the 10 s request timeout
        assert elapsed < 1.5, elapsed
        assert "ping" in lost.reason
        with pytest.raises(SignalingLost):
            await asyncio.wait_for(pending, 2)
        with pytest.raises(SignalingLost):
            await c.rpc.call("echo")
    finally:
        await asyncio.wait_for(c.leave(), 5)


async def test_dropped_socket_then_resume_sends_connect_first(hostile: HostileServer) -> None:
    c = client()
    await c.join(token(hostile.port))
    try:
        await hostile.drop_all()
        await next_event(c, ConnectionLost, within=5)
        await c.resume()
        await next_event(c, ConnectionResumed, within=1)
        new_socket = hostile.received[1]
        assert new_socket[0]["method"] == "connect"
        assert new_socket[0]["params"] == {"sessionId": RPC_ID, "reconnect": True}
        assert new_socket[1]["method"] == "ping" and new_socket[1]["params"] == {"interval": 200}
        assert new_socket[0]["id"] > hostile.received[0][-1]["id"]  # ids keep counting
        assert await c.rpc.call("echo") == {"sessionId": RPC_ID}
        assert c.connection_id == "con_Self"
    finally:
        await c.leave()


async def test_resume_rejected_is_resume_failed(hostile: HostileServer) -> None:
    c = client()
    await c.join(token(hostile.port))
    try:
        hostile.known_rpc_ids.clear()
        await hostile.drop_all()
        await next_event(c, ConnectionLost, within=5)
        with pytest.raises(ResumeFailed) as info:
            await c.resume()
        assert "40007" in str(info.value)
    finally:
        await asyncio.wait_for(c.leave(), 5)


async def test_rpc_errors_and_timeouts(hostile: HostileServer) -> None:
    c = client(request_timeout=0.3)
    await c.join(token(hostile.port))
    try:
        with pytest.raises(RpcError) as error:
            await c.rpc.call("fail", {})
        assert error.value.code == 401 and error.value.method == "fail"
        assert "tok_Hq2Wx7Lm4Np9Rs3T" not in str(error.value)
        assert "\n" not in str(error.value)
        with pytest.raises(RpcTimeout) as timeout:
            await c.rpc.call("neverAnswered", {})
        assert timeout.value.method == "neverAnswered" and timeout.value.timeout == 0.3
        # the connection is still fine afterwards
        assert await c.rpc.call("echo", timeout=2) == {"sessionId": RPC_ID}
    finally:
        await c.leave()


async def test_signals_and_self_eviction(hostile: HostileServer) -> None:
    c = client()
    await c.join(token(hostile.port))
    try:
        await c.send_signal("chat", "hello")
        sent = next(m for m in hostile.received[0] if m["method"] == "sendMessage")
        assert json.loads(sent["params"]["message"]) == {
            "to": [],
            "data": "hello",
            "type": "signal:chat",
        }
        signal = await next_event(c, SignalReceived)
        assert (signal.type, signal.data, signal.from_connection_id) == (
            "chat",
            "hello",
            "con_Self",
        )
        evict = {
            "method": "participantEvicted",
            "params": {"connectionId": "con_Self", "reason": "forceDisconnectByServer"},
        }
        await c.rpc.call("notify", {"frame": evict})
        await c.rpc.call("notify", {"frame": evict})  # 2.22 may send it twice
        evicted = await next_event(c, EvictedSelf)
        assert evicted.reason == "forceDisconnectByServer"
        await asyncio.sleep(0.1)
        assert not any(isinstance(e, EvictedSelf) for e in list(c.events._queue))  # type: ignore[attr-defined]
    finally:
        await c.leave()
    # after an eviction the client does not send leaveRoom
    assert all(m["method"] != "leaveRoom" for m in hostile.received[0])


async def test_open_failures_are_signaling_lost() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sig = Signaling(f"ws://127.0.0.1:{port}/openvidu?sessionId=S", ssl=None, on_notification=print)
    with pytest.raises(SignalingLost) as info:
        await sig.open()
    assert f"127.0.0.1:{port}" in str(info.value)

    async def not_websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_websocket, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sig = Signaling(
            f"ws://127.0.0.1:{port}/openvidu?sessionId=S", ssl=None, on_notification=print
        )
        with pytest.raises(SignalingLost) as info:
            await sig.open()
        assert "HTTP 404" in str(info.value)
    finally:
        server.close()


async def test_server_that_never_pongs_fails_open(hostile: HostileServer) -> None:
    hostile.silent = True
    received: list[Notification] = []
    sig = Signaling(
        f"ws://127.0.0.1:{hostile.port}/openvidu?sessionId=S",
        ssl=None,
        on_notification=received.append,
        timeouts=SignalingTimeouts(ping_timeout=0.3),
    )
    with pytest.raises(SignalingLost) as info:
        await asyncio.wait_for(sig.open(), 5)
    assert "ping" in str(info.value)
    await sig.close()


async def test_leave_never_hangs_when_leave_room_is_not_answered(hostile: HostileServer) -> None:
    hostile.answer_leave = False
    c = client(leave_timeout=0.3)
    await c.join(token(hostile.port))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(c.leave(), 5)
    assert loop.time() - started < 2.0
    assert any(m["method"] == "leaveRoom" for m in hostile.received[0])
    assert not c.joined
    with pytest.raises(SignalingLost):
        await c.rpc.call("echo")
    await c.leave()  # idempotent
