"""The fleet link in its own process: the Last Will after SIGKILL, and a flood of bad commands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from kiosk.testing.mosquitto import Mosquitto
from tests.fleet.fleet_harness import USERS, Observer, as_json

pytestmark = pytest.mark.integration  # kiosk child processes and a real Mosquitto

CHILD = Path(__file__).with_name("fleet_child.py")


@pytest.fixture
def child(broker: Mosquitto, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    password = tmp_path / "room-a.password"
    password.write_text(USERS["room-a"] + "\n")
    log = open(tmp_path / "child.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, str(CHILD), str(broker.port), "room-a", str(password)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        log.close()
        text = (tmp_path / "child.log").read_text(errors="replace")
        assert USERS["room-a"] not in text  # the password never reaches a log line


async def test_sigkill_leaves_the_will_offline(
    child: subprocess.Popen[bytes], observer: Observer
) -> None:
    await observer.client.subscribe("kiosk/room-a/availability")
    assert await observer.wait_for("kiosk/room-a/availability", within=20) == b"online"
    mark = len(observer.messages)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert await observer.wait_for("kiosk/room-a/availability", after=mark) == b"offline"


def _malformed(i: int) -> tuple[str, bytes]:
    kinds = [
        ("join", b"\xff\xfe" * 20),
        ("join", b"{" * 200),
        ("bogus", b""),
        ("mute_mic", b'{"value": "maybe"}'),
        ("join", os.urandom(16384)),  # over the size limit
        ("restart", b"[1,2,3]"),
    ]
    return kinds[i % len(kinds)]


async def test_a_flood_of_malformed_commands_keeps_memory_flat(
    child: subprocess.Popen[bytes], observer: Observer
) -> None:
    await observer.client.subscribe("kiosk/room-a/#")
    await observer.wait_for("kiosk/room-a/state", within=20)
    process = psutil.Process(child.pid)

    async def flood(count: int) -> None:
        for i in range(count):
            name, payload = _malformed(i)
            await observer.client.publish(f"kiosk/room-a/cmd/{name}", payload, qos=0)
            if i % 50 == 49:
                await asyncio.sleep(0)  # let the console's own socket drain

    async def answers_a_good_command() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while loop.time() < deadline:
            mark = len(observer.messages)
            await observer.client.publish("kiosk/room-a/cmd/next", b'{"id": "ping"}', qos=1)
            try:
                reply = await observer.wait_for(
                    "kiosk/room-a/cmd/result",
                    lambda p: as_json(p).get("id") == "ping",
                    within=1.0,
                    after=mark,
                )
            except AssertionError:
                continue  # still over the rate limit: dropped without a reply
            assert as_json(reply)["ok"] is True
            return
        raise AssertionError("no reply to a good command after the flood")

    await flood(300)  # warm up: allocator pools, logging, caches
    await answers_a_good_command()
    before = process.memory_info().rss
    replies_before = len(observer.payloads("kiosk/room-a/cmd/result"))
    await flood(1000)  # about 2.8 MB of garbage
    await answers_a_good_command()
    after = process.memory_info().rss
    assert child.poll() is None, "the fleet link died"
    growth = after - before
    print(f"RSS {before} -> {after} bytes over 1,000 malformed commands")
    assert growth < 1_000_000, f"RSS grew by {growth} bytes over 1,000 malformed commands"
    # Over the rate limit nothing is answered: the flood did not turn into a reply flood.
    replies = len(observer.payloads("kiosk/room-a/cmd/result")) - replies_before
    assert replies < 100, f"{replies} replies to 1,000 commands"
