"""The fleet link in the real kiosk: a real Mosquitto, the dev server with two bots, and the kiosk
drawing on the dummy display. A separate MQTT client is the fleet console."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.config import parse_config
from kiosk.devserver.server import DevServer
from kiosk.media.patches import Patches
from kiosk.openvidu.session_model import display_name_from_metadata
from kiosk.testing.mosquitto import Mosquitto
from kiosk.testing.rooms import loopback_room
from tests.fleet.fleet_harness import USERS, Observer, as_json, require_program

pytestmark = pytest.mark.integration  # the kiosk, the dev server, bots and a real Mosquitto

KIOSK_NAME = "Room A kiosk"
STATE = "kiosk/room-a/state"
RESULT = "kiosk/room-a/cmd/result"


def config_text(
    server_url: str, broker: Mosquitto, password_file: Path, *, auto_join: bool, extra: str = ""
) -> str:
    return f"""
server: {{url: "{server_url}", secret: MY_SECRET, timeout_seconds: 3}}
session: {{id: Room, name: "{KIOSK_NAME}", auto_join: {str(auto_join).lower()}}}
ice: {{host_addresses: ["127.0.0.1"], loopback_only: true}}
display: {{driver: dummy, size: 960x540, fullscreen: false, max_fps: 30}}
media:
  camera: {{device: test-pattern}}
  microphone: {{device: test-tone}}
  speaker: {{device: none}}
