"""The commands as an admin types them: real processes, real signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pygame
import pytest

from kiosk.media.patches import Patches
from kiosk.openvidu.session_model import display_name_from_metadata
from kiosk.testing.configs import loopback_kiosk_yaml
from kiosk.testing.rooms import Room, loopback_room

pytestmark = pytest.mark.integration  # real aiortc peers / child processes

ENV = {
    **os.environ,
    "SDL_VIDEODRIVER": "dummy",
    "SDL_AUDIODRIVER": "dummy",
    "DISPLAY": "",
    "WAYLAND_DISPLAY": "",
    "PYTHONUNBUFFERED": "1",
}


def kiosk(*args: str) -> list[str]:
    return [sys.executable, "-m", "kiosk.cli", *args]


def test_demo_runs_headless_and_writes_a_screenshot(tmp_path: Path) -> None:
    shot = tmp_path / "demo.png"
    proc = subprocess.run(
        kiosk(
            "demo",
            "--duration",
            "15",
            "--port",
            "0",
            "--status-port",
            "0",
            "--screenshot",
            str(shot),
        ),
        capture_output=True,
        text=True,
        timeout=90,
        env=ENV,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kiosk demo: status http://127.0.0.1:" in proc.stdout
    # The join is the calendar's: the demo room's calendar books the meeting on the dev server.
    assert "kiosk demo: calendar books 'Demo meeting'" in proc.stdout
    assert "calendar: joining session DemoRoom for 'Demo meeting'" in proc.stdout + proc.stderr
    assert re.search(
        r'"state": "in_call", "participants": \["Alice \d+ fps", "Bob \d+ fps", '
        r'"Carol \d+ fps"\]',
        proc.stdout,
    ), proc.stdout
    image = pygame.image.load(str(shot))
    assert image.get_size() == (1920, 1080)
    assert "MY_SECRET" not in proc.stdout + proc.stderr
    assert "tok_" not in proc.stdout + proc.stderr


def test_run_with_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "k.yaml"
    cfg.write_text("server: {url: 'ftp://x'}\nsession: {id: Room}\n")
    proc = subprocess.run(
        kiosk("run", "--config", str(cfg)), capture_output=True, text=True, timeout=60, env=ENV
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "server.url: expected https://… or http://…, got 'ftp://x' (line 1)"
    ]
    missing = subprocess.run(
        kiosk("run", "--config", str(tmp_path / "nope.yaml")),
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr + missing.stderr


@pytest.fixture
async def one_bot_room(loopback_ice: Patches) -> AsyncIterator[Room]:
    async with loopback_room(1) as room:
        yield room


async def test_run_joins_and_sigterm_leaves_cleanly_within_5_s(
    tmp_path: Path, one_bot_room: Room
) -> None:
    server = one_bot_room.server
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(
        loopback_kiosk_yaml(
            server.url,
            secret=None,
            server={"secret_file": "secret"},
            session={"name": "Room 4.01"},
            logging={"format": "journald"},
        )
    )
    (tmp_path / "secret").write_text("MY_SECRET\n")
    spawned = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *kiosk("run", "--config", str(cfg)),
        env=ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    log: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            log.append(line)
            if m := re.search(r"status: (http://127\.0\.0\.1:\d+)/status", line):
                url = m.group(1)
        assert url, "".join(log)
        # Boot to call: process start → first remote frame drawn (Python start-up included).
        first_frame = None
        while first_frame is None and time.monotonic() < deadline:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            log.append(line)
            if "first remote frame on screen" in line:
                first_frame = time.monotonic() - spawned
        assert first_frame is not None, "".join(log)
        print(f"boot to call: process start → first remote frame drawn {first_frame:.2f} s")
        assert first_frame < 15
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            for _ in range(200):
                if (await http.get("/status")).json()["state"] == "in_call":
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("kiosk run never reached the call")
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.wait_for(proc.wait(), 10)
        elapsed = time.monotonic() - started
        rest = (await proc.stderr.read()).decode()
        log.append(rest)
        assert code == 0, "".join(log)[-3000:]
        assert elapsed < 5.0
        # journald form: priority prefixes, no timestamps; and no secret in any line
        text = "".join(log)
        assert re.search(r"^<6>kiosk\.", text, re.M)
        assert "MY_SECRET" not in text and "tok_" not in text
        # it left with leaveRoom: at once, only the bot is still in the session
        active = [
            display_name_from_metadata(c.client_data or "")
            for s in server.state.sessions.values()
            for c in s.connections.values()
            if c.status == "active"
        ]
        assert active == ["Alice"]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
