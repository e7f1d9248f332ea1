"""Colours, text sizes and the font/text-surface caches of the renderer.

Sizes are heights of rendered text lines, as fractions of the screen's short side, so text
reads from 5 m on a 1080p screen: names 3.5 % (38 px), state titles 10 % (108 px).
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

import pygame

Color = tuple[int, int, int]

BLACK: Color = (0, 0, 0)
WHITE: Color = (255, 255, 255)
BACKGROUND: Color = (18, 20, 24)  # around tiles in a call
TILE_PLACEHOLDER: Color = (44, 48, 56)  # camera off / no frame yet
OVERFLOW_BG: Color = (64, 68, 78)
LABEL_BG: Color = (12, 12, 14)
LABEL_FG: Color = (240, 240, 240)
MUTE_COLOR: Color = (220, 38, 38)
SPEAKER_COLOR: Color = (255, 196, 0)
TOAST_BG: Color = (32, 36, 44)
TOAST_FG: Color = (250, 250, 250)
BANNER_BG: Color = (150, 40, 30)  # persistent in-call notice (media problem)
TEXT_DIM: Color = (170, 178, 190)
OK_COLOR: Color = (60, 200, 110)
BAD_COLOR: Color = (235, 80, 70)
UNKNOWN_COLOR: Color = (150, 150, 150)
HINT_COLOR: Color = (90, 220, 130)

STATE_BACKGROUND: dict[str, Color] = {
    "idle": (14, 28, 48),
    "joining": (16, 40, 72),
    "in_call": BACKGROUND,
    "reconnecting": (60, 42, 8),
    "error": (70, 14, 14),
}
STATE_TITLE_COLOR: dict[str, Color] = {
    "idle": WHITE,
    "joining": WHITE,
    "in_call": WHITE,
    "reconnecting": (255, 210, 90),
    "error": (255, 150, 140),
}

# Placeholder circle colours (none of them a pure primary, so never mistaken for video).
AVATAR_COLORS: tuple[Color, ...] = (
    (88, 101, 242),
    (46, 134, 171),
    (162, 59, 114),
    (241, 143, 1),
    (59, 142, 96),
    (199, 62, 29),
    (120, 94, 240),
    (0, 150, 136),
)

# Fractions of the short side of the screen.
NAME_FRACTION = 0.035
TITLE_FRACTION = 0.10
CLOCK_FRACTION = 0.12
LINE_FRACTION = 0.055
SMALL_FRACTION = 0.04
TOAST_FRACTION = 0.04
OVERFLOW_FRACTION = 0.07
BORDER_FRACTION = 0.006


@dataclass(frozen=True, slots=True)
class Sizes:
    """Pixel sizes for one screen."""

    name: int
    title: int
    clock: int
    line: int
    small: int
    toast: int
    overflow: int
    border: int
    pad: int

    @classmethod
    def for_screen(cls, width: int, height: int) -> Sizes:
        short = max(1, min(width, height))

        def px(fraction: float, minimum: int) -> int:
            return max(minimum, round(short * fraction))

        return cls(
            name=px(NAME_FRACTION, 12),
            title=px(TITLE_FRACTION, 18),
            clock=px(CLOCK_FRACTION, 20),
            line=px(LINE_FRACTION, 14),
            small=px(SMALL_FRACTION, 12),
            toast=px(TOAST_FRACTION, 12),
            overflow=px(OVERFLOW_FRACTION, 14),
            border=px(BORDER_FRACTION, 3),
            pad=px(0.008, 2),
        )


def avatar_color(key: str) -> Color:
    """A stable colour for a participant (by name), independent of Python's hash seed."""
    total = 0
    for ch in key:
        total = (total * 31 + ord(ch)) & 0xFFFFFFFF
    return AVATAR_COLORS[total % len(AVATAR_COLORS)]


def initials(name: str) -> str:
    """Up to two initials of a display name ("Ada Lovelace" → "AL"); "?" when empty."""
    words = [w for w in name.replace("_", " ").replace("-", " ").split() if w]
    if not words:
        return "?"
    letters = [w[0] for w in words if w[0].isalnum()] or [words[0][0]]
    if len(letters) == 1:
        return letters[0].upper()
    return (letters[0] + letters[-1]).upper()


