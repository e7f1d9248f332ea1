"""Pure layout: main area, strip placement, thumbnails, "+N" overflow, aspect fit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.screen.layout import SMALL_THUMB_FRACTION, Layout, Rect, compute_layout, fit_rect


def ids(n: int) -> list[str]:
    return ["self"] + [f"con_{i}" for i in range(1, n)]


def all_rects(layout: Layout) -> list[Rect]:
    rects = [s.rect for s in layout.tiles]
    if layout.overflow:
        rects.append(layout.overflow.rect)
    return rects


# --- fit_rect ---------------------------------------------------------------------------------


def test_fit_rect_same_aspect_fills_box() -> None:
    assert fit_rect(1280, 720, Rect(0, 0, 1920, 1080)) == Rect(0, 0, 1920, 1080)


def test_fit_rect_4_3_in_16_9_is_pillarboxed_and_centred() -> None:
    r = fit_rect(640, 480, Rect(0, 0, 1920, 1080))
    assert r == Rect(240, 0, 1440, 1080)


def test_fit_rect_wide_source_in_tall_box_is_letterboxed() -> None:
    r = fit_rect(1920, 1080, Rect(100, 50, 1080, 1920))
    assert r.w == 1080 and r.h == 608
    assert r.x == 100 and r.y == 50 + (1920 - 608) // 2


def test_fit_rect_portrait_phone_video_in_landscape_main() -> None:
    r = fit_rect(720, 1280, Rect(0, 0, 1920, 884))
    assert r.h == 884 and r.w == round(884 * 720 / 1280)
    assert r.x == (1920 - r.w) // 2


def test_fit_rect_degenerate_source_fills_box_and_empty_box_stays_empty() -> None:
    box = Rect(10, 20, 300, 200)
    assert fit_rect(0, 0, box) == box
    assert fit_rect(640, 480, Rect(5, 5, 0, 100)).empty


def test_fit_rect_tiny_box_never_zero() -> None:
    r = fit_rect(4000, 10, Rect(0, 0, 3, 3))
    assert r.w == 3 and r.h >= 1


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 8000),
    st.integers(1, 8000),
    st.integers(0, 500),
    st.integers(0, 500),
    st.integers(1, 4000),
    st.integers(1, 4000),
)
def test_fit_rect_properties(sw: int, sh: int, bx: int, by: int, bw: int, bh: int) -> None:
    box = Rect(bx, by, bw, bh)
    r = fit_rect(sw, sh, box)
    assert box.contains(r)
    assert r.w >= 1 and r.h >= 1
    assert r.w == box.w or r.h == box.h  # touches two opposite sides
    # Centred (within one pixel of rounding).
    assert abs((r.x - box.x) - (box.right - r.right)) <= 1
    assert abs((r.y - box.y) - (box.bottom - r.bottom)) <= 1
    # Aspect kept within rounding.
    if r.w > 20 and r.h > 20:
        assert abs(r.w / r.h - sw / sh) / (sw / sh) < 0.06


# --- compute_layout -------------------------------------------------------------------------


def test_no_tiles_main_fills_screen_and_no_strip() -> None:
    lay = compute_layout(1920, 1080, [])
    assert lay.main == Rect(0, 0, 1920, 1080)
    assert lay.strip is None and lay.tiles == () and lay.overflow is None
    assert lay.main_video == Rect(0, 0, 1920, 1080)


def test_one_tile_bottom_strip_centred() -> None:
    lay = compute_layout(1920, 1080, ["self"])
    assert lay.placement == "bottom"
    assert lay.strip is not None and lay.strip.bottom == 1080 and lay.strip.w == 1920
    assert lay.main == Rect(0, 0, 1920, 1080 - lay.strip.h)
    (slot,) = lay.tiles
    assert slot.id == "self"
    assert lay.strip.contains(slot.rect)
    assert abs(slot.rect.center[0] - 960) <= 1
    # Thumbnail readable from across the room: at least ~15 % of the screen height, 16:9.
    assert slot.rect.h >= 0.15 * 1080
    assert abs(slot.rect.w / slot.rect.h - 16 / 9) < 0.02


def test_landscape_four_tiles_in_join_order_left_to_right() -> None:
    lay = compute_layout(1920, 1080, ids(4))
    assert [s.id for s in lay.tiles] == ids(4)
    xs = [s.rect.x for s in lay.tiles]
    assert xs == sorted(xs)
    assert len({s.rect.y for s in lay.tiles}) == 1
    assert lay.overflow is None


def test_overflow_shows_plus_n_tile_last() -> None:
    lay = compute_layout(1920, 1080, ids(20))
    capacity = len(lay.tiles) + 1
    assert lay.overflow is not None
    assert lay.overflow.count == 20 - len(lay.tiles)
    assert lay.overflow.label == f"+{20 - len(lay.tiles)}"
    assert [s.id for s in lay.tiles] == ids(20)[: capacity - 1]
    assert lay.overflow.rect.x > max(s.rect.x for s in lay.tiles)
    # Exactly the capacity: no overflow tile.
    exact = compute_layout(1920, 1080, ids(capacity))
    assert exact.overflow is None and len(exact.tiles) == capacity
    # One more than capacity: the last slot becomes "+2".
    over = compute_layout(1920, 1080, ids(capacity + 1))
    assert over.overflow is not None and over.overflow.count == 2
    assert len(over.tiles) == capacity - 1


def test_portrait_auto_uses_side_strip() -> None:
    lay = compute_layout(1080, 1920, ids(3))
    assert lay.placement == "side"
    assert lay.strip is not None and lay.strip.right == 1080 and lay.strip.h == 1920
    assert lay.main == Rect(0, 0, 1080 - lay.strip.w, 1920)
    ys = [s.rect.y for s in lay.tiles]
    assert ys == sorted(ys) and len({s.rect.x for s in lay.tiles}) == 1


def test_portrait_overflow_along_the_side() -> None:
    lay = compute_layout(1080, 1920, ids(30))
    assert lay.overflow is not None
    assert lay.overflow.count + len(lay.tiles) == 30
    assert lay.overflow.rect.y > max(s.rect.y for s in lay.tiles)


def test_forced_placements() -> None:
    assert compute_layout(1080, 1920, ids(2), strip="bottom").placement == "bottom"
    assert compute_layout(1920, 1080, ids(2), strip="side").placement == "side"
    with pytest.raises(ValueError, match="strip"):
        compute_layout(1920, 1080, ids(2), strip="top")  # type: ignore[arg-type]


def test_main_aspect_hint() -> None:
    lay = compute_layout(1920, 1080, ids(2), main_aspect=(4, 3))
    assert lay.main_video.h == lay.main.h
    assert abs(lay.main_video.w / lay.main_video.h - 4 / 3) < 0.01


def test_same_thumbnail_size_in_both_orientations() -> None:
    land = compute_layout(1920, 1080, ids(2))
    port = compute_layout(1080, 1920, ids(2))
    assert land.thumb_size == port.thumb_size


def test_small_window_still_sane() -> None:
    lay = compute_layout(320, 180, ids(6))
    assert lay.strip is not None
    for r in all_rects(lay):
        assert lay.strip.contains(r)
    assert len(lay.tiles) + (lay.overflow.count if lay.overflow else 0) == 6


def test_tile_rect_lookup() -> None:
    lay = compute_layout(1920, 1080, ids(3))
    assert lay.tile_rect("con_1") == lay.tiles[1].rect
    assert lay.tile_rect("nobody") is None


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 4000),
    st.integers(0, 4000),
    st.integers(0, 60),
    st.sampled_from(["auto", "bottom", "side"]),
)
def test_layout_properties(w: int, h: int, n: int, strip: str) -> None:
    lay = compute_layout(w, h, ids(n) if n else [], strip=strip)  # type: ignore[arg-type]
    screen = Rect(0, 0, w, h)
    assert screen.contains(lay.main)
    rects = all_rects(lay)
    for r in rects:
        assert screen.contains(r) and not r.empty
        assert lay.strip is not None and lay.strip.contains(r)
        assert not r.intersects(lay.main)
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not a.intersects(b)
    # Every participant is either shown or counted in "+N" (unless nothing at all fits).
    if rects:
        assert len(lay.tiles) + lay.hidden_count == n
    assert len({s.id for s in lay.tiles}) == len(lay.tiles)
    if lay.overflow:
        assert lay.overflow.count >= 2


def test_thumbnails_shrink_before_overflowing_but_not_below_minimum() -> None:
    two = compute_layout(1920, 1080, ids(2))
    six = compute_layout(1920, 1080, ids(6))
    assert six.overflow is None and len(six.tiles) == 6
    assert six.thumb_size[1] < two.thumb_size[1]
    assert six.thumb_size[1] >= round(SMALL_THUMB_FRACTION * 1080)
    # The main view grows by what the strip gave up.
    assert six.main.h > two.main.h
    many = compute_layout(1920, 1080, ids(40))
    assert many.thumb_size[1] == round(SMALL_THUMB_FRACTION * 1080)
    assert many.overflow is not None and len(many.tiles) >= 6
