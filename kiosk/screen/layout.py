"""Pure screen layout: where the main view, the thumbnail strip and each tile go.

Integers and plain dataclasses only (no pygame), so it is tested without a display.

The main view takes the screen minus the strip. The strip runs along the bottom (landscape) or
down the right side (portrait screens, with ``strip="auto"``). Thumbnails all have the same
size, derived from the screen's short side so they read the same on either orientation. When
more participants than fit, the strip shows as many as fit and a final "+N" tile counts the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

StripPlacement = Literal["auto", "bottom", "side"]

# Thumbnail height as a fraction of the screen's short side (1080 → 178 px), and the gap
# between thumbnails (and around the strip) as a fraction of the short side (1080 → 9 px).
THUMB_FRACTION = 0.165
GAP_FRACTION = 0.008
MIN_THUMB = 8  # px; below this there is no strip
_MANY = 1 << 30  # "more participants than any screen has slots" (thumbnails at their smallest)
SMALL_THUMB_FRACTION = 0.12  # the smallest thumbnails when many participants (1080 → 130 px)


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle in screen pixels (``x``/``y`` top-left, ``w``/``h`` size)."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def center(self) -> tuple[int, int]:
        return (self.x + self.w // 2, self.y + self.h // 2)

    @property
    def size(self) -> tuple[int, int]:
        return (self.w, self.h)

    @property
    def empty(self) -> bool:
        return self.w <= 0 or self.h <= 0

    def contains_point(self, px: int, py: int) -> bool:
        return self.x <= px < self.right and self.y <= py < self.bottom

    def contains(self, other: Rect) -> bool:
        return (
            self.x <= other.x
            and self.y <= other.y
            and other.right <= self.right
            and other.bottom <= self.bottom
        )

    def intersects(self, other: Rect) -> bool:
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True, slots=True)
class TileSlot:
    """One thumbnail of the strip: the participant ``id`` drawn in ``rect``."""

    id: str
    rect: Rect


@dataclass(frozen=True, slots=True)
class OverflowSlot:
    """The "+N" tile: ``count`` participants that did not fit in the strip."""

    count: int
    rect: Rect

    @property
    def label(self) -> str:
        return f"+{self.count}"


class _PlacedTiles:
    """What both layouts answer about their tiles (a base for the two frozen dataclasses)."""

    __slots__ = ()
    tiles: tuple[TileSlot, ...]
    overflow: OverflowSlot | None

    def tile_rect(self, tile_id: str) -> Rect | None:
        for slot in self.tiles:
            if slot.id == tile_id:
                return slot.rect
        return None

    @property
    def hidden_count(self) -> int:
        return self.overflow.count if self.overflow else 0


@dataclass(frozen=True, slots=True)
class Layout(_PlacedTiles):
    """The result of :func:`compute_layout`.

    ``main`` is the whole main-view area (the renderer letterboxes the video inside it);
    ``main_video`` is ``main_aspect`` fitted into it (a hint for sources of that aspect);
    ``strip`` is ``None`` when there are no tiles.
    """

    screen: Rect
    main: Rect
    main_video: Rect
    strip: Rect | None
    placement: Literal["bottom", "side"]
    tiles: tuple[TileSlot, ...]
    overflow: OverflowSlot | None
    thumb_size: tuple[int, int]


def fit_rect(src_w: int, src_h: int, box: Rect) -> Rect:
    """The largest rectangle of aspect ``src_w:src_h`` centred in ``box`` (letterbox/pillarbox).

    A degenerate source (zero or negative size) fills the box; the result never leaves the box
    and is at least 1x1 when the box is not empty.
    """
    if box.empty:
        return Rect(box.x, box.y, max(box.w, 0), max(box.h, 0))
    if src_w <= 0 or src_h <= 0:
        return box
    # Compare aspects with integer cross-multiplication: src_w/src_h vs box.w/box.h.
    if src_w * box.h >= src_h * box.w:
        w = box.w
        h = max(1, min(box.h, (box.w * src_h + src_w // 2) // src_w))
    else:
        h = box.h
        w = max(1, min(box.w, (box.h * src_w + src_h // 2) // src_h))
    x = box.x + (box.w - w) // 2
    y = box.y + (box.h - h) // 2
    return Rect(x, y, w, h)


def thumb_metrics(
    screen_w: int, screen_h: int, tile_aspect: tuple[int, int]
) -> tuple[int, int, int]:
    """``(thumb_w, thumb_h, gap)`` for a screen: same thumbnail size in either orientation."""
    short = max(0, min(screen_w, screen_h))
    gap = max(2, round(short * GAP_FRACTION))
    th = max(1, round(short * THUMB_FRACTION))
    aw, ah = tile_aspect
    tw = max(1, (th * aw + ah // 2) // ah) if aw > 0 and ah > 0 else th
    return tw, th, gap


def compute_layout(
    screen_w: int,
    screen_h: int,
    tile_ids: Sequence[str],
    *,
    strip: StripPlacement = "auto",
    main_aspect: tuple[int, int] = (16, 9),
    tile_aspect: tuple[int, int] = (16, 9),
    more: int = 0,
) -> Layout:
    """Place the main view and a strip of thumbnails for ``tile_ids`` (in the given order).

    ``strip="auto"`` puts the strip along the bottom on landscape (and square) screens and down
    the right side on portrait screens. With no tiles there is no strip and the main view takes
    the whole screen. With many tiles the thumbnails first shrink (to no less than
    ``SMALL_THUMB_FRACTION`` of the short side); if they still do not all fit, the first ones
    are shown and a last "+N" tile counts the others. A window too small for thumbnails of
    ``MIN_THUMB`` pixels gets no strip. Nothing is ever placed outside the screen.

    ``more``: participants after ``tile_ids`` that the caller left out (a room larger than any
    screen: :func:`max_tiled` says how many ids are enough); they count like ids that did not
    fit, so the layout is the same as for all ids, at a cost that does not grow with the room.
    """
    sw = max(0, int(screen_w))
    sh = max(0, int(screen_h))
    screen = Rect(0, 0, sw, sh)
    if strip == "auto":
        placement: Literal["bottom", "side"] = "side" if sh > sw else "bottom"
    elif strip in ("bottom", "side"):
        placement = strip
    else:
        raise ValueError(f"strip: expected 'auto', 'bottom' or 'side', got {strip!r}")
    tw, th, gap = thumb_metrics(sw, sh, tile_aspect)

    no_strip = Layout(
        screen=screen,
        main=screen,
        main_video=fit_rect(main_aspect[0], main_aspect[1], screen),
        strip=None,
        placement=placement,
        tiles=(),
        overflow=None,
        thumb_size=(tw, th),
    )
    ids = list(tile_ids)
    n = len(ids) + max(0, more)
    if n == 0 or sw == 0 or sh == 0:
        return no_strip

    fit = _strip_fit(sw, sh, n, placement, tile_aspect)
    if fit is None:
        return no_strip  # a window too small for thumbnails: main view only
    tw, th, gap, length, strip_rect, main, step_len, capacity = fit
    if n <= capacity:
        shown = ids
        overflow_count = n - len(shown)  # ``more`` but room for them: counted all the same
    elif capacity >= 1:
        shown = ids[: capacity - 1]
        overflow_count = n - len(shown)
    else:
        shown = []
        overflow_count = 0  # not even a "+N" tile fits: the strip stays empty
    slots_used = len(shown) + (1 if overflow_count else 0)

    # Centre the used slots along the strip.
    used_len = slots_used * step_len + max(0, slots_used - 1) * gap
    start = (length - used_len) // 2

    def slot_rect(i: int) -> Rect:
        offset = start + i * (step_len + gap)
        if placement == "bottom":
            return Rect(offset, strip_rect.y + (strip_rect.h - th) // 2, tw, th)
        return Rect(strip_rect.x + (strip_rect.w - tw) // 2, offset, tw, th)

    tiles = tuple(TileSlot(tile_id, slot_rect(i)) for i, tile_id in enumerate(shown))
    overflow = OverflowSlot(overflow_count, slot_rect(len(shown))) if overflow_count else None
    return Layout(
        screen=screen,
        main=main,
        main_video=fit_rect(main_aspect[0], main_aspect[1], main),
        strip=strip_rect,
        placement=placement,
        tiles=tiles,
        overflow=overflow,
        thumb_size=(tw, th),
    )


def _strip_fit(
    sw: int,
    sh: int,
    n: int,
    placement: Literal["bottom", "side"],
    tile_aspect: tuple[int, int],
) -> tuple[int, int, int, int, Rect, Rect, int, int] | None:
    """The strip for ``n`` thumbnails on a ``sw`` x ``sh`` screen: ``(tw, th, gap, length,
    strip, main, step, capacity)`` — thumbnail size, gap, the strip's length, its rectangle,
    the main view's, the thumbnail length along the strip and how many slots it has; ``None``
    when thumbnails would be smaller than ``MIN_THUMB``. ``capacity`` never falls as ``n``
    grows (thumbnails only shrink), so ``n`` = a huge number gives the most slots any count gets.
    """
    tw, th, gap = thumb_metrics(sw, sh, tile_aspect)
    n = max(1, n)
    # With many participants the thumbnails shrink (down to SMALL_THUMB_FRACTION of the short
    # side) so that more of them fit before a "+N" tile is needed.
    aw, ah = max(1, tile_aspect[0]), max(1, tile_aspect[1])
    length = sw if placement == "bottom" else sh
    along = (length - (n + 1) * gap) // n  # thumbnail length along the strip for all to fit
    along_th = along * ah // aw if placement == "bottom" else along
    small_th = max(1, round(min(sw, sh) * SMALL_THUMB_FRACTION))
    if along_th < th:
        th = max(min(th, small_th), along_th)
        tw = max(1, (th * aw + ah // 2) // ah)

    if placement == "bottom":
        # The strip never takes more than half the screen; thumbnails shrink to fit that.
        thickness = min(th + 2 * gap, sh // 2)
        th = max(1, thickness - 2 * gap)
        tw = max(1, (th * tile_aspect[0] + tile_aspect[1] // 2) // max(1, tile_aspect[1]))
        tw = min(tw, max(1, sw - 2 * gap))
        strip_rect = Rect(0, sh - thickness, sw, thickness)
        main = Rect(0, 0, sw, sh - thickness)
        step_len = tw
    else:
        thickness = min(tw + 2 * gap, sw // 2)
        tw = max(1, thickness - 2 * gap)
        th = max(1, (tw * tile_aspect[1] + tile_aspect[0] // 2) // max(1, tile_aspect[0]))
        th = min(th, max(1, sh - 2 * gap))
        strip_rect = Rect(sw - thickness, 0, thickness, sh)
        main = Rect(0, 0, sw - thickness, sh)
        step_len = th

    if tw < MIN_THUMB or th < MIN_THUMB:
        return None
    capacity = max(0, (length - gap) // (step_len + gap))
    return tw, th, gap, length, strip_rect, main, step_len, capacity


def strip_capacity(
    screen_w: int,
    screen_h: int,
    *,
    strip: StripPlacement = "auto",
    tile_aspect: tuple[int, int] = (16, 9),
) -> int:
    """The most slots (thumbnails, "+N" included) the strip of this screen has for any number
    of participants (0: no strip)."""
    sw, sh = max(0, int(screen_w)), max(0, int(screen_h))
    if sw == 0 or sh == 0:
        return 0
    placement: Literal["bottom", "side"]
    if strip == "auto":
        placement = "side" if sh > sw else "bottom"
    else:
        placement = "side" if strip == "side" else "bottom"
    fit = _strip_fit(sw, sh, _MANY, placement, tile_aspect)
    if fit is not None:
        return fit[-1]
    # No strip at the smallest thumbnails; fewer participants might still get one: a bound
    # (every slot is at least MIN_THUMB long plus a gap of at least 2 px).
    return (sw if placement == "bottom" else sh) // (MIN_THUMB + 2)


def shift_layout(layout: Layout, dy: int) -> Layout:
    """``layout`` moved down by ``dy`` pixels (computed for a screen ``dy`` shorter, to leave a
    band at the top free, e.g. for the in-call information line)."""

    def move(r: Rect) -> Rect:
        return Rect(r.x, r.y + dy, r.w, r.h)

    return Layout(
        screen=Rect(layout.screen.x, layout.screen.y, layout.screen.w, layout.screen.h + dy),
        main=move(layout.main),
        main_video=move(layout.main_video),
        strip=move(layout.strip) if layout.strip is not None else None,
        placement=layout.placement,
        tiles=tuple(TileSlot(t.id, move(t.rect)) for t in layout.tiles),
        overflow=(
            OverflowSlot(layout.overflow.count, move(layout.overflow.rect))
            if layout.overflow is not None
            else None
        ),
        thumb_size=layout.thumb_size,
    )


# --- gallery: an equal grid -------------------------------------------------------------------

LayoutMode = Literal["speaker", "gallery", "auto"]
GALLERY_MAX = 9
"""Most tiles in the gallery grid; more participants leave a "+N" tile as the last one."""
AUTO_GALLERY_MAX = 4
"""``auto`` shows the gallery for 2 to this many remote participants, else the speaker view."""


@dataclass(frozen=True, slots=True)
class GalleryLayout(_PlacedTiles):
    """The result of :func:`compute_gallery`: equal tiles, row by row, centred in ``area``."""

    area: Rect
    tiles: tuple[TileSlot, ...]
    overflow: OverflowSlot | None
    columns: int
    rows: int


def choose_layout(
    mode: LayoutMode, remote_count: int, *, auto_max: int = AUTO_GALLERY_MAX
) -> Literal["speaker", "gallery"]:
    """``speaker`` or ``gallery`` for ``mode``; ``auto``: the gallery for small meetings
    (2..``auto_max`` remote participants), the speaker view for one person or many."""
    if mode == "speaker":
        return "speaker"
    if mode == "gallery":
        return "gallery"
    if mode != "auto":
        raise ValueError(f"layout: expected 'speaker', 'gallery' or 'auto', got {mode!r}")
    return "gallery" if 2 <= remote_count <= auto_max else "speaker"


def gallery_ids(remote_ids: Sequence[str], self_id: str, *, include_self: bool) -> list[str]:
    """The tiles of the gallery in order: remote participants, then the room's own camera."""
    ids = [i for i in remote_ids if i != self_id]
    return [*ids, self_id] if include_self else ids


