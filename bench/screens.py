"""Render every room state to docs/screens/*.png (1920x1080, the dummy display).

    python bench/screens.py

The in-call picture uses live test-pattern frames, so these are what a room would see.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import av
import pygame

from kiosk.media.testpattern import PatternRenderer
from kiosk.screen.renderer import Renderer, screenshot
from kiosk.screen.roomview import RoomView, TileInfo, Toast


class _Frames:
    def __init__(self, name: str) -> None:
        image = PatternRenderer(name).render(time.time())
        self._frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        self.frame_count = 1

    def latest(self) -> av.VideoFrame:
        return self._frame


def views() -> dict[str, RoomView]:
    names = ["Alice", "Bob", "Carol", "Dave"]
    tiles = [TileInfo("self", "You", is_self=True, frames=_Frames("Meeting room 4.01"))]
    tiles += [
        TileInfo(
            f"con_{n}",
            n,
            mic_muted=(n == "Bob"),
            video_active=(n != "Dave"),
            speaking=(n == "Alice"),
            frames=_Frames(n),
        )
        for n in names
    ]
    now = time.monotonic()
    room = "Meeting room 4.01"
    return {
        "idle": RoomView("idle", room, "Not in a call", True, "09:41"),
        "joining": RoomView("joining", room, "Joining DemoRoom…", True, "09:41", progress=0.4),
        "in_call": RoomView(
            "in_call",
            room,
            "In call",
            True,
            "09:41",
            tiles=tiles,
            main_id="con_Alice",
            toasts=(Toast("Carol joined", now + 5),),
        ),
        "reconnecting": RoomView(
            "reconnecting",
            room,
            "Reconnecting: server unreachable (openvidu.example.org:4443) — next try in 8 s",
            False,
            "09:41",
        ),
        "error": RoomView(
            "error",
            room,
            "Wrong OpenVidu secret (HTTP 401 from POST /openvidu/api/sessions)",
            True,
            "09:41",
            detail="Check /etc/kiosk/openvidu-secret; next try in 5 min",
        ),
        # Room features: the idle screen with the calendar's agenda, the gallery with the
        # in-call information line, and standby (the display asleep: black, nothing drawn).
        "idle_agenda": RoomView(
            "idle",
            room,
            "Not in a call",
            True,
            "09:41",
            agenda=(
                ("10:00–10:30", "Team stand-up", "in 19 min"),
                ("11:00–12:00", "Design review", "in 1 h 19 min"),
                ("14:00–15:00", "Partner call (another server)", "in 4 h 19 min"),
            ),
        ),
        "gallery": RoomView(
            "in_call",
            room,
            "In call",
            True,
            "09:41",
            tiles=tiles,
            layout="gallery",
            call_info=f"{room} · 09:41 · in call 12:05",
        ),
        "gallery_overflow": RoomView(
            "in_call",
            room,
            "In call",
            True,
            "09:41",
            layout="gallery",
            call_info=f"{room} · 09:41 · in call 47:30",
            tiles=tiles
            + [TileInfo(f"con_x{i}", f"Guest {i}", frames=_Frames(f"Guest {i}")) for i in range(7)],
        ),
        "standby": RoomView("idle", room, "Not in a call", True, "09:41", standby=True),
    }


def main(out: Path = Path("docs/screens")) -> int:
    pygame.display.init()
    pygame.font.init()
    surface = pygame.display.set_mode((1920, 1080))
    out.mkdir(parents=True, exist_ok=True)
    for name, view in views().items():
        renderer = Renderer(surface)
        renderer.draw(view, time.monotonic())
        (out / f"{name}.png").write_bytes(screenshot(surface))
        print(out / f"{name}.png")
    pygame.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
