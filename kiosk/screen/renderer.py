"""The renderer: draws a :class:`RoomView` onto a surface, redrawing only what changed.

A tile is redrawn when its source has a new frame (``frame_count`` changed) or its overlay
changed (name, mute, speaking, camera on/off, position). When only the frame changed, just the
video rectangle and the small overlays on it are drawn; letterbox bars and the background are
drawn once when the geometry changes. :meth:`Renderer.draw` returns the dirty rectangles for
``pygame.display.update``.

:func:`run_render_loop` is the pygame task of the app's single asyncio loop: paced with
``asyncio.sleep`` (never ``Clock.tick``), it pumps events, forwards keys, draws, updates the
changed parts of the screen and calls ``on_frame`` (the systemd watchdog ping) every iteration.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pygame

from kiosk.errors import DisplayError
from kiosk.redact import redact
from kiosk.screen import theme
from kiosk.screen.display import Display, KeyEvent
from kiosk.screen.layout import (
    GalleryLayout,
    Layout,
    OverflowSlot,
    Rect,
    StripPlacement,
    compute_gallery,
    compute_layout,
    fit_rect,
    max_tiled,
    shift_layout,
    tiled_ids,
)
from kiosk.screen.pages import StatePainter
from kiosk.screen.painter import FramePainter, SurfacePainter
from kiosk.screen.roomview import RoomView, TileInfo
from kiosk.screen.theme import Sizes, TextCache
from kiosk.screen.tiles import TileArtist, frame_size, to_pygame_rect

log = logging.getLogger(__name__)

MAX_TOASTS = 3
BANNER_MARK = "\x00banner\x00"  # tags the in-call banner among the toast texts
SELF_LABEL = "You"


@dataclass(slots=True)
class RenderStats:
    """Counters for tests and benches."""

    draws: int = 0  # calls to draw()
    full_redraws: int = 0  # whole-screen repaints
    video_blits: int = 0  # video frames scaled onto the surface (main + thumbnails)
    tile_redraws: int = 0  # tiles (main included) redrawn for any reason
    tile_checks: int = 0  # tiles (main included) looked at: bounded by the screen, not the room
    relayouts: int = 0  # layouts computed (a change of size, of who is shown, of "+N")


@dataclass(frozen=True, slots=True)
class _TileLook:
    """Everything about a tile except the frame number: a change means repaint it whole."""

    id: str
    label: str
    initials_from: str
    muted: bool
    video: bool  # a frame is shown (camera on and a frame arrived)
    speaking: bool
    rect: Rect
    dest: Rect | None  # where the video goes inside rect


def _places(placed: Layout | GalleryLayout) -> tuple[Any, ...]:
    """What a layout puts where, "+N"'s count aside: equal means no full repaint is needed."""
    rect = placed.overflow.rect if placed.overflow is not None else None
    if isinstance(placed, GalleryLayout):
        return (placed.area, placed.tiles, rect)
    return (placed.main, placed.strip, placed.tiles, rect)


def _label(tile: TileInfo) -> str:
    if tile.is_self:
        return SELF_LABEL
    return tile.name.strip() or "Guest"


