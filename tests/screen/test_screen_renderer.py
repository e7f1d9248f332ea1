"""The renderer, drawn onto off-screen surfaces and checked pixel by pixel."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import pygame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.screen import theme
from kiosk.screen.layout import Rect
from kiosk.screen.renderer import Renderer, encode_png, screenshot, screenshot_async
from kiosk.screen.roomview import ROOM_STATES, RoomView, TileInfo, Toast
from tests.screen.conftest import SCREEN_SIZE

W, H = SCREEN_SIZE
RED = (230, 20, 20)
GREEN = (20, 200, 40)
BLUE = (20, 60, 230)
TOL = 12


class FakeSource:
    """A FrameSource: one solid-colour frame; ``bump()`` pretends a new frame arrived."""

    def __init__(self, color: tuple[int, int, int] | None, w: int = 640, h: int = 480) -> None:
        self.frame_count = 0
        self.frame: av.VideoFrame | None = None
        if color is not None:
            self.set(color, w, h)

    def set(self, color: tuple[int, int, int], w: int = 640, h: int = 480) -> None:
        arr = np.full((h, w, 3), color, np.uint8)
        self.frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
        self.frame_count += 1

    def bump(self) -> None:
        self.frame_count += 1

    def latest(self) -> av.VideoFrame | None:
        return self.frame


def rgb(surface: pygame.Surface, x: int, y: int) -> tuple[int, int, int]:
    c = surface.get_at((x, y))
    return (c.r, c.g, c.b)


def close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = TOL) -> bool:
    return all(abs(int(p) - int(q)) <= tol for p, q in zip(a, b, strict=True))


def pixels(surface: pygame.Surface, r: Rect) -> Any:
    """An (w, h, 3) array copy of a region."""
    return pygame.surfarray.array3d(surface.subsurface(pygame.Rect(r.x, r.y, r.w, r.h)))


def fraction_close(surface: pygame.Surface, r: Rect, color: tuple[int, int, int]) -> float:
    arr = pixels(surface, r).astype(int)
    diff = np.abs(arr - np.array(color)).max(axis=2)
    return float((diff <= TOL).mean())


def call_view(tiles: list[TileInfo], main_id: str | None = None, **kw: Any) -> RoomView:
    return RoomView("in_call", room_name="Lobby", tiles=tiles, main_id=main_id, **kw)


def two_party(main_src: FakeSource, self_src: FakeSource | None = None) -> list[TileInfo]:
    return [
        TileInfo("self", "Lobby", is_self=True, frames=self_src),
        TileInfo("con_a", "Alice Smith", frames=main_src),
    ]


# --- main view --------------------------------------------------------------------------------


def test_main_video_fills_its_fit_rect_and_bars_are_black(surface: pygame.Surface) -> None:
    src = FakeSource(RED, 640, 480)  # 4:3 in a wider main area: pillarboxed
    r = Renderer(surface)
    r.draw(call_view(two_party(src), "con_a"), 0.0)
    lay = r.layout
    assert lay is not None and lay.strip is not None
    main = lay.main
    cx, cy = main.center
    assert close(rgb(surface, cx, cy), RED)
    video_w = round(main.h * 4 / 3)
    bar = (main.w - video_w) // 2
    assert bar > 20
    # Left and right bars black, from top to bottom of the main area.
    for y in (main.y + 5, cy, main.bottom - 60):
        assert rgb(surface, main.x + bar // 2, y) == (0, 0, 0)
        assert rgb(surface, main.right - bar // 2, y) == (0, 0, 0)
    # Video edges right where the fit rect says.
    assert close(rgb(surface, main.x + bar + 2, cy), RED)
    assert close(rgb(surface, main.right - bar - 3, cy), RED)
    assert (
        fraction_close(surface, Rect(main.x + bar + 10, main.y + 80, video_w - 20, 200), RED) > 0.99
    )


def test_main_wide_video_letterboxed_top_and_bottom(surface: pygame.Surface) -> None:
    src = FakeSource(BLUE, 1280, 400)
    r = Renderer(surface)
    r.draw(call_view(two_party(src), "con_a"), 0.0)
    assert r.layout is not None
    main = r.layout.main
    cx, cy = main.center
    assert close(rgb(surface, cx, cy), BLUE)
    assert rgb(surface, cx, main.y + 3) == (0, 0, 0)
    assert rgb(surface, cx, main.bottom - 3) == (0, 0, 0)


def test_alone_self_view_fills_screen_without_strip(surface: pygame.Surface) -> None:
    src = FakeSource(GREEN, 1280, 720)
    r = Renderer(surface)
    r.draw(call_view([TileInfo("self", "Lobby", is_self=True, frames=src)], "self"), 0.0)
    assert r.layout is not None and r.layout.strip is None
    assert close(rgb(surface, W // 2, H - 5), GREEN)
    assert close(rgb(surface, W - 5, H // 2), GREEN)


def test_main_camera_off_shows_placeholder_not_the_frame(surface: pygame.Surface) -> None:
    src = FakeSource(RED)
    tiles = [
        TileInfo("self", "Lobby", is_self=True),
        TileInfo("con_a", "Alice Smith", video_active=False, frames=src),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "con_a"), 0.0)
    assert r.layout is not None
    assert fraction_close(surface, r.layout.main, RED) < 0.001
    assert fraction_close(surface, r.layout.main, theme.TILE_PLACEHOLDER) > 0.5
    # The initials disc in the avatar colour sits in the middle.
    disc = theme.avatar_color("Alice Smith")
    cx, cy = r.layout.main.center
    assert fraction_close(surface, Rect(cx - 40, cy - 120, 80, 240), disc) > 0.1


# --- thumbnails -------------------------------------------------------------------------------


def test_thumbnail_video_and_placeholder_for_video_off_and_no_frame(
    surface: pygame.Surface,
) -> None:
    on = FakeSource(GREEN)
    off = FakeSource(RED)
    empty = FakeSource(None)  # no frame arrived yet
    tiles = [
        TileInfo("self", "Lobby", is_self=True, frames=FakeSource(BLUE)),
        TileInfo("a", "Alice", frames=on),
        TileInfo("b", "Bob", video_active=False, frames=off),
        TileInfo("c", "Carol", frames=empty),
        TileInfo("d", "Dan"),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "self"), 0.0)
    lay = r.layout
    assert lay is not None
    a, b, c, d = (lay.tile_rect(x) for x in "abcd")
    assert a and b and c and d
    assert close(rgb(surface, *a.center), GREEN)
    for tile in (b, c, d):
        assert fraction_close(surface, tile, RED) == 0.0
        assert fraction_close(surface, tile, GREEN) == 0.0
        assert fraction_close(surface, tile, theme.TILE_PLACEHOLDER) > 0.4
    # Each placeholder carries the participant's avatar colour.
    assert fraction_close(surface, b, theme.avatar_color("Bob")) > 0.05


def test_name_labels_are_drawn(surface: pygame.Surface) -> None:
    tiles = [
        TileInfo("self", "Lobby", is_self=True, frames=FakeSource(BLUE)),
        TileInfo("a", "Alice", frames=FakeSource(GREEN)),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "self"), 0.0)
    assert r.layout is not None
    a = r.layout.tile_rect("a")
    assert a is not None
    label = r.artist.label_box(a)
    region = Rect(label.x, label.y, min(label.w, 90), label.h)
    assert fraction_close(surface, region, theme.LABEL_BG) > 0.3
    assert fraction_close(surface, region, theme.LABEL_FG) > 0.03  # the letters
    # Text is readable from 5 m: at least 3 % of the screen height.
    assert r.text.render("Alice", r.sizes.name, theme.WHITE, None).get_height() >= 0.03 * H
    assert r.text.render("Joining", r.sizes.title, theme.WHITE, None).get_height() >= 0.08 * H


def test_mute_mark_pixels(surface: pygame.Surface) -> None:
    tiles = [
        TileInfo("self", "Lobby", is_self=True, frames=FakeSource(BLUE)),
        TileInfo("a", "Alice", mic_muted=True, frames=FakeSource(GREEN)),
        TileInfo("b", "Bob", mic_muted=False, frames=FakeSource(GREEN)),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "self"), 0.0)
    assert r.layout is not None
    a, b = r.layout.tile_rect("a"), r.layout.tile_rect("b")
    assert a and b
    mark_a, mark_b = r.artist.mute_mark_rect(a), r.artist.mute_mark_rect(b)
    assert a.contains(mark_a)
    assert fraction_close(surface, mark_a, theme.MUTE_COLOR) > 0.3
    assert fraction_close(surface, mark_a, theme.WHITE) > 0.02  # the struck-out microphone
    assert fraction_close(surface, mark_b, theme.MUTE_COLOR) == 0.0


def test_muted_main_participant_is_marked(surface: pygame.Surface) -> None:
    tiles = [
        TileInfo("self", "Lobby", is_self=True),
        TileInfo("a", "Alice", mic_muted=True, frames=FakeSource(GREEN, 1280, 720)),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "a"), 0.0)
    assert r.layout is not None
    red = fraction_close(surface, r.layout.main, theme.MUTE_COLOR)
    assert red > 0.0005


def test_speaker_highlight_border(surface: pygame.Surface) -> None:
    tiles = [
        TileInfo("self", "Lobby", is_self=True, frames=FakeSource(BLUE)),
        TileInfo("a", "Alice", speaking=True, frames=FakeSource(GREEN)),
        TileInfo("b", "Bob", speaking=False, frames=FakeSource(GREEN)),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "self"), 0.0)
    assert r.layout is not None
    a, b = r.layout.tile_rect("a"), r.layout.tile_rect("b")
    assert a and b
    cy = a.y + a.h // 3
    assert rgb(surface, a.x + 1, cy) == theme.SPEAKER_COLOR
    assert rgb(surface, a.right - 2, cy) == theme.SPEAKER_COLOR
    assert rgb(surface, a.center[0], a.y + 1) == theme.SPEAKER_COLOR
    assert fraction_close(surface, Rect(b.x, b.y, 3, b.h), theme.SPEAKER_COLOR) == 0.0
    # Stops speaking: border gone on the next draw.
    tiles[1] = TileInfo("a", "Alice", speaking=False, frames=tiles[1].frames)
    r.draw(call_view(tiles, "self"), 0.1)
    assert fraction_close(surface, Rect(a.x, a.y, 3, a.h), theme.SPEAKER_COLOR) == 0.0


def test_overflow_tile(surface: pygame.Surface) -> None:
    tiles = [TileInfo("self", "Lobby", is_self=True)]
    tiles += [TileInfo(f"con_{i}", f"Person {i}") for i in range(20)]
    r = Renderer(surface)
    r.draw(call_view(tiles, "con_0"), 0.0)
    lay = r.layout
    assert lay is not None and lay.overflow is not None
    # con_0 is on the big picture, so it is not among the 20 others in the strip
    assert "con_0" not in {t.id for t in lay.tiles}
    assert lay.overflow.count == 20 - len(lay.tiles)
    ov = lay.overflow.rect
    assert fraction_close(surface, ov, theme.OVERFLOW_BG) > 0.6
    assert fraction_close(surface, ov, theme.WHITE) > 0.01  # the "+N" text
    # The count's text is drawn, and differs for another count.
    before = pixels(surface, ov).copy()
    r.draw(call_view([*tiles, TileInfo("con_x", "Xavier")], "con_0"), 0.1)
    assert r.layout is not None and r.layout.overflow is not None
    assert r.layout.overflow.count == lay.overflow.count + 1
    assert not np.array_equal(before, pixels(surface, r.layout.overflow.rect))


# --- room states --------------------------------------------------------------------------------


def state_view(state: str) -> RoomView:
    return RoomView(
        state,  # type: ignore[arg-type]
        room_name="Lobby",
        status_line={
            "idle": "",
            "joining": "Getting a token",
            "reconnecting": "Reconnecting: server unreachable — next try in 8 s",
            "error": "The server rejected the secret (401)",
            "in_call": "",
        }[state],
        detail="Check server.secret in kiosk.yaml" if state == "error" else "",
        server_reachable=state != "reconnecting",
        clock_text="14:32",
        tiles=[TileInfo("self", "Lobby", is_self=True)] if state == "in_call" else (),
    )


def test_each_state_screen_differs_and_is_not_blank(surface: pygame.Surface) -> None:
    shots: dict[str, Any] = {}
    for state in ROOM_STATES:
        r = Renderer(surface)
        dirty = r.draw(state_view(state), 0.0)
        assert dirty == [pygame.Rect(0, 0, W, H)]
        arr = pygame.surfarray.array3d(surface)
        colours = np.unique(arr.reshape(-1, 3)[::97], axis=0)
        assert len(colours) > 5, f"{state} screen looks blank"
        shots[state] = arr
    states = list(shots)
    for i, s1 in enumerate(states):
        for s2 in states[i + 1 :]:
            assert not np.array_equal(shots[s1], shots[s2]), f"{s1} and {s2} look the same"
    # Different backgrounds, so the state shows from across the room before it is read.
    corners = {s: tuple(shots[s][2, 2]) for s in states}
    assert len(set(corners.values())) == len(states)


def test_state_screen_shows_changed_status_and_redraws_only_on_change(
    surface: pygame.Surface,
) -> None:
    r = Renderer(surface)
    v1 = RoomView("reconnecting", status_line="Reconnecting: server unreachable — next try in 8 s")
    assert r.draw(v1, 0.0)
    before = pygame.surfarray.array3d(surface)
    assert r.draw(v1, 0.5) == []  # nothing changed: nothing drawn
    v2 = RoomView("reconnecting", status_line="Reconnecting: server unreachable — next try in 7 s")
    assert r.draw(v2, 1.0)
    assert not np.array_equal(before, pygame.surfarray.array3d(surface))


def test_idle_screen_reachability_differs(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    r.draw(RoomView("idle", room_name="Lobby", server_reachable=True), 0.0)
    ok = pygame.surfarray.array3d(surface)
    assert (np.abs(ok.astype(int) - np.array(theme.OK_COLOR)).max(axis=2) <= 2).sum() > 50
    r.draw(RoomView("idle", room_name="Lobby", server_reachable=False), 0.0)
    bad = pygame.surfarray.array3d(surface)
    assert (np.abs(bad.astype(int) - np.array(theme.BAD_COLOR)).max(axis=2) <= 2).sum() > 50
    assert (np.abs(bad.astype(int) - np.array(theme.OK_COLOR)).max(axis=2) <= 2).sum() == 0


def test_joining_progress_animates_only_the_bar(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    v = RoomView("joining", room_name="Lobby", status_line="Opening the signaling socket")
    r.draw(v, 0.0)
    bar = r.states.progress_rect
    assert bar is not None
    dirty = r.draw(v, 0.5)
    assert dirty == [pygame.Rect(bar.x, bar.y, bar.w, bar.h)]
    # Determinate progress: the filled part grows.
    r.draw(RoomView("joining", room_name="Lobby", progress=0.25), 1.0)
    quarter = fraction_close(surface, bar, theme.WHITE)
    r.draw(RoomView("joining", room_name="Lobby", progress=0.75), 1.1)
    assert fraction_close(surface, bar, theme.WHITE) > quarter + 0.3


# --- toasts -----------------------------------------------------------------------------------


def test_toasts_show_and_expire(surface: pygame.Surface) -> None:
    src = FakeSource(GREEN, 1280, 720)
    tiles = two_party(src)
    r = Renderer(surface)
    r.draw(call_view(tiles, "con_a", toasts=[Toast("Bob joined", expires_at=5.0)]), 1.0)
    (box,) = r.toast_rects
    assert r.layout is not None and r.layout.main.contains(box)
    assert fraction_close(surface, box, theme.TOAST_BG) > 0.5
    assert fraction_close(surface, box, theme.TOAST_FG) > 0.02
    # Still there on a later tick with a new video frame.
    src.bump()
    r.draw(call_view(tiles, "con_a", toasts=[Toast("Bob joined", expires_at=5.0)]), 2.0)
    assert fraction_close(surface, box, theme.TOAST_BG) > 0.5
    # Expired: the video shows through again, and that area is reported dirty.
    dirty = r.draw(call_view(tiles, "con_a", toasts=[Toast("Bob joined", expires_at=5.0)]), 6.0)
    assert fraction_close(surface, box, GREEN) > 0.99
    assert any(d.contains(pygame.Rect(box.x, box.y, box.w, box.h)) for d in dirty)
    assert r.toast_rects == []


def test_toasts_on_state_screens(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    r.draw(RoomView("idle", toasts=[Toast("Chat: lunch at 12", 10.0)]), 0.0)
    assert r.toast_rects
    assert fraction_close(surface, r.toast_rects[0], theme.TOAST_BG) > 0.5
    r.draw(RoomView("idle", toasts=[Toast("Chat: lunch at 12", 10.0)]), 11.0)
    assert r.toast_rects == []


def test_many_toasts_capped(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    toasts = [Toast(f"Person {i} joined", 10.0) for i in range(10)]
    r.draw(RoomView("idle", toasts=toasts), 0.0)
    assert 1 <= len(r.toast_rects) <= 3


# --- redraw economy -------------------------------------------------------------------------------


def test_frame_redraws_only_when_frame_count_changes(surface: pygame.Surface) -> None:
    srcs = {k: FakeSource(c) for k, c in (("self", BLUE), ("a", GREEN), ("b", RED))}
    tiles = [
        TileInfo("self", "Lobby", is_self=True, frames=srcs["self"]),
        TileInfo("a", "Alice", frames=srcs["a"]),
        TileInfo("b", "Bob", frames=srcs["b"]),
    ]
    view = call_view(tiles, "a")
    r = Renderer(surface)
    r.draw(view, 0.0)
    first = r.stats.video_blits
    assert first == 3  # main (Alice) + the thumbnails of the two others
    assert r.layout is not None and r.layout.tile_rect("a") is None  # not twice on screen
    # Nothing new: nothing drawn, nothing dirty, no frame converted.
    conversions = r.converter.conversions
    for i in range(5):
        assert r.draw(view, 0.01 * (i + 1)) == []
    assert r.stats.video_blits == first
    assert r.converter.conversions == conversions
    # A new frame for Bob only: one blit, dirty only inside Bob's tile.
    srcs["b"].bump()
    dirty = r.draw(view, 0.1)
    assert r.stats.video_blits == first + 1
    assert r.layout is not None
    bob = r.layout.tile_rect("b")
    assert bob is not None
    pb = pygame.Rect(bob.x, bob.y, bob.w, bob.h)
    assert dirty and all(pb.contains(d) for d in dirty)
    # A new frame for Alice (on the big picture only): one blit.
    srcs["a"].bump()
    r.draw(view, 0.2)
    assert r.stats.video_blits == first + 2
    assert r.stats.full_redraws == 1


def test_overlay_change_redraws_that_tile_only(surface: pygame.Surface) -> None:
    src_a, src_b = FakeSource(GREEN), FakeSource(RED)
    tiles = [
        TileInfo("self", "Lobby", is_self=True),
        TileInfo("a", "Alice", frames=src_a),
        TileInfo("b", "Bob", frames=src_b),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "self"), 0.0)
    redraws = r.stats.tile_redraws
    tiles[2] = TileInfo("b", "Bob", mic_muted=True, frames=src_b)
    dirty = r.draw(call_view(tiles, "self"), 0.1)
    assert r.stats.tile_redraws == redraws + 1
    assert r.layout is not None
    bob = r.layout.tile_rect("b")
    assert bob is not None
    assert all(pygame.Rect(bob.x, bob.y, bob.w, bob.h).contains(d) for d in dirty)
    assert fraction_close(surface, r.artist.mute_mark_rect(bob), theme.MUTE_COLOR) > 0.3
    assert r.stats.full_redraws == 1


def test_join_changes_layout_and_repaints_everything(surface: pygame.Surface) -> None:
    tiles = two_party(FakeSource(GREEN))
    r = Renderer(surface)
    r.draw(call_view(tiles, "con_a"), 0.0)
    tiles.append(TileInfo("con_b", "Bob", frames=FakeSource(RED)))
    dirty = r.draw(call_view(tiles, "con_a"), 0.1)
    assert dirty[0] == pygame.Rect(0, 0, W, H)
    assert r.stats.full_redraws == 2
    assert r.layout is not None and r.layout.tile_rect("con_b") is not None


def test_switching_main_repaints_main(surface: pygame.Surface) -> None:
    tiles = [
        TileInfo("self", "Lobby", is_self=True, frames=FakeSource(BLUE, 1280, 720)),
        TileInfo("a", "Alice", frames=FakeSource(GREEN, 1280, 720)),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "a"), 0.0)
    assert r.layout is not None
    cx, cy = r.layout.main.center
    assert close(rgb(surface, cx, cy), GREEN)
    r.draw(call_view(tiles, "self"), 0.1)
    assert close(rgb(surface, cx, cy), BLUE)


def test_invalidate_repaints(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    v = call_view(two_party(FakeSource(GREEN)), "con_a")
    r.draw(v, 0.0)
    assert r.draw(v, 0.1) == []
    r.invalidate()
    assert r.draw(v, 0.2)[0] == pygame.Rect(0, 0, W, H)


# --- robustness ---------------------------------------------------------------------------------


class BrokenFrame:
    width = 640
    height = 480

    def reformat(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("corrupt frame")


class BrokenSource:
    frame_count = 1

    def latest(self) -> Any:
        return BrokenFrame()


def test_unconvertible_frame_shows_placeholder(surface: pygame.Surface) -> None:
    tiles = [
        TileInfo("self", "Lobby", is_self=True),
        TileInfo("a", "Alice", frames=BrokenSource()),
    ]
    r = Renderer(surface)
    r.draw(call_view(tiles, "a"), 0.0)
    assert r.layout is not None
    assert fraction_close(surface, r.layout.main, theme.TILE_PLACEHOLDER) > 0.5
    r.draw(call_view(tiles, "self"), 0.1)  # Alice in the strip
    assert r.layout is not None
    a = r.layout.tile_rect("a")
    assert a is not None
    assert fraction_close(surface, a, theme.TILE_PLACEHOLDER) > 0.4


def test_yuv_frames_and_odd_sizes(surface: pygame.Surface) -> None:
    src = FakeSource(None)
    src.frame = av.VideoFrame.from_ndarray(
        np.full((241, 323, 3), RED, np.uint8), format="rgb24"
    ).reformat(format="yuv420p")
    src.frame_count = 1
    r = Renderer(surface)
    r.draw(call_view(two_party(src), "con_a"), 0.0)
    assert r.layout is not None
    assert close(rgb(surface, *r.layout.main.center), RED, tol=24)
    r.draw(call_view(two_party(src), "self"), 0.1)  # Alice in the strip
    assert r.layout is not None
    a = r.layout.tile_rect("con_a")
    assert a is not None
    assert close(rgb(surface, *a.center), RED, tol=24)


def test_long_names_stay_inside_their_tile(surface: pygame.Surface) -> None:
    name = "Maximiliana Fernández-Oyelaran de la Cruz (Marketing, Building 7)"
    tiles = [TileInfo("self", "Lobby", is_self=True), TileInfo("a", name)]
    r = Renderer(surface)
    r.draw(call_view(tiles, "self"), 0.0)
    assert r.layout is not None
    a = r.layout.tile_rect("a")
    assert a is not None
    right_neighbour_gap = Rect(a.right, a.y, 3, a.h)
    gap = pixels(surface, right_neighbour_gap)
    assert (gap == np.array(theme.BACKGROUND)).all()


def test_portrait_screen_draws_side_strip() -> None:
    pygame.font.init()
    surf = pygame.Surface((720, 1280))
    r = Renderer(surf)
    tiles = [
        TileInfo("self", "Lobby", is_self=True, frames=FakeSource(BLUE)),
        TileInfo("a", "Alice", frames=FakeSource(GREEN, 1280, 720)),
    ]
    r.draw(call_view(tiles, "a"), 0.0)
    assert r.layout is not None and r.layout.placement == "side"
    s = r.layout.tile_rect("self")
    assert s is not None
    assert close(rgb(surf, *s.center), BLUE)
    assert close(rgb(surf, *r.layout.main.center), GREEN)


# --- screenshot -------------------------------------------------------------------------------


def test_screenshot_is_a_png_of_the_screen(surface: pygame.Surface, tmp_path: Any) -> None:
    r = Renderer(surface)
    r.draw(call_view(two_party(FakeSource(GREEN, 1280, 720)), "con_a"), 0.0)
    data = screenshot(surface)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    path = tmp_path / "shot.png"
    path.write_bytes(data)
    loaded = pygame.image.load(str(path))
    assert loaded.get_size() == (W, H)
    assert r.layout is not None
    c = loaded.get_at(r.layout.main.center)
    assert close((c.r, c.g, c.b), GREEN)


async def test_screenshot_async_matches_sync(surface: pygame.Surface) -> None:
    r = Renderer(surface)
    r.draw(RoomView("idle", room_name="Lobby", clock_text="09:00"), 0.0)
    assert await screenshot_async(surface) == screenshot(surface)


def test_encode_png_rejects_mismatched_buffer() -> None:
    with pytest.raises(ValueError, match="encode_png"):
        encode_png(b"\x00" * 10, 2, 2)


def test_in_call_banner_stays_until_cleared(surface: pygame.Surface) -> None:
    tiles = two_party(FakeSource(GREEN, 1280, 720))
    r = Renderer(surface)
    r.draw(call_view(tiles, "con_a", banner="Camera unavailable: /dev/video0 busy"), 0.0)
    (box,) = r.toast_rects
    assert fraction_close(surface, box, theme.BANNER_BG) > 0.5
    r.draw(call_view(tiles, "con_a", banner="Camera unavailable: /dev/video0 busy"), 600.0)
    assert fraction_close(surface, box, theme.BANNER_BG) > 0.5
    r.draw(call_view(tiles, "con_a"), 601.0)
    assert fraction_close(surface, box, GREEN) > 0.99


class FlakySource:
    """Every other frame cannot be converted."""

    def __init__(self) -> None:
        self.frame_count = 1
        self.good = av.VideoFrame.from_ndarray(np.full((480, 640, 3), RED, np.uint8), "rgb24")

    def latest(self) -> Any:
        return BrokenFrame() if self.frame_count % 2 == 0 else self.good


def test_recovers_after_a_bad_frame(surface: pygame.Surface) -> None:
    src = FlakySource()
    tiles = [TileInfo("self", "Lobby", is_self=True), TileInfo("a", "Alice", frames=src)]
    r = Renderer(surface)
    r.draw(call_view(tiles, "a"), 0.0)
    assert r.layout is not None
    main = r.layout.main
    assert close(rgb(surface, *main.center), RED)
    src.frame_count += 1  # broken
    r.draw(call_view(tiles, "a"), 0.1)
    assert fraction_close(surface, main, theme.TILE_PLACEHOLDER) > 0.3
    assert r.draw(call_view(tiles, "a"), 0.2) == []  # no retry until a new frame
    src.frame_count += 1  # good again: video and black bars, no placeholder left over
    r.draw(call_view(tiles, "a"), 0.3)
    assert close(rgb(surface, *main.center), RED)
    assert rgb(surface, main.x + 5, main.center[1]) == (0, 0, 0)
    assert fraction_close(surface, main, theme.TILE_PLACEHOLDER) < 0.001  # text edges only


_FRAMES = {
    c: av.VideoFrame.from_ndarray(np.full((90, 160, 3), c, np.uint8), format="rgb24")
    for c in (RED, GREEN, BLUE)
}


class StaticSource:
    def __init__(self, color: tuple[int, int, int] | None, count: int) -> None:
        self.frame_count = count
        self.frame = _FRAMES[color] if color else None

    def latest(self) -> av.VideoFrame | None:
        return self.frame


tile_strategy = st.builds(
    lambda i, name, muted, video, speaking, color, count: TileInfo(
        f"con_{i}",
        name,
        mic_muted=muted,
        video_active=video,
        speaking=speaking,
        frames=None if color == "none" else StaticSource(color, count),
    ),
    st.integers(0, 30),
    st.text(max_size=40),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["none", None, RED, GREEN, BLUE]),
    st.integers(0, 3),
)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(ROOM_STATES), st.lists(tile_strategy, max_size=12)), max_size=6
    ),
    st.sampled_from([(640, 360), (320, 180), (200, 400), (64, 48)]),
    st.text(max_size=30),
)
def test_any_sequence_of_views_draws_inside_the_screen(
    views: list[tuple[Any, list[TileInfo]]], size: tuple[int, int], status: str
) -> None:
    pygame.font.init()
    surf = pygame.Surface(size)
    r = Renderer(surf)
    screen = pygame.Rect(0, 0, *size)
    for i, (state, tiles) in enumerate(views):
        main = tiles[len(tiles) // 2].id if tiles else None
        view = RoomView(
            state,
            room_name=status,
            status_line=status,
            tiles=tiles,
            main_id=main,
            toasts=[Toast(status or "x", 0.5)],
        )
        for d in r.draw(view, i * 0.4):
            assert screen.contains(d)


def test_hostile_names_do_not_break_the_screen(surface: pygame.Surface) -> None:
    names = ["\x00", "a\nb\r\tc", "\ud800x", "\u202etxet", "😀 Emoji", "x" * 500, ""]
    tiles = [TileInfo("self", "Lobby", is_self=True)]
    tiles += [TileInfo(f"c{i}", n) for i, n in enumerate(names)]
    r = Renderer(surface)
    r.draw(call_view(tiles, "c0", toasts=[Toast(n or "-", 9.0) for n in names]), 0.0)
    r.draw(RoomView("error", room_name="\x00", status_line="\x00\n", detail="\ud800"), 1.0)
    assert fraction_close(surface, Rect(0, 0, W, H), theme.STATE_BACKGROUND["error"]) > 0.5


def test_fake_sources_satisfy_the_frame_source_protocol() -> None:
    from kiosk.protocols import FrameSource

    assert isinstance(FakeSource(RED), FrameSource)
    assert not isinstance(object(), FrameSource)


def test_smooth_main_scaling_draws_the_same_picture(surface: pygame.Surface) -> None:
    r = Renderer(surface, smooth_main=True)
    r.draw(call_view(two_party(FakeSource(RED, 640, 480)), "con_a"), 0.0)
    assert r.layout is not None
    main = r.layout.main
    assert close(rgb(surface, *main.center), RED)
    assert rgb(surface, main.x + 5, main.center[1]) == (0, 0, 0)
