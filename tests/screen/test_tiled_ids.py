"""tiled_ids: who has a picture on screen — exactly the tiles the renderer draws."""

from __future__ import annotations

from typing import Literal

import pygame
import pytest

from kiosk.screen.layout import tiled_ids
from kiosk.screen.renderer import Renderer
from kiosk.screen.roomview import RoomView, TileInfo


def drawn_ids(renderer: Renderer, view: RoomView) -> set[str]:
    """What the renderer actually placed after a draw (main view + strip, or the grid)."""
    if view.layout == "gallery":
        gallery = renderer._gallery  # the grid of the last draw
        assert gallery is not None
        return {t.id for t in gallery.tiles}
    layout = renderer.layout
    assert layout is not None
    main = next((t.id for t in view.tiles if t.id == view.main_id), view.tiles[0].id)
    return {main, *(t.id for t in layout.tiles)}


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (720, 1280), (640, 360)])
@pytest.mark.parametrize("count", [1, 4, 8, 16])
@pytest.mark.parametrize("layout", ["speaker", "gallery"])
@pytest.mark.parametrize("info", ["", "Room · 10:00"])
def test_tiled_ids_are_what_the_renderer_draws(
    size: tuple[int, int], count: int, layout: Literal["speaker", "gallery"], info: str
) -> None:
    pygame.font.init()
    renderer = Renderer(pygame.Surface(size))
    tiles = (
        TileInfo(id="self", name="You", is_self=True),
        *(TileInfo(id=f"con_{i}", name=f"Person {i}") for i in range(count)),
    )
    view = RoomView(state="in_call", tiles=tiles, main_id="con_2", layout=layout, call_info=info)
    expected = renderer.tiled_ids(view)  # asked before the first draw, as the kiosk may
    renderer.draw(view, 0.0)
    assert set(expected) == drawn_ids(renderer, view)


def test_room_of_16_on_1080p_leaves_the_overflow_out() -> None:
    ids = [f"con_{i}" for i in range(16)]
    shown = tiled_ids(1920, 1080, ids, "con_9")
    assert shown[0] == "con_9"  # the main view first
    assert 1 < len(shown) < 16
    assert shown[1:] == tuple(i for i in ids if i != "con_9")[: len(shown) - 1]
    gallery = tiled_ids(1920, 1080, ids, "con_9", layout="gallery")
    # 9 cells: 8 pictures and "+8"; the speaker (con_9) is never hidden: it takes the last
    # picture's place, the others keep theirs.
    assert gallery == (*ids[:7], "con_9")
    assert tiled_ids(1920, 1080, ids, "con_3", layout="gallery") == tuple(ids[:8])
