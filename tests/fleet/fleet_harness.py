"""Helpers of the fleet tests: the broker's users, settings for a room, a console client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from typing import Any

import aiomqtt
import pytest

from kiosk.fleet.settings import BrokerAddress, FleetSettings, RemoteControl
from kiosk.testing.mosquitto import find_mosquitto


def require_mosquitto() -> None:
    """Skip (locally) or fail (CI=true) when Debian's mosquitto is not installed."""
    if find_mosquitto() is None:
        reason = "mosquitto is not installed (Debian package mosquitto)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def require_program(name: str, package: str) -> str:
    """The path of ``name``; skip (locally) or fail (CI=true) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Debian package {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


USERS = {"room-a": "pw-room-a-1", "room-b": "pw-room-b-2", "admin": "pw-admin-3"}


def fleet_settings(port: int, room: str = "room-a", **changes: Any) -> FleetSettings:
    control = changes.pop("control", RemoteControl())
    values: dict[str, Any] = {
        "broker": BrokerAddress("127.0.0.1", port, False),
        "room_id": room,
        "room_name": f"Room {room[-1].upper()}",
        "client_id": f"kiosk-{room}",
        "topic_prefix": f"kiosk/{room}",
        "username": room,
        "password": USERS[room],
        "control": control,
        "backoff_initial": 0.2,
        "backoff_cap": 1.0,
        "timeout": 5.0,
        "poll_interval": 0.2,
    }
    values.update(changes)
    return FleetSettings(**values)


class Observer:
    """A separate MQTT client (the fleet console) that records what it receives."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[tuple[str, bytes, bool]] = []
        self._new = asyncio.Event()

    async def pump(self) -> None:
        async for message in self.client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            self.messages.append((str(message.topic), payload, bool(message.retain)))
            self._new.set()

    async def wait_for(
        self, topic: str, predicate: Any = None, *, within: float = 10.0, after: int = 0
    ) -> bytes:
        """The first payload on ``topic`` (from index ``after``) that satisfies ``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        index = after
        while True:
            while index < len(self.messages):
                t, payload, _ = self.messages[index]
                index += 1
                if t == topic and (predicate is None or predicate(payload)):
                    return payload
            left = deadline - loop.time()
            if left <= 0:
                seen = sorted({t for t, _, _ in self.messages})
                raise AssertionError(f"nothing matching on {topic} within {within} s; saw {seen}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p, _ in self.messages if t == topic]


def as_json(payload: bytes) -> Any:
    return json.loads(payload)