def _grid(n: int, area: Rect, gap: int, aspect: tuple[int, int]) -> tuple[int, int, int, int]:
    """(columns, rows, tile_w, tile_h) giving the largest tiles of ``aspect`` for ``n``."""
    aw, ah = max(1, aspect[0]), max(1, aspect[1])
    best = (1, n, 0, 0)
    for cols in range(1, n + 1):
        rows = -(-n // cols)
        cell_w = (area.w - (cols + 1) * gap) // cols
        cell_h = (area.h - (rows + 1) * gap) // rows
        if cell_w <= 0 or cell_h <= 0:
            continue
        w = min(cell_w, cell_h * aw // ah)
        h = min(cell_h, w * ah // aw)
        if w * h > best[2] * best[3]:
            best = (cols, rows, w, h)
    return best


def compute_gallery(
    area: Rect,
    tile_ids: Sequence[str],
    *,
    max_tiles: int = GALLERY_MAX,
    tile_aspect: tuple[int, int] = (16, 9),
    more: int = 0,
    keep: str | None = None,
) -> GalleryLayout:
    """Place up to ``max_tiles`` equal tiles in ``area`` (largest size for the count; rows
    centred, a short last row centred too). With more ids the first ``max_tiles - 1`` are shown
    and the last tile is "+N" for the rest. Nothing is placed outside ``area``.

    ``more``: participants after ``tile_ids`` left out by the caller (counted in "+N");
    ``keep``: an id never hidden (the speaker): when it is beyond the shown ones it takes the
    last shown place, so only that one tile changes."""
    ids = list(tile_ids)
    if max_tiles < 1:
        raise ValueError(f"max_tiles must be at least 1, got {max_tiles}")
    total = len(ids) + max(0, more)
    if total == 0 or area.empty:
        return GalleryLayout(area, (), None, 0, 0)
    if total > max_tiles:
        shown = ids[: max_tiles - 1]
        if shown and keep is not None and keep not in shown and keep in ids:
            shown[-1] = keep
        hidden = total - len(shown)
    else:
        shown = ids
        hidden = total - len(shown)
    slots = len(shown) + (1 if hidden else 0)
    gap = max(2, round(min(area.w, area.h) * GAP_FRACTION))
    cols, rows, w, h = _grid(slots, area, gap, tile_aspect)
    if w < MIN_THUMB or h < MIN_THUMB:
        return GalleryLayout(area, (), OverflowSlot(total, area), 0, 0)
    grid_h = rows * h + (rows - 1) * gap
    top = area.y + (area.h - grid_h) // 2
    rects: list[Rect] = []
    for row in range(rows):
        in_row = min(cols, slots - row * cols)
        row_w = in_row * w + (in_row - 1) * gap
        left = area.x + (area.w - row_w) // 2
        for col in range(in_row):
            rects.append(Rect(left + col * (w + gap), top + row * (h + gap), w, h))
    tiles = tuple(TileSlot(tile_id, rects[i]) for i, tile_id in enumerate(shown))
    overflow = OverflowSlot(hidden, rects[len(shown)]) if hidden else None
    return GalleryLayout(area, tiles, overflow, cols, rows)


# --- who has a place on screen --------------------------------------------------------------


def tiled_ids(
    screen_w: int,
    screen_h: int,
    tile_ids: Sequence[str],
    main_id: str | None,
    *,
    layout: Literal["speaker", "gallery"] = "speaker",
    strip: StripPlacement = "auto",
    main_aspect: tuple[int, int] = (16, 9),
    top: int = 0,
    more: int = 0,
) -> tuple[str, ...]:
    """The ids drawn with a picture of their own, in screen order (main view first): what the
    renderer's layout gives a tile. Those beyond — the "+N" — are left out.

    The same functions as the renderer: speaker view = ``main_id`` (or the first id when it is
    not among ``tile_ids``) on the main view and :func:`compute_layout` for the others below a
    band of ``top`` pixels; gallery = :func:`compute_gallery` of that area, ``main_id`` kept.
    ``more``: participants after ``tile_ids`` that the caller left out (see :func:`max_tiled`).
    """
    ids = list(tile_ids)
    if layout == "gallery":
        gallery = compute_gallery(
            Rect(0, top, screen_w, max(0, screen_h - top)), ids, more=more, keep=main_id
        )
        return tuple(t.id for t in gallery.tiles)
    if not ids:
        return ()
    main = main_id if main_id in ids else ids[0]
    rest = [i for i in ids if i != main]
    placed = compute_layout(
        screen_w, max(0, screen_h - top), rest, strip=strip, main_aspect=main_aspect, more=more
    )
    return (main, *(t.id for t in placed.tiles))


def max_tiled(
    screen_w: int,
    screen_h: int,
    *,
    layout: Literal["speaker", "gallery"] = "speaker",
    strip: StripPlacement = "auto",
    top: int = 0,
    max_gallery: int = GALLERY_MAX,
) -> int:
    """How many ids, in the room's order, are enough for :func:`tiled_ids` (and the renderer's
    layout) on this screen, whatever the size of the room: the main view plus every slot of the
    strip, or the gallery's tiles. The ids after them can be left out and passed as a count
    (``more``): the result is the same, and work per frame stays bounded by the screen."""
    if layout == "gallery":
        return max(1, max_gallery)
    return 1 + strip_capacity(screen_w, max(0, screen_h - top), strip=strip)
