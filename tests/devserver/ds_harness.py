"""Harness for the dev server tests: a server on 127.0.0.1 port 0, REST via httpx, raw JSON-RPC.

The JSON-RPC client here is deliberately raw (``websockets`` + dicts) so that these tests do not
depend on ``kiosk.openvidu``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import websockets

from kiosk.devserver.media_api import MediaBackend
from kiosk.devserver.server import DevServer, DevServerOptions

SECRET = "TEST_SECRET"
TIMEOUT = 5.0


class RawRpc:
    """A minimal JSON-RPC WebSocket client: requests by integer id, notifications in a queue."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, url: str, ssl_ctx: ssl.SSLContext | None = None) -> RawRpc:
        ws = await asyncio.wait_for(websockets.connect(url, ssl=ssl_ctx), TIMEOUT)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                msg = json.loads(text)
                if "id" in msg and msg["id"] in self.pending:
                    fut = self.pending.pop(msg["id"])
                    if not fut.done():
                        fut.set_result(msg)
                else:
                    self.notifications.put_nowait(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed.set()

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def request(
        self, method: str, params: dict[str, Any] | None = None, wait: float = TIMEOUT
    ) -> dict[str, Any]:
        """Send a request and return the whole response frame (``result`` or ``error``)."""
        rid = self.next_id
        self.next_id += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        frame: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            frame["params"] = params
        await self.ws.send(json.dumps(frame))
        try:
            return await asyncio.wait_for(fut, wait)
        finally:
            self.pending.pop(rid, None)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        frame = await self.request(method, params)
        assert "result" in frame, f"{method} failed: {frame.get('error')}"
        result: dict[str, Any] = frame["result"]
        return result

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        frame = await self.request(method, params)
        assert "error" in frame, f"{method} unexpectedly succeeded: {frame.get('result')}"
        error: dict[str, Any] = frame["error"]
        return error

    async def notification(self, method: str, wait: float = TIMEOUT) -> dict[str, Any]:
        """Wait for the next notification named ``method`` (others are skipped and kept)."""
        skipped: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(wait):
                while True:
                    msg = await self.notifications.get()
                    if msg.get("method") == method:
                        params: dict[str, Any] = msg["params"]
                        return params
                    skipped.append(msg)
        finally:
            for msg in skipped:
                self.notifications.put_nowait(msg)

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while not self.notifications.empty():
            out.append(self.notifications.get_nowait())
        return out

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), TIMEOUT)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


class Harness:
    """One running dev server with helpers for REST and joins."""

    def __init__(self, server: DevServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http
        self.clients: list[RawRpc] = []

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.server.options.tls else "ws"
        return f"{scheme}://127.0.0.1:{self.server.port}/openvidu"

    async def session(self, custom_id: str = "") -> str:
        body = {"customSessionId": custom_id} if custom_id else {}
        r = await self.http.post("/openvidu/api/sessions", json=body)
        assert r.status_code == 200, r.text
        session_id: str = r.json()["id"]
        return session_id

    async def token(self, session_id: str, **body: Any) -> dict[str, Any]:
        r = await self.http.post(f"/openvidu/api/sessions/{session_id}/connection", json=body)
        assert r.status_code == 200, r.text
        conn: dict[str, Any] = r.json()
        return conn

    async def client(self) -> RawRpc:
        ssl_ctx = None
        if self.server.options.tls:
            assert self.server.certificate is not None
            ssl_ctx = ssl.create_default_context(cadata=self.server.certificate.cert_pem.decode())
        rpc = await RawRpc.open(self.ws_url, ssl_ctx)
        self.clients.append(rpc)
        return rpc

    async def join(
        self,
        session_id: str,
        metadata: str = "",
        *,
        ping_interval: int | None = None,
        **conn_body: Any,
    ) -> tuple[RawRpc, dict[str, Any]]:
        conn = await self.token(session_id, **conn_body)
        rpc = await self.client()
        if ping_interval is not None:
            await rpc.result("ping", {"interval": ping_interval})
        result = await rpc.result("joinRoom", join_params(conn["token"], session_id, metadata))
        return rpc, result


def join_params(token: str, session_id: str, metadata: str = "") -> dict[str, Any]:
    return {
        "token": token,
        "session": session_id,
        "platform": "pytest raw client",
        "sdkVersion": "2.22.0",
        "metadata": metadata,
        "secret": "",
        "recorder": False,
    }


@contextlib.asynccontextmanager
async def running(media: MediaBackend | None = None, **overrides: Any) -> AsyncIterator[Harness]:
    """A started dev server (tls=False, port 0 unless overridden), stopped on exit."""
    options = DevServerOptions(host="127.0.0.1", port=0, secret=SECRET, tls=False)
    for key, value in overrides.items():
        assert hasattr(options, key), key
        setattr(options, key, value)
    server = DevServer(options, media)
    await server.start()
    verify: ssl.SSLContext | bool = False
    if options.tls:
        assert server.certificate is not None
        verify = ssl.create_default_context(cadata=server.certificate.cert_pem.decode())
    http = httpx.AsyncClient(
        base_url=server.url, auth=("OPENVIDUAPP", SECRET), timeout=TIMEOUT, verify=verify
    )
    harness = Harness(server, http)
    try:
        yield harness
    finally:
        for rpc in harness.clients:
            await rpc.close()
        await http.aclose()
        await server.stop()
