"""A room larger than the screen (issue 12): the layout shows what fits, "+N" counts the rest,
and a frame costs the same in a room of 8 or of 1,000 (work counters, not time)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any, Literal

import pygame
import pytest

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.app.roomview_builder import build_room_view, shown_ids
from kiosk.media.videoplan import VideoPlan
from kiosk.openvidu.events import StreamInfo
from kiosk.openvidu.session_model import Participant, SessionModel
from kiosk.screen import theme
from kiosk.screen.layout import (
    Rect,
    compute_gallery,
    compute_layout,
    max_tiled,
    strip_capacity,
    tiled_ids,
)
from kiosk.screen.mainview import SELF_ID
from kiosk.screen.renderer import Renderer
from kiosk.screen.roomview import RoomView
from kiosk.testing.configs import loopback_kiosk_config
from kiosk.testing.reliability import in_call_with_frames

SIZES = [(1920, 1080), (1280, 720), (1080, 1920), (3840, 2160), (800, 480)]
ROOM = [f"con_{i}" for i in range(1000)]


# --- the layout: pure --------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_a_room_of_1000_shows_exactly_what_the_strip_holds(size: tuple[int, int]) -> None:
    w, h = size
    lay = compute_layout(w, h, ROOM)
    slots = strip_capacity(w, h)
    assert 2 <= slots < 40
    assert len(lay.tiles) == slots - 1  # every slot used: the last one is "+N"
    assert lay.overflow is not None
    assert lay.overflow.count == 1000 - len(lay.tiles)
    assert [t.id for t in lay.tiles] == ROOM[: slots - 1]  # the room's order is kept


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("layout", ["speaker", "gallery"])
@pytest.mark.parametrize("top", [0, 40])
@pytest.mark.parametrize("main", ["con_0", "con_3", "con_500", "con_999"])
def test_the_first_max_tiled_ids_and_a_count_give_the_same_screen(
    size: tuple[int, int], layout: Literal["speaker", "gallery"], top: int, main: str
) -> None:
    """What the app passes (``max_tiled`` ids, the one on main, the rest as a count) places the
    same people as the whole room would."""
    w, h = size
    limit = max_tiled(w, h, layout=layout, top=top)
    ids, more = shown_ids(list(ROOM), main, limit)
    assert len(ids) <= limit + 1 and more == 1000 - len(ids)
    whole = tiled_ids(w, h, ROOM, main, layout=layout, top=top)
    capped = tiled_ids(w, h, ids, main, layout=layout, top=top, more=more)
    assert capped == whole
    assert main in capped  # the speaker is never hidden
    if layout == "speaker":
        assert capped[0] == main
        rest = [i for i in ids if i != main]
        a = compute_layout(w, h - top, [i for i in ROOM if i != main])
        b = compute_layout(w, h - top, rest, more=more)
        assert a == b
        assert b.overflow is not None and b.overflow.count == 999 - len(b.tiles)
    else:
        assert len(capped) == 8  # 9 cells: 8 pictures and "+992"


def test_the_gallery_keeps_the_speaker_in_the_last_place_only() -> None:
    g = compute_gallery(Rect(0, 0, 1920, 1080), ROOM, keep="con_500")
    assert [t.id for t in g.tiles] == [*ROOM[:7], "con_500"]
    assert g.overflow is not None and g.overflow.count == 992
    # Among the shown ones already: nothing moves.
    g = compute_gallery(Rect(0, 0, 1920, 1080), ROOM, keep="con_2")
    assert [t.id for t in g.tiles] == ROOM[:8]


# --- the app's view and the renderer ---------------------------------------------------------


class FakeMedia:
    """What the builder reads from the media session."""

    def __init__(self) -> None:
        self.frames: dict[str, Any] = {}
        self.local_frame: Any = None
        self.level: dict[str, float] = {}

    def levels(self) -> dict[str, float]:
        return dict(self.level)

    publish_state = "off"

    def receiving_video(self, cid: str) -> bool:
        frames = self.frames.get(cid)
        return frames is not None and frames.frame_count > 0


class Frames:
    """A FrameSource that only counts (no pixels: tiles show their placeholder)."""

    def __init__(self, count: int) -> None:
        self.frame_count = count

    def latest(self) -> Any:
        return None


def _stream(i: int) -> StreamInfo:
    return StreamInfo(
        stream_id=f"str_{i}",
        created_at=i,
        has_audio=True,
        has_video=True,
        audio_active=i % 3 != 0,
        video_active=True,
        type_of_video="CAMERA",
        frame_rate=30.0,
        video_dimensions=(640, 480),
    )


class Room:
    """A real Kiosk with a fake call of ``n`` remote participants, on a 1920x1080 surface."""

    def __init__(self, n: int, *, layout: str = "speaker") -> None:
        self.now = 100.0
        config = loopback_kiosk_config("http://127.0.0.1:9", display={"layout": layout})
        self.kiosk = Kiosk(config, clock=lambda: self.now)
        self.model = SessionModel()
        for i in range(n):
            self.join(i)
        self.media = FakeMedia()
        self.kiosk.client = SimpleNamespace(connection_id="me", model=self.model)  # type: ignore[assignment]
        self.kiosk.media = self.media  # type: ignore[assignment]
        pygame.font.init()
        self.renderer = Renderer(pygame.Surface((1920, 1080)))
        self.kiosk.renderer = self.renderer
        for event in (m.Start(), m.TokenObtained(), m.Joined()):  # auto-join → in the call
            self.kiosk.machine.handle(event, self.now)
        assert self.kiosk.machine.state is m.CallState.IN_CALL

    def join(self, i: int) -> None:
        cid = f"con_{i}"
        self.model.participants[cid] = Participant(cid, f"Person {i}", "", i, _stream(i))

    def frame(self) -> tuple[RoomView, list[pygame.Rect]]:
        self.now += 1 / 30
        view = build_room_view(self.kiosk)
        assert view.state == "in_call" and view.call_info
        return view, self.renderer.draw(view, self.now)


def test_a_room_of_1000_builds_tiles_only_for_the_screen() -> None:
    room = Room(1000)
    view, _ = room.frame()
    limit = room.renderer.max_tiled("speaker", call_info=True)
    assert len(view.tiles) == limit  # the own camera and the first ones; main is among them
    assert view.tiles[0].id == SELF_ID
    assert len(view.tiles) + view.more == 1001
    layout = room.renderer.layout
    assert layout is not None and layout.overflow is not None
    shown = room.renderer.tiled_ids(view)
    assert len(shown) == limit - 1  # main + every strip slot but the "+N"
    assert layout.overflow.count == 1001 - len(shown)  # "+N": everyone without a picture
    assert layout.overflow.label == f"+{1001 - len(shown)}"


def test_the_one_on_main_is_never_hidden_and_a_hidden_speaker_is_promoted() -> None:
    room = Room(1000)
    plan = VideoPlan()
    view, _ = room.frame()
    plan.observe(room.now, [i for i in room.renderer.tiled_ids(view) if i != SELF_ID])
    assert view.main_id == "con_0"
    assert "con_500" not in {t.id for t in view.tiles}
    assert not plan.wants_video("con_500", room.now)
    # con_500, far beyond the screen, speaks: the active-speaker policy puts them on main.
    room.media.level = {"con_500": -10.0}
    for _ in range(200):  # ~6.7 s of frames; the policy needs 2 s of being louder
        view, _ = room.frame()
        if view.main_id == "con_500":
            break
    assert view.main_id == "con_500"
    assert "con_500" in {t.id for t in view.tiles}
    shown = room.renderer.tiled_ids(view)
    assert shown[0] == "con_500"  # on the main view
    plan.observe(room.now, [i for i in shown if i != SELF_ID])
    assert plan.wants_video("con_500", room.now)  # and its video is received
    layout = room.renderer.layout
    assert layout is not None and layout.overflow is not None
    assert layout.overflow.count == 1001 - len(shown)


def test_in_the_gallery_a_hidden_main_takes_the_last_place() -> None:
    room = Room(1000, layout="gallery")
    view, _ = room.frame()
    assert view.main_id == "con_0"
    for _ in range(41):  # "next" in join order: con_0 → con_1 → … → con_41
        room.kiosk.view_policy.next(room.now)
    view, _ = room.frame()
    assert view.layout == "gallery" and view.main_id == "con_41"
    shown = room.renderer.tiled_ids(view)
    assert len(shown) == 8 and shown[-1] == "con_41"
    assert len(view.tiles) + view.more == 1001


def _steady(room: Room, frames: int) -> dict[str, int]:
    """Work counters over ``frames`` frames (no new video frames, nothing changes)."""
    r = room.renderer
    before = dataclasses.asdict(r.stats) | {"texts": r.text.renders}
    tiles = 0
    for _ in range(frames):
        view, _ = room.frame()
        tiles += len(view.tiles)
    after = dataclasses.asdict(r.stats) | {"texts": r.text.renders}
    return {k: after[k] - before[k] for k in after} | {"tile_infos": tiles}


def test_per_frame_work_does_not_grow_with_the_room() -> None:
    small, big = Room(8), Room(1000)
    for room in (small, big):
        for _ in range(3):
            room.frame()  # first layout, texts, placeholders
    a, b = _steady(small, 30), _steady(big, 30)
    # Each tile on screen looked at once a frame: main + 8 thumbnails for the room of 8 (+ own
    # camera), main + 7 thumbnails and "+N" for the room of 1,000.
    layout = big.renderer.layout
    assert layout is not None and len(layout.tiles) == 7
    assert a["tile_checks"] == 30 * 9
    assert b["tile_checks"] == 30 * 8
    # Tiles built: 9 (self + 8) for the small room, max_tiled (9 here) for the big one.
    assert a["tile_infos"] == 30 * 9
    assert b["tile_infos"] == 30 * big.renderer.max_tiled("speaker", call_info=True) == 30 * 9
    for counts in (a, b):
        assert counts["texts"] == 0  # no text rendered again
        assert counts["relayouts"] == 0
        assert counts["full_redraws"] == 0
        assert counts["tile_redraws"] == 0


def test_someone_joining_beyond_the_screen_redraws_only_the_count() -> None:
    room = Room(1000)
    for _ in range(3):
        room.frame()
    layout = room.renderer.layout
    assert layout is not None and layout.overflow is not None
    count, rect = layout.overflow.count, layout.overflow.rect
    area = pygame.Rect(rect.x, rect.y, rect.w, rect.h)
    pixels = pygame.image.tobytes(room.renderer.surface.subsurface(area), "RGB")
    stats = dataclasses.replace(room.renderer.stats)
    room.join(1000)
    _, dirty = room.frame()
    layout = room.renderer.layout
    assert layout is not None and layout.overflow is not None
    assert layout.overflow.count == count + 1
    assert room.renderer.stats.full_redraws == stats.full_redraws  # no full repaint
    assert room.renderer.stats.tile_redraws == stats.tile_redraws  # no tile repainted
    assert area in dirty
    band = room.renderer._info_band()  # the info line says "+N not shown" too
    assert all(d == area or d.bottom <= band.h for d in dirty), dirty
    # The "+N" tile shows the new count: the same tile, other pixels.
    surf = room.renderer.surface
    assert surf.get_at((rect.x + 2, rect.y + 2))[:3] == theme.OVERFLOW_BG
    assert pygame.image.tobytes(surf.subsurface(area), "RGB") != pixels


@pytest.mark.parametrize("size", [8, 1000])
def test_in_call_with_frames_waits_for_those_with_a_picture(size: int) -> None:
    room = Room(size)
    kiosk = room.kiosk
    assert not in_call_with_frames(kiosk, min_participants=size)  # nothing drawn, no frames
    view, _ = room.frame()
    kiosk._last_view = view  # as Kiosk.room_view does for the frame it draws
    shown = [i for i in room.renderer.tiled_ids(view) if i != SELF_ID]
    assert len(shown) == (8 if size == 8 else 7)  # 1,000: main, own camera, 6, "+N"
    for cid in shown[:-1]:
        room.media.frames[cid] = Frames(5)
    assert not in_call_with_frames(kiosk, min_participants=size)  # one shown has none yet
    room.media.frames[shown[-1]] = Frames(5)
    # Those beyond the screen never get video (audio-only): not waited for.
    assert in_call_with_frames(kiosk, min_participants=size)
    assert not in_call_with_frames(kiosk, min_participants=size + 1)
    assert not in_call_with_frames(kiosk, min_participants=size, baseline=dict.fromkeys(shown, 5))
    assert in_call_with_frames(kiosk, frames_from=len(shown))
    assert not in_call_with_frames(kiosk, frames_from=len(shown) + 1)
