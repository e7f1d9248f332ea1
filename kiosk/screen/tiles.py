"""Drawing one participant: video (fast path), camera-off placeholder, name, mute mark, border.

Frame path (measured, see bench/render_micro.py):

* main view: ``frame.reformat(format="bgra", threads=1)`` at native size, wrapped without a
  copy by ``pygame.image.frombuffer`` and scaled by ``pygame.transform.scale`` straight into a
  subsurface of the target (no intermediate surface, no alpha blending);
* thumbnails: swscale to the tile size, ``frame.reformat(w, h, "bgra",
  interpolation="FAST_BILINEAR", threads=1)``, then the same copy-scale into the subsurface.
"""

from __future__ import annotations

import logging
from typing import Any

import av
import av.error
import pygame
from av.video.reformatter import VideoReformatter

from kiosk.protocols import FrameSource
from kiosk.screen import theme
from kiosk.screen.layout import Rect
from kiosk.screen.theme import Color, Sizes, TextCache

log = logging.getLogger(__name__)

OVERFLOW_NOTE = "more"
"""Under the count on the "+N" tile."""


def reformat(
    frame: Any,
    width: int | None = None,
    height: int | None = None,
    *,
    reformatter: VideoReformatter | None = None,
    **kw: Any,
) -> Any:
    """Convert ``frame`` with a reformatter owned by the caller, single-threaded.

    Never ``frame.reformat()``: PyAV keeps one reformatter (one swscale context) per frame
    object, and the frame the screen shows for the room's own camera is the very object that
    aiortc's encoder thread reformats at the same moment — sharing that context deadlocked the
    render loop. Our own reformatter (one per tile, used only on the loop thread) also keeps its
    swscale context across frames. ``threads=1``: PyAV's default threading added 1–3 ms per call.
    """
    fmt = reformatter if reformatter is not None else VideoReformatter()
    return fmt.reformat(frame, width, height, threads=1, **kw)


def to_pygame_rect(r: Rect) -> pygame.Rect:
    return pygame.Rect(r.x, r.y, r.w, r.h)


class FrameConverter:
    """Turns the newest frame of a source into pixels on a target subsurface.

    The main view's native BGRA conversion is cached per source and frame_count, so repainting
    main without a new frame (a toast expired, the label changed) costs only the scale.
    """

    def __init__(self) -> None:
        # id(source) -> (frame_count, frame object, bgra frame, surface over its buffer)
        self._native: dict[int, tuple[int, Any, Any, pygame.Surface]] = {}
        self._failed: set[int] = set()
        # (id(source), swscale?) -> the reformatter that tile uses (loop thread only)
        self._reformatters: dict[tuple[int, bool], VideoReformatter] = {}
        self.conversions = 0  # frames converted (for tests and benches)

    def forget_except(self, keep: set[int]) -> None:
        """Drop what is cached for sources not in ``keep`` (the tiles on screen now): these
        caches hold only shown tiles, whatever the size of the room."""
        self._failed &= keep
        for key in list(self._native):
            if key not in keep:
                del self._native[key]
        for rkey in list(self._reformatters):
            if rkey[0] not in keep:
                del self._reformatters[rkey]

    def _reformatter(self, key: int, swscale: bool) -> VideoReformatter:
        found = self._reformatters.get((key, swscale))
        if found is None:
            found = self._reformatters[(key, swscale)] = VideoReformatter()
        return found

    def _native_surface(self, key: int, frame: Any, count: int) -> pygame.Surface:
        cached = self._native.get(key)
        if cached is not None and cached[0] == count and cached[1] is frame:
            return cached[3]
        bgra = reformat(frame, format="bgra", reformatter=self._reformatter(key, False))
        plane = bgra.planes[0]
        surf = pygame.image.frombuffer(plane, (bgra.width, bgra.height), "BGRA", plane.line_size)
        self._native[key] = (count, frame, bgra, surf)
        self.conversions += 1
        return surf

    def draw_scaled(
        self,
        target: pygame.Surface,
        source: FrameSource,
        frame: Any,
        count: int,
        dest: Rect,
        *,
        swscale: bool,
        repaint: bool = True,
    ) -> bool:
        """Draw ``frame`` (the newest of ``source``, number ``count``) scaled to ``dest``.

        ``swscale``: let swscale scale (bilinear, used for thumbnails, where it is cheapest);
        otherwise convert at native size and scale with pygame (nearest neighbour, cheapest
        for the big main view). ``repaint`` (the tile was repainted) changes nothing here.

        Returns ``False`` (nothing drawn) when the frame cannot be converted.
        """
        if dest.empty:
            return False
        key = id(source)
        try:
            sub = target.subsurface(to_pygame_rect(dest))
            if swscale:
                small = reformat(
                    frame,
                    dest.w,
                    dest.h,
                    format="bgra",
                    interpolation="FAST_BILINEAR",
                    reformatter=self._reformatter(key, True),
                )
                plane = small.planes[0]
                src = pygame.image.frombuffer(plane, (dest.w, dest.h), "BGRA", plane.line_size)
                self.conversions += 1
            else:
                src = self._native_surface(key, frame, count)
            pygame.transform.scale(src, (dest.w, dest.h), sub)
        except (
            av.FFmpegError,
            ValueError,
            TypeError,
            AttributeError,
            pygame.error,
            OSError,
        ) as exc:
            # A bad frame must not stop the screen: the tile shows its placeholder instead.
            if key not in self._failed:
                self._failed.add(key)
                log.warning("screen: cannot draw a video frame (%s): %s", type(exc).__name__, exc)
            return False
        self._failed.discard(key)
        return True


