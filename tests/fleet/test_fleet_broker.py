"""The fleet link against a real Mosquitto with a password file and an ACL.

A separate client (the "console", user admin) checks what a fleet console would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from kiosk.devserver.tls import make_self_signed
from kiosk.fleet.client import FleetClient, Phase
from kiosk.fleet.commands import CommandName
from kiosk.fleet.facts import ParticipantFacts
from kiosk.fleet.fake import FakeKiosk
from kiosk.fleet.settings import BrokerAddress, FleetSettings, RemoteControl
from kiosk.testing.mosquitto import Mosquitto
from tests.fleet.fleet_harness import USERS, Observer, as_json, fleet_settings, require_mosquitto

pytestmark = pytest.mark.integration  # a real Mosquitto


@contextlib.asynccontextmanager
async def running(settings: FleetSettings, kiosk: FakeKiosk) -> AsyncIterator[FleetClient]:
    link = FleetClient(settings, kiosk, version="9.9.9")
    task = asyncio.ensure_future(link.run())
    try:
        yield link
    finally:
        link.stop()
        try:
            await asyncio.wait_for(task, 10)
        finally:
            task.cancel()


async def until(predicate: Callable[[], bool], within: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


async def test_retained_discovery_state_and_availability(
    broker: Mosquitto, observer: Observer
) -> None:
    kiosk = FakeKiosk()
    async with running(fleet_settings(broker.port), kiosk) as link:
        await until(lambda: link.states_published >= 1, what="first state published")
        # Subscribing only now: what arrives was retained by the broker.
        await observer.client.subscribe("kiosk/room-a/#")
        await observer.client.subscribe("homeassistant/device/room-a/config")
        assert await observer.wait_for("kiosk/room-a/availability") == b"online"
        state = as_json(await observer.wait_for("kiosk/room-a/state"))
        assert state["state"] == "idle" and state["participants"] == 0
        discovery = as_json(await observer.wait_for("homeassistant/device/room-a/config"))
        assert discovery["dev"]["sw"] == "9.9.9"
        assert discovery["cmps"]["join"]["command_topic"] == "kiosk/room-a/cmd/join"
        assert all(retain for _, _, retain in observer.messages)

        # A change is published at once (not at the 60 s refresh).
        mark = len(observer.messages)
        kiosk.set(
            call_state="in_call",
            participants=(ParticipantFacts("Ana", -18.0, True), ParticipantFacts("Bo")),
        )
        link.notify_changed()
        state = as_json(
            await observer.wait_for(
                "kiosk/room-a/state", lambda p: as_json(p)["participants"] == 2, after=mark
            )
        )
        assert state["participant_names"] == ["Ana", "Bo"]
        assert state["speaking"] == ["Ana"]
        assert state["audio"][0]["level_dbfs"] == -18.0
        assert link.phase == Phase.CONNECTED

    # A clean stop says offline itself (the broker drops the Will on a clean DISCONNECT).
    await observer.wait_for("kiosk/room-a/availability", lambda p: p == b"offline")


async def command(observer: Observer, name: str, payload: bytes | str = b"") -> dict[str, Any]:
    mark = len(observer.messages)
    await observer.client.publish(f"kiosk/room-a/cmd/{name}", payload, qos=1)
    return as_json(await observer.wait_for("kiosk/room-a/cmd/result", after=mark))  # type: ignore[no-any-return]


async def test_commands_reach_the_kiosk_and_every_refusal_gets_a_reply(
    broker: Mosquitto, observer: Observer
) -> None:
    kiosk = FakeKiosk()
    await observer.client.subscribe("kiosk/room-a/cmd/result")
    async with running(fleet_settings(broker.port), kiosk) as link:
        await until(lambda: link.phase == Phase.CONNECTED, what="connected")
        assert await command(observer, "join", "PRESS") == {"command": "join", "ok": True}
        assert [c.name for c in kiosk.performed] == [CommandName.JOIN]

        reply = await command(observer, "mute_mic", '{"value": true, "id": "r-7"}')
        assert reply == {"command": "mute_mic", "ok": True, "id": "r-7"}
        assert kiosk.current.mic_muted is True

        reply = await command(observer, "mute_mic", "OFF")
        assert reply["ok"] is False and "remote unmute is off" in reply["error"]
        assert kiosk.current.mic_muted is True

        reply = await command(observer, "restart")
        assert reply["ok"] is False and "in_call" in reply["error"]
        reply = await command(observer, "screenshot")
        assert reply["ok"] is False and "mqtt.control.screenshot" in reply["error"]
        reply = await command(observer, "self_destruct")
        assert reply == {"command": "self_destruct", "ok": False, "error": "unknown command"}
        reply = await command(observer, "join", b"\xff" * 5000)
        assert "payload too large" in reply["error"]
        assert [c.name for c in kiosk.performed] == [CommandName.JOIN, CommandName.MUTE_MIC]

        reply = await command(observer, "restart", '{"force": true}')
        assert reply["ok"] is True
        assert kiosk.performed[-1].force is True
        assert link.phase == Phase.CONNECTED


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_screenshot_when_allowed(broker: Mosquitto, observer: Observer) -> None:
    kiosk = FakeKiosk(screen=(320, 180))
    await observer.client.subscribe("kiosk/room-a/#")
    settings = fleet_settings(broker.port, control=RemoteControl(screenshot=True))
    async with running(settings, kiosk) as link:
        await until(lambda: link.phase == Phase.CONNECTED, what="connected")
        reply = await command(observer, "screenshot")
        assert reply["ok"] is True
        picture = observer.payloads("kiosk/room-a/screenshot")[-1]
        assert png_size(picture) == (320, 180)
        assert reply["bytes"] == len(picture)


async def test_home_assistant_online_brings_discovery_back(
    broker: Mosquitto, observer: Observer
) -> None:
    topic = "homeassistant/device/room-a/config"
    async with running(fleet_settings(broker.port), FakeKiosk()) as link:
        await until(lambda: link.phase == Phase.CONNECTED, what="connected")
        await observer.client.publish(topic, b"", qos=1, retain=True)  # HA forgot the device
        await observer.client.subscribe(topic)
        mark = len(observer.messages)
        await observer.client.publish("homeassistant/status", b"online", qos=1)
        discovery = as_json(await observer.wait_for(topic, lambda p: p != b"", after=mark))
        assert discovery["dev"]["ids"] == ["kiosk_room-a"]


async def test_acl_refuses_another_rooms_topics(broker: Mosquitto, observer: Observer) -> None:
    await observer.client.subscribe("kiosk/#")
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username="room-a", password=USERS["room-a"]
    ) as intruder:
        spy = Observer(intruder)
        pump = asyncio.ensure_future(spy.pump())
        await intruder.subscribe("kiosk/room-b/cmd/+", qos=1)
        await intruder.subscribe("kiosk/room-a/cmd/+", qos=1)
        await intruder.publish("kiosk/room-b/cmd/restart", b"force", qos=1)
        await intruder.publish("kiosk/room-b/state", b"{}", qos=1, retain=True)
        # Same connection, same QoS: delivered in order, so once this marker arrived the
        # messages before it would have too.
        await intruder.publish("kiosk/room-a/cmd/next", b"marker", qos=1)
        await observer.wait_for("kiosk/room-a/cmd/next")
        # Reading: the console writes to room B, then to room A; room A's user sees only A.
        await observer.client.publish("kiosk/room-b/cmd/join", b"", qos=1)
        await observer.client.publish("kiosk/room-a/cmd/next", b"marker2", qos=1)
        await spy.wait_for("kiosk/room-a/cmd/next", lambda p: p == b"marker2")
        pump.cancel()
    refused = {"kiosk/room-b/cmd/restart", "kiosk/room-b/state"}
    assert not [t for t, _, _ in observer.messages if t in refused]
    assert not [t for t, _, _ in spy.messages if t.startswith("kiosk/room-b/")]


async def test_wrong_password_is_one_line_without_the_password(broker: Mosquitto) -> None:
    settings = fleet_settings(broker.port, password="not-the-password-42")
    async with running(settings, FakeKiosk()) as link:
        await until(lambda: link.last_error is not None, what="an error line")
        assert "refused" in (link.last_error or "")
        assert "not-the-password-42" not in str(link.status())
        assert link.phase in (Phase.BACKING_OFF, Phase.CONNECTING)


async def test_broker_restart_is_survived(broker: Mosquitto) -> None:
    kiosk = FakeKiosk()
    async with running(fleet_settings(broker.port), kiosk) as link:
        await until(lambda: link.phase == Phase.CONNECTED, what="connected")
        broker.stop()
        await until(lambda: link.phase == Phase.BACKING_OFF, what="backing off")
        assert link.last_error is not None
        kiosk.set(call_state="in_call")  # the room goes on without the broker
        await asyncio.sleep(0.5)  # a few failed attempts while the broker is away
        broker.start()
        await until(lambda: link.connects == 2, within=15, what="reconnected")
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="admin", password=USERS["admin"]
        ) as console:
            watcher = Observer(console)
            pump = asyncio.ensure_future(watcher.pump())
            await console.subscribe("kiosk/room-a/#")
            # The restarted broker had no retained messages: the kiosk published them again.
            assert await watcher.wait_for("kiosk/room-a/availability") == b"online"
            state = as_json(await watcher.wait_for("kiosk/room-a/state"))
            assert state["state"] == "in_call"
            pump.cancel()
        assert link.last_error is None


async def test_mqtts_with_a_ca_file(tmp_path: Path) -> None:
    require_mosquitto()
    cert = make_self_signed()
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cert.cert_pem)
    key = tmp_path / "key.pem"
    key.write_bytes(cert.key_pem)
    key.chmod(0o600)
    server = Mosquitto(tmp_path / "tls-broker", USERS, tls=(str(ca), str(ca), str(key)))
    server.start()
    try:
        tls = BrokerAddress("127.0.0.1", server.port, True)
        # Without the CA the certificate is not trusted: one line, and the link keeps trying.
        untrusted = fleet_settings(server.port, broker=tls)
        async with running(untrusted, FakeKiosk()) as link:
            await until(lambda: link.last_error is not None, what="an error line")
            assert "certificate" in (link.last_error or "").lower()
            assert "\n" not in (link.last_error or "")
            assert link.phase != Phase.CONNECTED
        trusted = fleet_settings(server.port, broker=tls, ca_file=str(ca))
        async with running(trusted, FakeKiosk()) as link:
            await until(lambda: link.phase == Phase.CONNECTED, what="connected over TLS")
            assert link.status()["broker"] == f"mqtts://127.0.0.1:{server.port}"
    finally:
        server.stop()
