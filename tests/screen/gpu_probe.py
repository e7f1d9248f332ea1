"""Draw a known scene through a display's frame painter and read the screen back.

Used in-process by tests/screen/test_frame_painter.py (dummy driver) and as a child process
for real SDL renderers under Xvfb (``python -m tests.screen.gpu_probe DRAWING``; prints JSON),
so OpenGL never loads into the test process.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import av
import numpy as np

from kiosk.screen.display import Display, DisplaySettings, Drawing
from kiosk.screen.layout import Rect, fit_rect
from kiosk.screen.renderer import Renderer
from kiosk.screen.roomview import RoomView, TileInfo

SIZE = (960, 540)
RED = (230, 20, 20)
GREEN = (20, 200, 40)
BLUE = (20, 60, 230)
WHITE = (240, 240, 240)
YELLOW = (230, 200, 30)


class Source:
    """A FrameSource holding one yuv420p frame; ``show`` pretends a new one arrived."""

    def __init__(self, picture: np.ndarray[Any, Any]) -> None:
        self.frame_count = 0
        self.frame: av.VideoFrame | None = None
        self.show(picture)

    def show(self, picture: np.ndarray[Any, Any]) -> None:
        self.frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        self.frame_count += 1

    def latest(self) -> av.VideoFrame | None:
        return self.frame


def quadrants(
    tl: tuple[int, int, int],
    tr: tuple[int, int, int],
    bl: tuple[int, int, int],
    br: tuple[int, int, int],
    w: int = 640,
    h: int = 480,
) -> np.ndarray[Any, Any]:
    pic = np.empty((h, w, 3), np.uint8)
    pic[: h // 2, : w // 2] = tl
    pic[: h // 2, w // 2 :] = tr
    pic[h // 2 :, : w // 2] = bl
    pic[h // 2 :, w // 2 :] = br
    return pic


def _quadrant_points(d: Rect) -> list[tuple[int, int]]:
    return [
        (d.x + d.w // 4, d.y + d.h // 4),
        (d.x + 3 * d.w // 4, d.y + d.h // 4),
        (d.x + d.w // 4, d.y + 3 * d.h // 4 - d.h // 8),
        (d.x + 3 * d.w // 4, d.y + 3 * d.h // 4 - d.h // 8),
    ]


def _sample(rgb: bytes, w: int, h: int, points: list[tuple[int, int]]) -> list[list[int]]:
    pixels = np.frombuffer(rgb, np.uint8).reshape(h, w, 3)
    return [[int(c) for c in pixels[y, x]] for x, y in points]


def draw_known_scene(display: Display) -> dict[str, Any]:
    """Main view: quadrants red/green/blue/white; one thumbnail: yellow. Then only the main
    picture changes (green top-left). Returns colours read back at known places and counters."""
    renderer = Renderer(display.surface, painter=display.painter)
    main = Source(quadrants(RED, GREEN, BLUE, WHITE))
    thumb = Source(np.full((240, 320, 3), YELLOW, np.uint8))
    view = RoomView(
        "in_call",
        room_name="Probe",
        tiles=[TileInfo("a", "Alice", frames=main), TileInfo("b", "Bob", frames=thumb)],
        main_id="a",
    )
    display.update(renderer.draw(view, 0.0))
    layout = renderer.layout
    assert layout is not None
    main_dest = fit_rect(640, 480, layout.main)
    t = layout.tiles[0].rect
    thumb_point = (t.x + t.w // 2, t.y + t.h // 4)
    points = [*_quadrant_points(main_dest), thumb_point]
    first = _sample(*display.read_rgb(), points)
    conversions = display.painter.conversions
    main.show(quadrants(GREEN, GREEN, BLUE, WHITE))
    dirty = renderer.draw(view, 1 / 60)
    display.update(dirty)
    second = _sample(*display.read_rgb(), points)
    return {
        "renderer": display.renderer_name,
        "accelerated": display.accelerated,
        "gl_renderer": display.gl_renderer,
        "first": first,
        "second": second,
        "frames_uploaded": display.painter.conversions - conversions,
        "dirty_area": sum(r.w * r.h for r in dirty),
        "video_area": main_dest.w * main_dest.h,
    }


def main() -> int:
    drawing: Drawing = sys.argv[1]  # type: ignore[assignment]
    display = Display(DisplaySettings(driver="x11", fullscreen=False, size=SIZE, drawing=drawing))
    try:
        display.open()
    except Exception as exc:  # the test reports why the renderer could not start
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 0
    try:
        print(json.dumps(draw_known_scene(display)))
    finally:
        display.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
