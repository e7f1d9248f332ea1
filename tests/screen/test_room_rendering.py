"""Gallery, standby, in-call information and the idle agenda as drawn by the renderer."""

from __future__ import annotations

import av
import numpy as np
import pygame

from kiosk.screen import theme
from kiosk.screen.layout import Rect
from kiosk.screen.renderer import Renderer
from kiosk.screen.roomview import RoomView, TileInfo
from tests.screen.conftest import SCREEN_SIZE

W, H = SCREEN_SIZE
COLORS = [(230, 20, 20), (20, 200, 40), (20, 60, 230), (230, 200, 20)]


class Solid:
    def __init__(self, color: tuple[int, int, int]) -> None:
        self.frame_count = 1
        self.frame = av.VideoFrame.from_ndarray(
            np.full((360, 640, 3), color, np.uint8), format="rgb24"
        )

    def latest(self) -> av.VideoFrame | None:
        return self.frame


def color_at(surface: pygame.Surface, r: Rect) -> tuple[int, int, int]:
    c = surface.get_at(r.center)
    return (c.r, c.g, c.b)


def near(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return all(abs(p - q) <= 16 for p, q in zip(a, b, strict=True))


def tiles(n: int) -> list[TileInfo]:
    return [TileInfo(id=f"c{i}", name=f"P{i}", frames=Solid(COLORS[i % 4])) for i in range(n)]


def test_gallery_draws_each_participant_in_its_own_equal_tile(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    view = RoomView(state="in_call", tiles=tiles(4), layout="gallery", call_info="Room 4 · 10:00")
    r.draw(view, 0.0)
    gallery = r._gallery
    assert gallery is not None and len(gallery.tiles) == 4
    assert len({slot.rect.size for slot in gallery.tiles}) == 1
    for i, slot in enumerate(gallery.tiles):
        assert near(color_at(surface, slot.rect), COLORS[i])
    # the information line sits above the grid, on its own band
    assert all(slot.rect.y > 0 for slot in gallery.tiles)
    assert near(tuple(surface.get_at((4, 4)))[:3], theme.TOAST_BG[:3])  # type: ignore[arg-type]


def test_speaker_view_leaves_the_info_band_free(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    r.draw(RoomView(state="in_call", tiles=tiles(2), call_info="Room 4"), 0.0)
    layout = r.layout
    assert layout is not None and layout.main.y > 0
    r2 = Renderer(pygame.Surface((W, H)))
    r2.draw(RoomView(state="in_call", tiles=tiles(2)), 0.0)
    assert r2.layout is not None and r2.layout.main.y == 0


def test_standby_is_black_and_drawn_once(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    r.draw(RoomView(state="idle", room_name="Room 4", clock_text="10:00"), 0.0)
    view = RoomView(state="in_call", tiles=tiles(3), standby=True)
    assert r.draw(view, 1.0)
    arr = pygame.surfarray.array3d(surface)
    assert arr.max() == 0
    assert r.draw(view, 2.0) == []
    assert r.stats.video_blits == 0


def test_idle_agenda_changes_the_page(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    base = RoomView(state="idle", room_name="Room 4", clock_text="10:00")
    r.draw(base, 0.0)
    before = pygame.surfarray.array3d(surface).copy()
    with_agenda = RoomView(
        state="idle",
        room_name="Room 4",
        clock_text="10:00",
        agenda=(("10:30–11:00", "Stand-up", "in 30 min"),),
    )
    assert r.draw(with_agenda, 1.0)
    after = pygame.surfarray.array3d(surface)
    changed = np.nonzero((before != after).any(axis=2))
    assert changed[1].min() > H * 0.5  # drawn in the lower half, under the join hint