class Renderer:
    """Draws room views onto ``surface`` (the display surface, or any surface in tests)."""

    def __init__(
        self,
        surface: pygame.Surface,
        *,
        strip: StripPlacement = "auto",
        main_aspect: tuple[int, int] = (16, 9),
        smooth_main: bool = False,
        painter: FramePainter | None = None,
    ) -> None:
        """``smooth_main``: scale the main video with swscale (bilinear; smoother text in
        screen shares) instead of pygame's nearest-neighbour scale; costs about 2x more.
        ``painter``: how video reaches the screen (the display's; default the CPU path)."""
        self.surface = surface
        self.smooth_main = smooth_main
        self.strip: StripPlacement = strip
        self.main_aspect = main_aspect
        self.stats = RenderStats()
        self.text = TextCache()
        self.converter: FramePainter = painter if painter is not None else SurfacePainter()
        self._size: tuple[int, int] = (0, 0)
        self.sizes = Sizes.for_screen(1, 1)
        self.artist = TileArtist(self.text, self.sizes)
        self.states = StatePainter(self.text, self.sizes)
        self._invalid = True
        self._mode: tuple[Any, ...] | None = None
        self._layout_key: tuple[Any, ...] | None = None
        self._layout: Layout | None = None
        self._looks: dict[str, _TileLook] = {}
        self._counts: dict[str, int] = {}
        self._failed_slots: set[str] = set()
        self._overflow: tuple[int, Rect] | None = None
        self._toasts: tuple[str, ...] = ()
        self._toast_rects: list[Rect] = []
        self._phase: int | None = None
        self._info = ""
        self._gallery: GalleryLayout | None = None
        self._tiled_key: tuple[Any, ...] | None = None
        self._tiled: tuple[str, ...] = ()
        self._max_tiled: dict[tuple[Any, ...], int] = {}

    # --- public --------------------------------------------------------------------------

    @property
    def layout(self) -> Layout | None:
        """The layout of the last in-call draw (tests and the status page use it)."""
        return self._layout

    def _top(self, call_info: bool) -> tuple[int, int, int]:
        """(width, height, info band height) of the surface now (the band as ``_info_band``)."""
        w, h = self.surface.get_size()
        sizes = self.sizes if (w, h) == self._size else Sizes.for_screen(w, h)
        return w, h, (sizes.small + 2 * sizes.pad if call_info else 0)

    def max_tiled(self, layout: Literal["speaker", "gallery"], *, call_info: bool) -> int:
        """How many participants (in the room's order, the one on main besides) a view needs in
        ``tiles`` for this screen (:func:`kiosk.screen.layout.max_tiled`); the rest can go to
        ``RoomView.more`` as a count."""
        w, h, top = self._top(call_info)
        key = (w, h, layout, self.strip, top)
        found = self._max_tiled.get(key)
        if found is None:
            if len(self._max_tiled) > 8:
                self._max_tiled.clear()
            found = self._max_tiled[key] = max_tiled(w, h, layout=layout, strip=self.strip, top=top)
        return found

    def tiled_ids(self, view: RoomView) -> tuple[str, ...]:
        """The ids of ``view.tiles`` that get a picture on this screen (main view first), from
        the layout functions :meth:`draw` uses; the "+N" ones are left out."""
        w, h, top = self._top(bool(view.call_info))
        key = (w, h, tuple(t.id for t in view.tiles), view.main_id, view.layout, top, view.more)
        if key != self._tiled_key:
            self._tiled_key = key
            self._tiled = tiled_ids(
                w,
                h,
                key[2],
                view.main_id,
                layout=view.layout,
                strip=self.strip,
                main_aspect=self.main_aspect,
                top=top,
                more=view.more,
            )
        return self._tiled

    def invalidate(self) -> None:
        """Repaint everything on the next draw (window exposed, surface replaced)."""
        self._invalid = True

    def draw(self, view: RoomView, now: float) -> list[pygame.Rect]:
        """Bring the surface up to date with ``view``; return the rectangles that changed."""
        self.stats.draws += 1
        size = self.surface.get_size()
        if size != self._size:
            self._size = size
            self.sizes = Sizes.for_screen(*size)
            self.artist = TileArtist(self.text, self.sizes)
            self.states = StatePainter(self.text, self.sizes)
            self._invalid = True
        live = [t for t in view.toasts if t.expires_at > now]
        toasts = tuple(t.text for t in live[-MAX_TOASTS:])
        if view.banner and view.state == "in_call":
            toasts = (BANNER_MARK + view.banner, *toasts)
        if view.standby:
            dirty = self._draw_standby()
        elif view.state == "in_call":
            dirty = self._draw_call(view, toasts)
        else:
            dirty = self._draw_state(view, now, toasts)
        self._invalid = False
        return [to_pygame_rect(r) for r in dirty if not r.empty]

    # --- standby -------------------------------------------------------------------------

    def _draw_standby(self) -> list[Rect]:
        """Black, drawn once: nothing changes (and no video is scaled) while the display sleeps."""
        if not self._invalid and self._mode == ("standby",):
            return []
        self._mode = ("standby",)
        self._layout_key = None
        self.surface.fill(theme.BLACK)
        self.stats.full_redraws += 1
        return [Rect(0, 0, *self._size)]

    # --- state pages ---------------------------------------------------------------------

    def _draw_state(self, view: RoomView, now: float, toasts: tuple[str, ...]) -> list[Rect]:
        mode = (
            view.state,
            view.room_name,
            view.status_line,
            view.server_reachable,
            view.clock_text,
            view.detail,
            view.hint,
            view.progress is None,
            toasts,
            tuple(view.agenda),
        )
        screen = Rect(0, 0, *self._size)
        if self._invalid or mode != self._mode:
            self._mode = mode
            self._layout_key = None
            self.stats.full_redraws += 1
            self.states.draw(self.surface, view, now)
            self._phase = self.states.progress_phase(view, now)
            # Below the page's text, above the server line.
            band = Rect(0, round(self._size[1] * 0.70), self._size[0], round(self._size[1] * 0.2))
            self._draw_toasts(toasts, band)
            self._toasts = toasts
            return [screen]
        if view.state == "joining":
            phase = self.states.progress_phase(view, now)
            if phase != self._phase:
                self._phase = phase
                r = self.states.draw_progress(self.surface, view, now)
                return [r] if r else []
        return []

    # --- in call -------------------------------------------------------------------------

    def _info_band(self) -> Rect:
        s = self.sizes
        return Rect(0, 0, self._size[0], s.small + 2 * s.pad)

    def _draw_info(self, view: RoomView, hidden: int, force: bool) -> list[Rect]:
        """The in-call information line across the top (room, clock, duration, hidden count)."""
        if not view.call_info:
            self._info = ""
            return []
        text = view.call_info + (f" · +{hidden} not shown" if hidden else "")
        if text == self._info and not force:
            return []
        self._info = text
        band = self._info_band()
        s = self.sizes
        self.surface.fill(theme.TOAST_BG, to_pygame_rect(band))
        surf = self.text.fit(
            text,
            s.small,
            theme.TOAST_FG,
            theme.TOAST_BG,
            band.w - 4 * s.pad,
            min_size=max(10, s.small * 3 // 4),
        )
        self.surface.blit(surf, (band.x + 2 * s.pad, band.y + (band.h - surf.get_height()) // 2))
        return [band]

    def _draw_gallery(self, view: RoomView, toasts: tuple[str, ...]) -> list[Rect]:
        tiles = list(view.tiles)
        by_id = {t.id: t for t in tiles}
        ids = tuple(t.id for t in tiles)
        top = self._info_band().h if view.call_info else 0
        key = ("gallery", self._size, ids, top, view.more, view.main_id)
        dirty: list[Rect] = []
        full = self._invalid or self._mode != ("gallery",)
        if key != self._layout_key or self._gallery is None:
            self._layout_key = key
            self.stats.relayouts += 1
            before = self._gallery
            self._gallery = compute_gallery(
                Rect(0, top, self._size[0], self._size[1] - top),
                ids,
                more=view.more,
                keep=view.main_id,
            )
            # Only "+N" changed (someone beyond the screen joined or left): no full repaint.
            full = full or before is None or _places(before) != _places(self._gallery)
        if full:
            self._mode = ("gallery",)
            self._layout = None
            self._overflow = None
            self._looks.clear()
            self._counts.clear()
            self._failed_slots.clear()
            self.surface.fill(theme.BACKGROUND)
            self.stats.full_redraws += 1
        gallery = self._gallery
        assert gallery is not None
        self.converter.forget_except({id(t.frames) for t in tiles if t.frames is not None})
        for slot in gallery.tiles:
            dirty += self._draw_tile(
                by_id.get(slot.id), slot.rect, main=False, force=full, key=slot.id
            )
        dirty += self._draw_overflow(gallery.overflow)
        dirty += self._draw_info(view, gallery.hidden_count, full)
        toasts_changed = toasts != self._toasts
        self._toasts = toasts
        if toasts and (toasts_changed or dirty):
            self._draw_toasts(toasts, gallery.area)
            dirty += self._toast_rects
        return [Rect(0, 0, *self._size)] if full else dirty

    def _draw_call(self, view: RoomView, toasts: tuple[str, ...]) -> list[Rect]:
        if view.layout == "gallery":
            return self._draw_gallery(view, toasts)
        tiles = list(view.tiles)
        by_id = {t.id: t for t in tiles}
        main_tile = by_id.get(view.main_id) if view.main_id is not None else None
        if main_tile is None and tiles:
            main_tile = tiles[0]
        # The thumbnails show everyone *except* the one on the big picture.
        strip_ids = tuple(t.id for t in tiles if main_tile is None or t.id != main_tile.id)
        key = (self._size, strip_ids, self.strip, self.main_aspect, bool(view.call_info), view.more)
        dirty: list[Rect] = []
        full = self._invalid or self._mode != ("in_call",)
        if key != self._layout_key or self._layout is None:
            self._layout_key = key
            self.stats.relayouts += 1
            before = self._layout
            top = self._info_band().h if view.call_info else 0
            self._layout = shift_layout(
                compute_layout(
                    self._size[0],
                    self._size[1] - top,
                    strip_ids,
                    strip=self.strip,
                    main_aspect=self.main_aspect,
                    more=view.more,
                ),
                top,
            )
            # Only "+N" changed (someone beyond the screen joined or left): no full repaint.
            full = full or before is None or _places(before) != _places(self._layout)
        if full:
            self._mode = ("in_call",)
            self._looks.clear()
            self._counts.clear()
            self._failed_slots.clear()
            self._overflow = None
            self.surface.fill(theme.BACKGROUND)
            self.stats.full_redraws += 1
            dirty.append(Rect(0, 0, *self._size))
        layout = self._layout
        assert layout is not None
        self.converter.forget_except({id(t.frames) for t in tiles if t.frames is not None})

        toasts_changed = toasts != self._toasts
        self._toasts = toasts
        main_dirty = self._draw_tile(main_tile, layout.main, main=True, force=toasts_changed)
        dirty += main_dirty
        dirty += self._draw_info(view, layout.hidden_count, full)
        if not toasts:
            self._toast_rects = []
        elif toasts_changed or dirty:
            self._draw_toasts(toasts, layout.main)
            dirty += self._toast_rects

        for slot in layout.tiles:
            tile = by_id.get(slot.id)
            dirty += self._draw_tile(tile, slot.rect, main=False, force=False, key=slot.id)
        dirty += self._draw_overflow(layout.overflow)
        return [Rect(0, 0, *self._size)] if full else dirty

    def _draw_overflow(self, slot: OverflowSlot | None) -> list[Rect]:
        """The "+N" tile, drawn only when its count or place changed (text from the cache)."""
        if slot is None:
            self._overflow = None
            return []
        ov = (slot.count, slot.rect)
        if ov == self._overflow:
            return []
        self._overflow = ov
        self.artist.draw_overflow(self.surface, slot.rect, slot.label)
        return [slot.rect]

    def _draw_tile(
        self,
        tile: TileInfo | None,
        rect: Rect,
        *,
        main: bool,
        force: bool,
        key: str | None = None,
    ) -> list[Rect]:
        self.stats.tile_checks += 1
        slot_key = "\x00main" if main else f"\x00tile:{key}"
        if tile is None:
            look = _TileLook("", "", "", False, False, False, rect, None)
            if self._looks.get(slot_key) != look or force:
                self._looks[slot_key] = look
                self.surface.fill(theme.BACKGROUND, to_pygame_rect(rect))
                return [rect]
            return []
        source = tile.frames if tile.video_active else None
        count = -1
        frame: Any = None
        dest: Rect | None = None
        if source is not None:
            count = source.frame_count  # read first: a newer frame only means one more redraw
            frame = source.latest()
            size = frame_size(frame) if frame is not None else None
            if size is not None:
                dest = fit_rect(size[0], size[1], rect)
                if not main and dest.w > 8 and dest.w % 8:
                    # swscale is 2-3x slower for widths that are not a multiple of 8; the
                    # few pixels less (under 3 % of a thumbnail) do not show.
                    cut = dest.w % 8
                    dest = Rect(dest.x + cut // 2, dest.y, dest.w - cut, dest.h)
        label = _label(tile)
        look = _TileLook(
            id=tile.id,
            label=label,
            initials_from=tile.name.strip() or label,
            muted=tile.mic_muted,
            video=dest is not None,
            speaking=tile.speaking and not main,
            rect=rect,
            dest=dest,
        )
        previous = self._looks.get(slot_key)
        if previous == look and not force and (dest is None or self._counts.get(slot_key) == count):
            return []
        # After a frame that could not be drawn, the placeholder covers the bars: repaint.
        repaint = force or previous != look or slot_key in self._failed_slots
        self._looks[slot_key] = look
        self._counts[slot_key] = count
        self.stats.tile_redraws += 1
        dirty: list[Rect] = []
        shown = False
        if source is not None and dest is not None:
            if repaint and dest != rect:
                self.surface.fill(theme.BLACK, to_pygame_rect(rect))  # letterbox bars
            shown = self.converter.draw_scaled(
                self.surface,
                source,
                frame,
                count,
                dest,
                swscale=not main or self.smooth_main,
                repaint=repaint,
            )
            if shown:
                self.stats.video_blits += 1
                if repaint:
                    dirty.append(rect)
                elif self.converter.video_on_canvas:
                    dirty.append(dest)
                self._failed_slots.discard(slot_key)
            else:
                self._failed_slots.add(slot_key)
        if not shown:
            note = ""
            if main:
                note = "Camera off" if not tile.video_active else "Waiting for video…"
            surf = self.artist.placeholder(rect.size, look.initials_from, big=main, note=note)
            self.surface.blit(surf, (rect.x, rect.y))
            dirty.append(rect)
        box = dest if (shown and dest is not None and main) else rect
        band = self.artist.draw_label(self.surface, box, label)
        dirty.append(band)
        if tile.mic_muted:
            at = self.artist.main_mute_rect(band) if main else None
            if at is not None and not box.contains(at):
                at = None  # a narrow main video: back to the corner
            dirty.append(self.artist.draw_mute(self.surface, box, at))
        if look.speaking:
            self.artist.draw_border(self.surface, rect, theme.SPEAKER_COLOR)
            dirty.append(rect)
        return dirty

    # --- toasts --------------------------------------------------------------------------

    def _draw_toasts(self, toasts: Sequence[str], area: Rect) -> None:
        self._toast_rects = []
        if not toasts or area.empty:
            return
        s = self.sizes
        y = area.y + s.pad * 4
        for item in toasts:
            banner = item.startswith(BANNER_MARK)
            text = item[len(BANNER_MARK) :] if banner else item
            bg = theme.BANNER_BG if banner else theme.TOAST_BG
            surf = self.text.fit(
                text,
                s.toast,
                theme.TOAST_FG,
                bg,
                area.w - 8 * s.pad,
                min_size=max(12, s.toast * 3 // 4),
            )
            w = surf.get_width() + 4 * s.pad
            h = surf.get_height() + 2 * s.pad
            box = Rect(area.x + (area.w - w) // 2, y, w, h)
            if box.bottom > area.bottom:
                break
            self.surface.fill(bg, to_pygame_rect(box))
            self.surface.blit(surf, (box.x + 2 * s.pad, box.y + s.pad))
            self._toast_rects.append(box)
            y = box.bottom + s.pad * 2

    @property
    def toast_rects(self) -> list[Rect]:
        return list(self._toast_rects)


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(tag)) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)


def encode_png(rgb: bytes, width: int, height: int, *, level: int = 6) -> bytes:
    """PNG of packed 8-bit RGB pixels. Safe to run in a worker thread: zlib releases the GIL
    (``pygame.image.save`` holds it for ~200 ms on a 1080p screen, which would stall drawing)."""
    if width <= 0 or height <= 0 or len(rgb) != width * height * 3:
        raise ValueError("encode_png: pixel buffer does not match the size")
    rows = np.frombuffer(rgb, np.uint8).reshape(height, width * 3)
    data = np.empty((height, width * 3 + 1), np.uint8)
    data[:, 0] = 0  # filter type "None" for every row
    data[:, 1:] = rows
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(data.data, level))
        + _png_chunk(b"IEND", b"")
    )


def screenshot(surface: pygame.Surface) -> bytes:
    """The surface as PNG bytes (for the status endpoint). It shows only what the renderer drew
    from the RoomView, which carries names and statuses, never tokens or secrets."""
    w, h = surface.get_size()
    return encode_png(pygame.image.tobytes(surface, "RGB"), w, h)


async def screenshot_async(surface: pygame.Surface) -> bytes:
    """Like :func:`screenshot`, but the PNG is compressed in a worker thread so the screen
    keeps drawing; only the pixel copy (a few ms) happens on the loop."""
    w, h = surface.get_size()
    rgb = pygame.image.tobytes(surface, "RGB")
    return await asyncio.to_thread(encode_png, rgb, w, h)


async def run_render_loop(
    display: Display,
    get_view: Callable[[], RoomView],
    stop: asyncio.Event,
    max_fps: float = 60,
    on_frame: Callable[[], None] | None = None,
    *,
    on_key: Callable[[KeyEvent], None] | None = None,
    on_quit: Callable[[], None] | None = None,
    renderer: Renderer | None = None,
    clock: Callable[[], float] = time.monotonic,
    strip: StripPlacement = "auto",
    main_aspect: tuple[int, int] = (16, 9),
) -> Renderer:
    """Draw ``get_view()`` at up to ``max_fps`` until ``stop`` is set; return the renderer.

    Each iteration pumps pygame events (keys go to ``on_key``; a window close calls ``on_quit``,
    or sets ``stop`` when there is none), draws, updates the dirty parts of the screen and calls
    ``on_frame``. The screensaver is allowed only on the idle page. The display must be open.
    """
    if max_fps <= 0:
        raise ValueError("max_fps must be > 0")
    period = 1.0 / max_fps
    surface = display.surface
    if renderer is None:
        renderer = Renderer(surface, strip=strip, main_aspect=main_aspect, painter=display.painter)
    while not stop.is_set():
        started = clock()
        events = display.poll()
        if events.exposed:
            renderer.invalidate()
        if on_key is not None:
            for key in events.keys:
                try:
                    on_key(key)
                except Exception as exc:  # a bad handler must not freeze the screen
                    log.error(
                        "screen: key handler failed: %s", redact(f"{type(exc).__name__}: {exc}")
                    )
        if events.quit:
            if on_quit is not None:
                on_quit()
            else:
                stop.set()
        view = get_view()
        display.set_screensaver_allowed(view.state == "idle")
        try:
            dirty = renderer.draw(view, clock())
        except pygame.error as exc:
            raise DisplayError(f"display driver '{display.driver_name}' failed: {exc}") from exc
        display.update(dirty)
        if on_frame is not None:
            on_frame()
        elapsed = clock() - started
        await asyncio.sleep(max(0.0, period - elapsed))
    return renderer
