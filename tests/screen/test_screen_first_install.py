"""What the screen got wrong on a first install (issue 15, item 9): display.size ignored with
fullscreen on the dummy driver, error reasons cut before their useful end, the main participant
also in the strip, "<name> joined" toasts for people already in the room."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pygame
import pytest

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.bot import BotOptions, run_bots
from kiosk.config import parse_config
from kiosk.devserver.media import AiortcMediaBackend
from kiosk.devserver.server import DevServer, DevServerOptions
from kiosk.media import ice
from kiosk.media.patches import Patches
from kiosk.screen.pages import StatePainter
from kiosk.screen.renderer import Renderer
from kiosk.screen.roomview import RoomView, TileInfo
from kiosk.screen.theme import Sizes, TextCache
from kiosk.testing.waits import wait_until

REPO = Path(__file__).resolve().parents[2]
SETTINGS = ice.IceSettings.loopback()


def test_display_size_is_kept_with_fullscreen_on_the_dummy_driver(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        from kiosk.screen.display import Display, DisplaySettings
        d = Display(DisplaySettings(driver="dummy", fullscreen=True, size=(800, 600)))
        print(d.open().get_size())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(800, 600)"


def test_error_reason_keeps_its_end() -> None:
    pygame.font.init()
    reason = (
        "token: certificate of openvidu.example.org:4443 is not trusted "
        "(POST /openvidu/api/sessions); set server.ca_file or server.verify_tls: false"
    )
    sizes = Sizes.for_screen(640, 360)
    painter = StatePainter(TextCache(), sizes)
    max_w = 640 - 2 * 32
    lines = painter._wrapped(reason, sizes.line, max_w, 3)
    assert len(lines) > 1
    assert lines[-1].endswith("server.verify_tls: false")
    font = painter.text.font(sizes.line)
    assert all(font.size(line)[0] <= max_w for line in lines)
    many = painter._wrapped(" ".join(["word"] * 200) + " the end", sizes.line, max_w, 3)
    assert len(many) == 3 and many[-1].startswith("… ") and many[-1].endswith("the end")
    surface = pygame.Surface((640, 360))
    Renderer(surface).draw(RoomView("error", room_name="Lobby", status_line=reason), 0.0)


def test_main_participant_is_not_also_a_thumbnail() -> None:
    pygame.font.init()
    surface = pygame.Surface((1280, 720))
    tiles = [TileInfo("self", "Lobby", is_self=True), TileInfo("a", "Alice"), TileInfo("b", "Bob")]
    r = Renderer(surface)
    r.draw(RoomView("in_call", room_name="Lobby", tiles=tiles, main_id="a"), 0.0)
    assert r.layout is not None
    assert [t.id for t in r.layout.tiles] == ["self", "b"]


@pytest.mark.timeout(120)
async def test_no_joined_toast_for_people_already_in_the_room(
    caplog: pytest.LogCaptureFixture, loopback_ice: Patches
) -> None:
    caplog.set_level(logging.INFO, logger="kiosk")
    server = DevServer(DevServerOptions(port=0, tls=False), media=AiortcMediaBackend(SETTINGS))
    await server.start()
    stop_first, stop_second = asyncio.Event(), asyncio.Event()

    def bots(name: str, stop: asyncio.Event) -> asyncio.Task[object]:
        options = BotOptions(
            server=server.url,
            session="Room",
            secret="MY_SECRET",
            name=name,
            count=1,
            width=160,
            height=120,
            fps=5,
            audio=False,
            ice=SETTINGS,
        )
        return asyncio.create_task(run_bots(options, stop))

    first = bots("Early Bird", stop_first)
    second: asyncio.Task[object] | None = None
    kiosk: Kiosk | None = None
    run: asyncio.Task[int] | None = None
    try:
        await wait_until(
            lambda: any(len(s.connections) for s in server.state.sessions.values()), 20, "bot"
        )
        kiosk = Kiosk(
            parse_config(f"""
server: {{url: "{server.url}", secret: MY_SECRET}}
session: {{id: Room, name: "Lobby kiosk"}}
ice: {{host_addresses: ["127.0.0.1"], loopback_only: true}}
media: {{camera: {{device: none}}, microphone: {{device: none}}, speaker: {{device: none}}}}
display: {{driver: dummy, size: 320x240, fullscreen: false, max_fps: 10}}
status: {{enabled: false}}
""")
        )
        run = asyncio.create_task(kiosk.run())
        k = kiosk
        await wait_until(lambda: k.machine.state == m.CallState.IN_CALL, 30, "in call")
        second = bots("Late Comer", stop_second)
        await wait_until(
            lambda: any("Late Comer joined" in t.text for t in k.toasts), 30, "the late toast"
        )
        toasts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("toast:")]
        assert "toast: Late Comer joined" in toasts
        assert not any("Early Bird" in t for t in toasts), toasts
    finally:
        if kiosk is not None and run is not None:
            kiosk.stop.set()
            await asyncio.wait_for(run, 15)
        stop_first.set()
        stop_second.set()
        for task in (first, second):
            if task is not None:
                await asyncio.wait_for(task, 15)
        await server.stop()
