"""The fault-injection proxy itself, against a real echo server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from kiosk.testing.tcpproxy import TcpProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def echo_proxy() -> AsyncIterator[TcpProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with TcpProxy(port) as proxy:
        yield proxy
    server.close()
    await server.wait_closed()


async def _roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> float:
    t0 = time.monotonic()
    writer.write(data)
    await writer.drain()
    got = await asyncio.wait_for(reader.readexactly(len(data)), 10)
    assert got == data
    return time.monotonic() - t0


async def test_forwards_both_ways_and_counts_bytes() -> None:
    async with echo_proxy() as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await _roundtrip(reader, writer, b"x" * 100_000) < 2.0
        assert proxy.stats.bytes_up == proxy.stats.bytes_down == 100_000
        writer.close()


async def test_reset_tears_the_connection_down() -> None:
    async with echo_proxy() as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        await _roundtrip(reader, writer, b"hello")
        assert proxy.reset() == 1
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            async with asyncio.timeout(5):
                data = await reader.read(10)
                if not data:
                    raise asyncio.IncompleteReadError(b"", 1)
        # New connections work again right away.
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        await _roundtrip(reader, writer, b"again")
        writer.close()


async def test_blackhole_holds_traffic_then_delivers() -> None:
    async with echo_proxy() as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.blackhole(1.0)
        took = await _roundtrip(reader, writer, b"ping")
        assert 0.9 <= took < 3.0
        assert not proxy.blackholed
        writer.close()


async def test_slow_link_adds_latency_both_ways() -> None:
    async with echo_proxy() as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.slow(latency=0.2)
        took = await _roundtrip(reader, writer, b"ping")
        assert 0.39 <= took < 1.5  # 0.2 s each way
        proxy.heal()
        assert await _roundtrip(reader, writer, b"ping") < 0.2
        writer.close()


def test_refuses_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        TcpProxy(80, target_host="192.0.2.1")
    with pytest.raises(ValueError, match="loopback"):
        TcpProxy(80, listen_host="0.0.0.0")
