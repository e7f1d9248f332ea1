"""The dev server's JSON-RPC endpoint (§3–§5): one :class:`RpcHub` for every WebSocket.

Per socket: frames are parsed here; ``ping`` and ``connect`` are answered at once (like the
Kurento library does), every other request goes through a per-socket queue and is handled in
order by the method table below (room methods in :mod:`.room`, media methods in :mod:`.media`).
The REST side reaches the participants through :attr:`RpcHub.room`.

Deliberate differences from OpenVidu 2.22 (documented in docs/devserver.md):

* unknown methods get error -32601 instead of no answer;
* a socket that closes without ``leaveRoom`` (for whatever reason) is evicted after the grace
  period with ``networkDisconnect`` — no ghost participants;
* every parameter is type-checked before a token is consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from kiosk.devserver.media_api import MediaBackend
from kiosk.devserver.options import DevServerOptions
from kiosk.devserver.rpc.media import MediaMethods
from kiosk.devserver.rpc.params import Params, RpcFail
from kiosk.devserver.rpc.room import Call, Room
from kiosk.devserver.rpc.sockets import RpcSession, Socket, Sockets
from kiosk.devserver.state import ServerState
from kiosk.redact import redact

__all__ = ["RpcHub"]

log = logging.getLogger("kiosk.devserver.rpc")

Handler = Callable[[Call], Awaitable[dict[str, Any]]]


class RpcHub:
    """Every JSON-RPC socket of one dev server, and everything that fans out to them."""

    def __init__(
        self, state: ServerState, options: DevServerOptions, backend: MediaBackend
    ) -> None:
        self.state = state
        self.sockets = Sockets(options, self._grace_expired)
        self.room = Room(state, options, self.sockets, backend)
        media = MediaMethods(self.room, self.sockets, backend)
        room = self.room
        self._methods: dict[str, Handler] = {
            "publishVideo": media.publish_video,
            "receiveVideoFrom": media.receive_video_from,
            "prepareReceiveVideoFrom": media.prepare_receive_video_from,
            "unsubscribeFromVideo": media.unsubscribe_from_video,
            "onIceCandidate": media.on_ice_candidate,
            "unpublishVideo": media.unpublish_video,
            "sendMessage": room.send_message,
            "streamPropertyChanged": room.stream_property_changed,
            "leaveRoom": room.leave_room,
            "videoData": room.video_data,
            "echo": room.echo,
            "reconnectStream": media.reconnect_stream,
            "forceDisconnect": room.force_disconnect,
            "forceUnpublish": room.force_unpublish,
        }

    def _grace_expired(self, rpc: RpcSession) -> None:
        assert rpc.session_id is not None and rpc.connection_id is not None
        self.sockets.spawn(self.room.evict(rpc.session_id, rpc.connection_id, "networkDisconnect"))

    async def close(self) -> None:
        """Server stop: close every socket, cancel every timer and task."""
        await self.sockets.close()

    # --- the WebSocket endpoint ------------------------------------------------------------

    async def handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        if self.sockets.closing:
            raise web.HTTPServiceUnavailable(text="the dev server is stopping")
        ws = web.WebSocketResponse(timeout=2.0, autoping=True)
        try:
            await ws.prepare(request)
        except ConnectionResetError:
            # The client gave up before its handshake was answered (e.g. its open timeout ran out
            # while the network held the request): nothing to serve, and no traceback to log.
            log.info("WebSocket handshake from %s: the client had already gone", request.remote)
            return web.Response(status=400, text="client gone")  # type: ignore[return-value]
        sock = self.sockets.open(ws, request.remote)
        writer = self.sockets.spawn(self.sockets.write(sock))
        self.sockets.spawn(self._worker(sock))  # ends at the None sentinel put on close
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(sock, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    log.info("ignoring a binary frame on /openvidu")
                else:
                    break
        finally:
            self.sockets.closed(sock)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({writer}, timeout=1.0)
        return ws

    def _on_text(self, sock: Socket, data: str) -> None:
        try:
            obj = json.loads(data)
        except ValueError:
            log.info("ignoring a frame that is not JSON (%d chars)", len(data))
            return
        if not isinstance(obj, dict):
            log.info("ignoring a JSON-RPC frame that is not an object (batches are not supported)")
            return
        rid = obj.get("id")
        method = obj.get("method")
        if not isinstance(rid, int) or isinstance(rid, bool):
            log.info("ignoring a request without an integer id (method %r)", redact(str(method)))
            return
        if not isinstance(method, str):
            log.info("ignoring request %d without a method name", rid)
            return
        params = obj.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            sock.fail(rid, RpcFail(-32602, "params must be a JSON object", suffix=False))
            return
        claimed = params.get("sessionId")
        if method not in ("connect", "ping") and claimed is not None and claimed != sock.rpc.id:
            # The Kurento library would silently bind the request to another RPC session and
            # fail with 803 (§3.2); say so explicitly.
            sock.fail(
                rid,
                RpcFail(
                    803,
                    f"params.sessionId does not match this socket's RPC session; never send "
                    f"'sessionId' in the params of {method[:40]}",
                ),
            )
            return
        if method == "ping":
            self.sockets.ping(sock, rid, params)
        elif method == "connect":
            self.sockets.connect(sock, rid, params)
        elif method == "closeSession":
            sock.answer(rid, "bye")
            self.sockets.spawn(self.sockets.close_socket(sock, 1000, "closeSession"))
        else:
            sock.inbox.put_nowait((rid, method, params))

    # --- request dispatch ------------------------------------------------------------------

    async def _worker(self, sock: Socket) -> None:
        while True:
            item = await sock.inbox.get()
            if item is None:
                return
            rid, method, params = item
            try:
                await self._dispatch(sock, rid, method, Params(method, params))
            except Exception:
                log.exception("unexpected error in %s", method)
                sock.fail(rid, RpcFail(-1, f"java.lang.RuntimeException:{method}"))

    async def _dispatch(self, sock: Socket, rid: int, method: str, params: Params) -> None:
        rpc = sock.rpc
        try:
            if method == "joinRoom":
                result = await self.room.join(sock, rpc, params)
            else:
                handler = self._methods.get(method)
                if handler is None:
                    raise RpcFail(-32601, f"Method not found: {method}", suffix=False)
                found = self.room.participant(rpc)
                if found is None:
                    if rpc.left or rpc.connection_id is not None:
                        # Like OpenVidu: no answer once the participant is gone (§3.7, §4.10).
                        log.info("not answering %s: the participant has left", method)
                        return
                    raise RpcFail(
                        803,
                        f"No connection found for participant with privateId {rpc.id}. "
                        "Method 'Session.connect()' must be the first operation called in any "
                        "session",
                    )
                session, conn = found
                result = await handler(Call(sock, rpc, session, conn, params))
        except RpcFail as fail:
            sock.fail(rid, fail)
            return
        result["sessionId"] = rpc.id
        sock.answer(rid, result)