def printable(text: str) -> str:
    """``text`` fit for the font renderer: control characters (a NUL crashes it, a newline
    shows as a box) become spaces, lone surrogates and format characters are dropped."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        else:
            category = unicodedata.category(ch)
            if category in ("Cc", "Zl", "Zp") or ch.isspace():
                out.append(" ")
            # Cs (lone surrogates), Cf (format), Co/Cn: dropped
    return "".join(out)


MAX_RENDER_CHARS = 256  # the longest text ever handed to the font renderer (cut with "…")
TEXT_CACHE_BYTES = 8 * 1024 * 1024  # rendered text surfaces kept, in bytes of pixels


def _cut(text: str) -> str:
    if len(text) <= MAX_RENDER_CHARS:
        return text
    return text[: MAX_RENDER_CHARS - 1] + "…"


def surface_bytes(surf: pygame.Surface) -> int:
    return surf.get_pitch() * surf.get_height()


class TextCache:
    """Fonts by pixel size and rendered text surfaces (opaque: drawn on their background).

    The surface cache is bounded by the bytes of its pixels (``max_bytes``), least recently
    used first out; a surface larger than the whole budget is returned but not kept. No text
    longer than ``MAX_RENDER_CHARS`` reaches the font renderer, and ``fit`` measures sizes
    without rendering, so the renderer never draws one text at many sizes.
    """

    def __init__(self, max_bytes: int = TEXT_CACHE_BYTES) -> None:
        self._fonts: dict[int, pygame.font.Font] = {}
        self._surfaces: OrderedDict[tuple[str, int, Color, Color | None], pygame.Surface] = (
            OrderedDict()
        )
        self.max_bytes = max_bytes
        self.bytes = 0  # pixel bytes of the cached surfaces
        self._ratio: float | None = None
        self.renders = 0  # how many texts were actually rendered (cache misses)

    def __len__(self) -> int:
        return len(self._surfaces)

    def font(self, size: int) -> pygame.font.Font:
        """The default font whose rendered line is ``size`` pixels high.

        ``pygame.font.Font(None, n)`` draws lines only about 0.68 n high, so the point size is
        scaled up to make ``size`` the real height of the text on screen.
        """
        font = self._fonts.get(size)
        if font is None:
            if not pygame.font.get_init():
                pygame.font.init()
            if self._ratio is None:
                probe = pygame.font.Font(None, 200)
                self._ratio = max(0.2, probe.get_height() / 200)
            font = pygame.font.Font(None, max(1, round(size / self._ratio)))
            self._fonts[size] = font
        return font

    def render(self, text: str, size: int, color: Color, bg: Color | None) -> pygame.Surface:
        text = _cut(printable(text))
        key = (text, size, color, bg)
        surf = self._surfaces.get(key)
        if surf is not None:
            self._surfaces.move_to_end(key)
            return surf
        font = self.font(size)
        surf = (
            font.render(text, True, color, bg) if bg is not None else font.render(text, True, color)
        )
        self.renders += 1
        cost = surface_bytes(surf)
        if cost > self.max_bytes:
            return surf
        self._surfaces[key] = surf
        self.bytes += cost
        while self.bytes > self.max_bytes:
            _, old = self._surfaces.popitem(last=False)
            self.bytes -= surface_bytes(old)
        return surf

    def fit(
        self,
        text: str,
        size: int,
        color: Color,
        bg: Color | None,
        max_width: int,
        *,
        min_size: int | None = None,
    ) -> pygame.Surface:
        """Render ``text`` no wider than ``max_width``: shrink down to ``min_size``, then cut
        the end with an ellipsis. Sizes are measured (``font.size``), only the result is
        rendered."""
        text = _cut(printable(text))
        max_width = max(1, max_width)
        smallest = max(8, min_size if min_size is not None else size)
        current = size
        while True:
            width = self.font(current).size(text)[0]
            if width <= max_width or current <= smallest:
                break
            current = max(smallest, int(current * 0.9))
        if width <= max_width:
            return self.render(text, current, color, bg)
        font = self.font(current)
        lo, hi = 0, len(text)
        while lo < hi:  # longest prefix that fits with the ellipsis
            mid = (lo + hi + 1) // 2
            if font.size(text[:mid].rstrip() + "…")[0] <= max_width:
                lo = mid
            else:
                hi = mid - 1
        return self.render(text[:lo].rstrip() + "…", current, color, bg)