status: {{listen: "127.0.0.1:0"}}
logging: {{level: INFO, format: plain}}
mqtt:
  enabled: true
  url: mqtt://127.0.0.1:{broker.port}
  room_id: room-a
  username: room-a
  password_file: {password_file}
{extra}
"""


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "mqtt-password"
    path.write_text(USERS["room-a"] + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
async def server(loopback_ice: Patches) -> AsyncIterator[DevServer]:
    async with loopback_room(2) as room:
        yield room.server


KioskFactory = Callable[..., Awaitable[Kiosk]]


@pytest.fixture
async def start_kiosk(
    server: DevServer, broker: Mosquitto, password_file: Path
) -> AsyncIterator[KioskFactory]:
    running: list[tuple[Kiosk, asyncio.Task[int]]] = []

    async def start(*, auto_join: bool = False, extra: str = "") -> Kiosk:
        text = config_text(server.url, broker, password_file, auto_join=auto_join, extra=extra)
        k = Kiosk(parse_config(text))
        running.append((k, asyncio.create_task(k.run())))
        await asyncio.wait_for(k.ready.wait(), 20)
        return k

    try:
        yield start
    finally:
        for k, task in running:
            k.post(m.Shutdown())
            await asyncio.wait_for(task, 20)


async def until(cond: Any, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


def frames(k: Kiosk) -> int:
    media = k.media
    return sum(f.frame_count for f in media.frames.values()) if media is not None else 0


def kiosk_stream_audio_active(server: DevServer) -> bool | None:
    for session in server.state.sessions.values():
        for conn in session.connections.values():
            name = display_name_from_metadata(conn.client_data or "")
            if conn.status == "active" and name == KIOSK_NAME and conn.stream is not None:
                return conn.stream.audio_active
    return None


async def send(observer: Observer, name: str, payload: str = "") -> dict[str, Any]:
    mark = len(observer.messages)
    await observer.client.publish(f"kiosk/room-a/cmd/{name}", payload, qos=1)
    reply: dict[str, Any] = as_json(await observer.wait_for(RESULT, after=mark, within=15))
    return reply


def promtool_check(tool: str, text: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [tool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_console_joins_mutes_and_takes_a_screenshot(
    start_kiosk: KioskFactory, server: DevServer, observer: Observer
) -> None:
    kiosk = await start_kiosk(extra="  control: {screenshot: true}")
    await observer.client.subscribe("kiosk/room-a/#")
    state = as_json(await observer.wait_for(STATE, within=20))
    assert state["state"] == "idle"  # auto_join is off: the console starts the call

    assert (await send(observer, "join"))["ok"] is True
    await until(lambda: frames(kiosk) > 30, 30, "frames from the bots on screen")
    in_call = as_json(
        await observer.wait_for(
            STATE,
            lambda p: as_json(p)["state"] == "in_call" and as_json(p)["participants"] == 2,
            within=15,
        )
    )
    assert in_call["server_reachable"] is True
    assert sorted(in_call["participant_names"]) == sorted(
        p["name"] for p in kiosk.status()["participants"]
    )

    assert (await send(observer, "mute_mic", "ON"))["ok"] is True
    await until(lambda: kiosk_stream_audio_active(server) is False, 15, "server: audioActive false")
    muted = await observer.wait_for(STATE, lambda p: as_json(p)["mic_muted"] is True, within=10)
    assert as_json(muted)["state"] == "in_call"
    # Remote unmute is off by default: refused, and the server still hears nothing.
    reply = await send(observer, "mute_mic", "OFF")
    assert reply["ok"] is False and "unmute" in reply["error"]
    assert kiosk_stream_audio_active(server) is False

    mark = len(observer.messages)
    reply = await send(observer, "screenshot")
    assert reply["ok"] is True
    picture = await observer.wait_for("kiosk/room-a/screenshot", after=mark, within=5)
    assert png_size(picture) == (960, 540)

    # /status and /metrics carry per-participant audio level and speaking.
    assert kiosk.status_server is not None
    async with httpx.AsyncClient(base_url=kiosk.status_server.url, timeout=5) as http:
        status = (await http.get("/status")).json()
        metrics = (await http.get("/metrics")).text
    assert all("audio_level_dbfs" in p and "speaking" in p for p in status["participants"])
    assert status["fleet"]["phase"] == "connected"
    assert "kiosk_speaking{" in metrics and "kiosk_frames_received_total{" in metrics
    # The real endpoint's output, in a call, is what Prometheus accepts.
    check = promtool_check(require_program("promtool", "prometheus"), metrics)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == b"" and check.stderr.strip() == b"", check.stderr

    assert (await send(observer, "leave"))["ok"] is True
    await observer.wait_for(STATE, lambda p: as_json(p)["state"] == "idle", within=15)


async def test_console_puts_the_display_to_standby_and_wakes_it(
    start_kiosk: KioskFactory, observer: Observer
) -> None:
    kiosk = await start_kiosk(extra="standby: {enabled: true, method: black}")
    await observer.client.subscribe("kiosk/room-a/#")
    await observer.wait_for(STATE, within=20)

    # Wake first: an idle room with standby enabled may already be dark.
    def console_sees() -> str:
        states = [payload for topic, payload, _ in observer.messages if topic == STATE]
        return str(as_json(states[-1])["display"]) if states else ""

    for payload, mode in (("OFF", "on"), ("ON", "standby"), ("OFF", "on")):
        assert (await send(observer, "standby", payload))["ok"] is True
        shown = f"display {mode}"
        await until(lambda m=mode: kiosk.status()["display"]["mode"] == m, 10, shown)
        await until(lambda m=mode: console_sees() == m, 10, f"the console seeing {shown}")


async def test_flood_and_broker_restart_leave_the_call_alone(
    start_kiosk: KioskFactory, broker: Mosquitto, observer: Observer
) -> None:
    mosquitto_pub = require_program("mosquitto_pub", "mosquitto-clients")
    kiosk = await start_kiosk(auto_join=True)
    await until(lambda: frames(kiosk) > 30, 40, "in the call with frames")
    assert kiosk.fleet is not None
    await until(lambda: kiosk.fleet is not None and kiosk.fleet.phase == "connected", 10, "link")
    process = psutil.Process()

    async def flood(count: int) -> None:
        # From another process (mosquitto_pub, one message per line), as a console would send.
        lines = b"".join(
            (os.urandom(1500).replace(b"\n", b"x") if i % 2 else b"{" * 50) + b"\n"
            for i in range(count)
        )
        pub = await asyncio.create_subprocess_exec(
            mosquitto_pub,
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-u",
            "admin",
            "-P",
            USERS["admin"],
            "-t",
            "kiosk/room-a/cmd/join",
            "-l",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
        )
        await asyncio.wait_for(pub.communicate(lines), 30)
        assert pub.returncode == 0

    start = frames(kiosk)
    await until(lambda: frames(kiosk) > start + 30, 15, "frames arriving before the flood")
    await flood(200)  # warm-up
    await asyncio.sleep(1)
    before_rss, before_frames = process.memory_info().rss, frames(kiosk)
    await flood(1000)
    drawn = kiosk.renderer.stats.draws if kiosk.renderer else 0
    await until(lambda: frames(kiosk) > before_frames + 30, 30, "frames still arriving")
    await until(
        lambda: kiosk.renderer is not None and kiosk.renderer.stats.draws > drawn + 10,
        15,
        "the screen still drawing",
    )
    growth = process.memory_info().rss - before_rss
    # The whole test process (dev server, bots, kiosk) shares this RSS: a generous bound that a
    # leak of the 1 MB flood would still break if it were kept several times over.
    assert growth < 8_000_000, f"RSS grew {growth} bytes over 1,000 malformed commands"
    assert str(kiosk.machine.state) == "in_call"

    broker.stop()
    await until(lambda: kiosk.fleet is not None and kiosk.fleet.phase == "backing_off", 15, "down")
    before = frames(kiosk)
    await until(lambda: frames(kiosk) > before + 30, 15, "frames while the broker is away")
    assert str(kiosk.machine.state) == "in_call"
    broker.start()
    await until(lambda: kiosk.fleet is not None and kiosk.fleet.connects >= 2, 20, "reconnected")
    assert str(kiosk.machine.state) == "in_call"


@pytest.fixture
def kiosk_process(
    tmp_path: Path, broker: Mosquitto, password_file: Path
) -> Iterator[subprocess.Popen[bytes]]:
    config = tmp_path / "kiosk.yaml"
    # No server answers on port 9 (discard): the kiosk stays on its idle screen, the link up.
    config.write_text(config_text("http://127.0.0.1:9", broker, password_file, auto_join=False))
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    log = (tmp_path / "kiosk.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "run", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    log.close()
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        text = (tmp_path / "kiosk.log").read_text(errors="replace")
        assert USERS["room-a"] not in text  # the password never reaches the log


async def test_kiosk_killed_with_sigkill_goes_offline(
    kiosk_process: subprocess.Popen[bytes], observer: Observer
) -> None:
    await observer.client.subscribe("kiosk/room-a/availability")
    await observer.client.subscribe(STATE)
    await observer.wait_for("kiosk/room-a/availability", lambda p: p == b"online", within=40)
    await observer.wait_for(STATE, within=10)
    mark = len(observer.messages)
    os.kill(kiosk_process.pid, signal.SIGKILL)
    kiosk_process.wait(10)
    offline = await observer.wait_for("kiosk/room-a/availability", after=mark, within=15)
    assert offline == b"offline"


async def test_restart_command_ends_the_kiosk_cleanly_and_says_offline(
    kiosk_process: subprocess.Popen[bytes], observer: Observer
) -> None:
    await observer.client.subscribe("kiosk/room-a/availability")
    await observer.client.subscribe(RESULT)
    await observer.wait_for("kiosk/room-a/availability", lambda p: p == b"online", within=40)
    mark = len(observer.messages)
    assert (await send(observer, "restart"))["ok"] is True  # idle: no force needed
    offline = await observer.wait_for("kiosk/room-a/availability", after=mark, within=15)
    assert offline == b"offline"
    await until(lambda: kiosk_process.poll() is not None, 15, "the kiosk process exited")
    # systemd (Restart=always) starts it again; here it has simply exited, cleanly.
    assert kiosk_process.returncode == 0
