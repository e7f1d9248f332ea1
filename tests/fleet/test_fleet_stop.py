"""A stop ends the fleet link within seconds, even when the MQTT library's exit never returns.

aiomqtt's exit waits without a limit for the socket to close after DISCONNECT; one CI run saw a
stop outlast ten seconds over TLS. Here that exit is made to hang for good, against a minimal
MQTT 3.1.1 server that acknowledges everything and ignores DISCONNECT: the link must still end
within its bound and close its socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
import pytest

from kiosk.fleet.client import FleetClient, Phase
from kiosk.fleet.fake import FakeKiosk
from tests.fleet.fleet_harness import fleet_settings

pytestmark = pytest.mark.integration  # a socket server on loopback


class StubbornBroker:
    """Answers CONNECT, SUBSCRIBE, PUBLISH (QoS 1) and PINGREQ; never closes on DISCONNECT."""

    def __init__(self) -> None:
        self.disconnects = 0
        self.closed_by_client = asyncio.Event()
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                first = await reader.readexactly(1)
                length, shift = 0, 0
                for _ in range(4):
                    byte = (await reader.readexactly(1))[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = await reader.readexactly(length)
                kind = first[0] >> 4
                if kind == 1:  # CONNECT
                    writer.write(b"\x20\x02\x00\x00")
                elif kind == 8:  # SUBSCRIBE: one topic per request from the kiosk
                    writer.write(b"\x90\x03" + body[:2] + b"\x01")
                elif kind == 3 and (first[0] >> 1) & 3 == 1:  # PUBLISH, QoS 1
                    topic_length = int.from_bytes(body[:2], "big")
                    packet_id = body[2 + topic_length : 4 + topic_length]
                    writer.write(b"\x40\x02" + packet_id)
                elif kind == 12:  # PINGREQ
                    writer.write(b"\xd0\x00")
                elif kind == 14:  # DISCONNECT: a broker that does not hang up
                    self.disconnects += 1
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client.set()
        finally:
            writer.close()


async def test_stop_ends_the_link_when_disconnecting_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def hanging_exit(self: aiomqtt.Client, *exc: Any) -> None:
        await never

    monkeypatch.setattr(aiomqtt.Client, "__aexit__", hanging_exit)
    broker = StubbornBroker()
    await broker.start()
    try:
        link = FleetClient(fleet_settings(broker.port), FakeKiosk(), version="9.9.9")
        task = asyncio.ensure_future(link.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while link.phase != Phase.CONNECTED:
            assert loop.time() < deadline, f"not connected within 10 s: {link.last_error}"
            assert not task.done(), "the link ended before connecting"
            await asyncio.sleep(0.05)
        link.stop()
        # The bound is the client's own (3 s) plus scheduling slack; aiomqtt alone waits forever.
        await asyncio.wait_for(task, 8)
        assert str(link.phase) == str(Phase.STOPPED)
        # The socket is closed, not left behind: the broker sees the connection end.
        await asyncio.wait_for(broker.closed_by_client.wait(), 5)
    finally:
        await broker.stop()
