"""Application-server mode: while the application server is down but server.url answers, the
kiosk must not retry every second (issue 15, item 8) — the "answers again" probe knocks on the
application server's port, and retries as soon as *that* answers."""

from __future__ import annotations

import asyncio
import socket
import time

from kiosk.app.executor import probe_url
from kiosk.app.kiosk import Kiosk
from kiosk.config import parse_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Counter:
    """A TCP listener that counts connections and closes them at once."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        async def accept(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def test_probe_url_follows_the_token_source() -> None:
    base = "session: {id: Room1}\n"
    app = parse_config('server: {url: "http://a:1", application_url: "http://b:2/x"}\n' + base)
    assert probe_url(app.server) == "http://b:2/x"
    rest = parse_config('server: {url: "http://a:1", secret: s}\n' + base)
    assert probe_url(rest.server) == "http://a:1"


async def test_down_application_server_is_probed_not_the_openvidu_server() -> None:
    openvidu, app_server = Counter(), Counter()
    openvidu_port = await openvidu.start()
    app_port = _free_port()  # nothing listens here yet: the application server is down
    config = parse_config(f"""
server: {{url: "http://127.0.0.1:{openvidu_port}",
          application_url: "http://127.0.0.1:{app_port}", timeout_seconds: 2}}
session: {{id: Room1, name: "Lobby kiosk"}}
media: {{camera: {{device: none}}, microphone: {{device: none}}, speaker: {{device: none}}}}
display: {{driver: dummy, size: 320x240, fullscreen: false, max_fps: 10}}
status: {{enabled: false}}
""")
    kiosk = Kiosk(config)
    run = asyncio.create_task(kiosk.run(duration=30))
    try:
        # Failures at ~0, ~1, ~3 s: backoff delays of 1, 2, 4 s, a probe running since ~1 s.
        await asyncio.sleep(5.0)
        assert kiosk.server_reachable is False
        assert openvidu.connections == 0, "the probe knocked on server.url, which answers"
        await app_server.start(app_port)
        started = time.monotonic()
        while app_server.connections == 0:
            assert time.monotonic() - started < 2.5, "the application server was not probed"
            await asyncio.sleep(0.05)
    finally:
        kiosk.stop.set()
        await asyncio.wait_for(run, 15)
        await openvidu.stop()
        await app_server.stop()
