"""Dev server: a WebSocket handshake whose client already left is not an error with a traceback.

Found by the blackhole bench: the kiosk's resume gave up on a handshake the network held; when
the link healed the request reached the server, which logged ``Error handling request`` with a
traceback for every such socket.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import struct

import pytest

from kiosk.devserver.server import DevServer, DevServerOptions


async def test_handshake_from_a_vanished_client_logs_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    srv = DevServer(DevServerOptions(port=0, tls=False))
    await srv.start()
    port = int(srv.url.rsplit(":", 1)[1])
    caplog.set_level(logging.INFO)
    try:
        # A fresh REST session + token so the handshake passes every check before prepare().
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /openvidu?sessionId=Room&token=tok_x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        for _ in range(20):
            s = socket.socket()
            s.connect(("127.0.0.1", port))
            s.sendall(request)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST right behind the request
        await asyncio.sleep(0.5)
    finally:
        await srv.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