def frame_size(frame: Any) -> tuple[int, int] | None:
    """``(width, height)`` of a decoded frame, or ``None`` when it has no pixels."""
    try:
        w, h = int(frame.width), int(frame.height)
    except (AttributeError, TypeError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


class TileArtist:
    """Cached pieces of tiles: placeholders, labels, mute marks, "+N" tiles."""

    def __init__(self, text: TextCache, sizes: Sizes) -> None:
        self.text = text
        self.sizes = sizes
        self._placeholders: dict[tuple[int, int, str, str, bool], pygame.Surface] = {}
        self._mute_marks: dict[int, pygame.Surface] = {}

    # --- geometry (tests use it to know where to look) -------------------------------------

    def mute_mark_rect(self, tile: Rect) -> Rect:
        """Top-right corner of the tile: a red disc with a struck-through microphone."""
        d = max(10, min(tile.h // 4, round(self.sizes.name * 1.4)))
        m = max(2, self.sizes.border + 2)
        return Rect(tile.right - m - d, tile.y + m, d, d)

    def label_box(self, tile: Rect) -> Rect:
        """Where the name label goes: bottom-left, inside the tile."""
        h = min(tile.h, self.sizes.name + self.sizes.pad)
        m = self.sizes.border
        return Rect(tile.x + m, tile.bottom - m - h, max(1, tile.w - 2 * m), h)

    # --- pieces --------------------------------------------------------------------------

    def mute_mark(self, diameter: int) -> pygame.Surface:
        surf = self._mute_marks.get(diameter)
        if surf is not None:
            return surf
        d = diameter
        surf = pygame.Surface((d, d))
        surf.fill(theme.LABEL_BG)
        r = d / 2
        pygame.draw.circle(surf, theme.MUTE_COLOR, (r, r), r)
        # Microphone: a capsule, a cradle and a stand, struck through.
        lw = max(2, d // 14)
        cap = pygame.Rect(0, 0, max(3, d * 5 // 18), d * 7 // 18)
        cap.center = (round(r), round(r - d * 0.08))
        pygame.draw.rect(surf, theme.WHITE, cap, border_radius=cap.w // 2)
        cradle = pygame.Rect(0, 0, cap.w + 3 * lw, cap.h)
        cradle.midbottom = (round(r), cap.bottom + 2 * lw)
        pygame.draw.arc(surf, theme.WHITE, cradle, 3.3, 6.1, lw)
        pygame.draw.line(surf, theme.WHITE, (r, cradle.bottom), (r, cradle.bottom + 2 * lw), lw)
        k = d * 0.27
        pygame.draw.line(surf, theme.WHITE, (r - k, r - k), (r + k, r + k), lw + 1)
        self._mute_marks[diameter] = surf
        return surf

    def placeholder(
        self, size: tuple[int, int], name: str, *, big: bool, note: str
    ) -> pygame.Surface:
        """A camera-off tile: dark background, coloured disc with the initials."""
        key = (size[0], size[1], name, note, big)
        surf = self._placeholders.get(key)
        if surf is not None:
            return surf
        if len(self._placeholders) > 64:
            self._placeholders.clear()
        w, h = size
        surf = pygame.Surface((max(1, w), max(1, h)))
        surf.fill(theme.TILE_PLACEHOLDER)
        if big:
            radius = max(4.0, min(w, h) * 0.22)
            cy = h * 0.45
        else:
            # Centred in the space above the name label, never under it.
            label_top = h - self.sizes.border - (self.sizes.name + self.sizes.pad)
            cy = max(1.0, label_top / 2)
            radius = max(4.0, min(min(w, h) * 0.3, cy - 2))
        color = theme.avatar_color(name)
        pygame.draw.circle(surf, color, (w / 2, cy), radius)
        text = self.text.render(
            theme.initials(name), max(10, round(radius * 0.95)), theme.WHITE, color
        )
        surf.blit(text, text.get_rect(center=(round(w / 2), round(cy))))
        if note:
            line = self.text.fit(
                note, self.sizes.small, theme.TEXT_DIM, theme.TILE_PLACEHOLDER, w - 8
            )
            top = round(cy + radius + self.sizes.pad * 2)
            if top + line.get_height() < h - self.sizes.name - self.sizes.pad:
                surf.blit(line, line.get_rect(midtop=(round(w / 2), top)))
        self._placeholders[key] = surf
        return surf

    def draw_label(self, target: pygame.Surface, tile: Rect, label: str) -> Rect:
        box = self.label_box(tile)
        pad = self.sizes.pad
        text = self.text.fit(
            label,
            self.sizes.name,
            theme.LABEL_FG,
            theme.LABEL_BG,
            box.w - 2 * pad,
            min_size=max(10, self.sizes.name * 2 // 3),
        )
        w = min(box.w, text.get_width() + 2 * pad)
        band = Rect(box.x, box.y, w, box.h)
        target.fill(theme.LABEL_BG, to_pygame_rect(band))
        target.blit(text, (band.x + pad, band.y + (band.h - text.get_height()) // 2))
        return band

    def main_mute_rect(self, label_band: Rect) -> Rect:
        """On the main view the mark sits right of the name label, where eyes already are."""
        d = label_band.h
        return Rect(label_band.right + self.sizes.pad, label_band.y, d, d)

    def draw_mute(self, target: pygame.Surface, tile: Rect, at: Rect | None = None) -> Rect:
        """Draw the mute mark in its thumbnail place in ``tile``, or at ``at``."""
        r = at if at is not None else self.mute_mark_rect(tile)
        mark = self.mute_mark(r.w)
        # The disc's corners show the label colour; draw it as a little dark badge.
        target.blit(mark, (r.x, r.y))
        return r

    def draw_border(self, target: pygame.Surface, tile: Rect, color: Color) -> None:
        pygame.draw.rect(target, color, to_pygame_rect(tile), self.sizes.border)

    def draw_overflow(self, target: pygame.Surface, tile: Rect, label: str) -> None:
        """The "+N" tile: ``label`` big, "more" under it when the tile has room (both texts
        from the cache: redrawing it costs two blits)."""
        pr = to_pygame_rect(tile)
        target.fill(theme.OVERFLOW_BG, pr)
        size = min(self.sizes.overflow, max(10, tile.h // 2))
        text = self.text.fit(label, size, theme.WHITE, theme.OVERFLOW_BG, tile.w - 8)
        small = self.text.fit(
            OVERFLOW_NOTE, self.sizes.small, theme.TEXT_DIM, theme.OVERFLOW_BG, tile.w - 8
        )
        gap = self.sizes.pad // 2
        if text.get_height() + gap + small.get_height() > tile.h - 2 * self.sizes.pad:
            target.blit(text, text.get_rect(center=pr.center))
            return
        top = pr.centery - (text.get_height() + gap + small.get_height()) // 2
        target.blit(text, text.get_rect(midtop=(pr.centerx, top)))
        target.blit(small, small.get_rect(midtop=(pr.centerx, top + text.get_height() + gap)))
