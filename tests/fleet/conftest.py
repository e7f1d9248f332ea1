"""A real Mosquitto (password file + ACL) on 127.0.0.1 for the fleet tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from kiosk.testing.mosquitto import Mosquitto
from tests.fleet.fleet_harness import USERS, Observer, require_mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    require_mosquitto()
    server = Mosquitto(tmp_path / "broker", USERS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def observer(broker: Mosquitto) -> AsyncIterator[Observer]:
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username="admin", password=USERS["admin"], identifier="console"
    ) as client:
        watcher = Observer(client)
        task = asyncio.ensure_future(watcher.pump())
        try:
            yield watcher
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
