"""Pure gallery layout: equal grid up to 9, "+N" beyond, own camera in or out, auto choice."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.screen.callinfo import call_info_line, format_duration
from kiosk.screen.layout import (
    GalleryLayout,
    Rect,
    choose_layout,
    compute_gallery,
    gallery_ids,
)

SCREEN = Rect(0, 0, 1920, 1080)


def people(n: int) -> list[str]:
    return [f"con_{i}" for i in range(n)]


def rects(g: GalleryLayout) -> list[Rect]:
    found = [s.rect for s in g.tiles]
    if g.overflow:
        found.append(g.overflow.rect)
    return found


@pytest.mark.parametrize(
    ("n", "cols", "rows"),
    [(1, 1, 1), (2, 2, 1), (3, 2, 2), (4, 2, 2), (5, 3, 2), (6, 3, 2), (7, 3, 3), (9, 3, 3)],
)
def test_grid_shape_on_a_1080p_screen(n: int, cols: int, rows: int) -> None:
    g = compute_gallery(SCREEN, people(n))
    assert (g.columns, g.rows) == (cols, rows)
    assert [s.id for s in g.tiles] == people(n)
    assert len({r.size for r in rects(g)}) == 1  # equal tiles
    assert g.hidden_count == 0


def test_two_people_side_by_side_fill_the_width() -> None:
    a, b = compute_gallery(SCREEN, people(2)).tiles
    assert a.rect.y == b.rect.y and a.rect.right < b.rect.x
    assert a.rect.w > 900  # each nearly half the width


def test_short_last_row_is_centred() -> None:
    g = compute_gallery(SCREEN, people(3))
    last = g.tiles[2].rect
    assert abs(last.center[0] - SCREEN.w // 2) <= 1


def test_more_than_nine_shows_eight_and_a_plus_tile() -> None:
    g = compute_gallery(SCREEN, people(14))
    assert len(g.tiles) == 8
    assert g.overflow is not None and g.overflow.label == "+6" and g.hidden_count == 6
    assert (g.columns, g.rows) == (3, 3)


def test_own_camera_in_or_out() -> None:
    assert gallery_ids(["a", "b"], "self", include_self=True) == ["a", "b", "self"]
    assert gallery_ids(["a", "self", "b"], "self", include_self=False) == ["a", "b"]


def test_auto_picks_gallery_for_small_meetings() -> None:
    assert [choose_layout("auto", n) for n in (0, 1, 2, 4, 5, 12)] == [
        "speaker",
        "speaker",
        "gallery",
        "gallery",
        "speaker",
        "speaker",
    ]
    assert choose_layout("gallery", 1) == "gallery"
    assert choose_layout("speaker", 3) == "speaker"
    with pytest.raises(ValueError):
        choose_layout("grid", 3)  # type: ignore[arg-type]


def test_empty_and_tiny_areas() -> None:
    assert compute_gallery(SCREEN, []).tiles == ()
    tiny = compute_gallery(Rect(0, 0, 20, 10), people(4))
    assert tiny.tiles == ()


@settings(max_examples=200, deadline=None)
@given(
    w=st.integers(1, 4000),
    h=st.integers(1, 4000),
    n=st.integers(0, 30),
    x=st.integers(0, 100),
    y=st.integers(0, 100),
)
def test_tiles_stay_inside_and_never_overlap(w: int, h: int, n: int, x: int, y: int) -> None:
    area = Rect(x, y, w, h)
    g = compute_gallery(area, people(n))
    placed = rects(g)
    assert all(area.contains(r) for r in placed)
    assert not any(a.intersects(b) for a, b in itertools.combinations(placed, 2))
    if placed:
        assert len(g.tiles) + g.hidden_count == n


def test_call_info_line() -> None:
    assert format_duration(65) == "01:05"
    assert format_duration(3723) == "1:02:03"
    assert format_duration(-5) == "00:00"
    assert (
        call_info_line(room_name="Room 4", clock_text="10:42", call_seconds=725, hidden=3)
        == "Room 4 · 10:42 · in call 12:05 · +3 not shown"
    )
    assert (
        call_info_line(room_name="Room 4", clock_text="", call_seconds=None, hidden=0) == "Room 4"
    )
