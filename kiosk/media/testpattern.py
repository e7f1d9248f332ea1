"""A synthetic camera: moving picture with a name, a clock and a machine-readable timestamp.

The bottom tenth of every frame is a *code strip*: ``CELLS`` equally wide black/white blocks
spanning the full width. From left to right: two guard cells (white, black), 24 data bits (the
wall-clock time in ms modulo 2^24, most significant bit first), 8 bits of CRC-8 over those three
bytes, and two guard cells (black, white). Because the strip is laid out in fractions of the
picture, it survives scaling to any size or aspect ratio and VP8 compression: `read_timestamp`
samples the centre of each block. Glass-to-glass latency = now - timestamp (mod 2^24 ms).

Frame generation is cheap: the background and the name are rendered once, the clock text once per
second, and each frame only copies the background, draws the moving bar and fills the strip.
"""

from __future__ import annotations

import fractions
import os
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame
import pygame.font

from kiosk.media.pacing import Pacer

Image = npt.NDArray[np.uint8]

TIMESTAMP_BITS = 24
TIMESTAMP_MODULO = 1 << TIMESTAMP_BITS
_CRC_BITS = 8
_GUARD_START = (1, 0)
_GUARD_END = (0, 1)
CELLS = len(_GUARD_START) + TIMESTAMP_BITS + _CRC_BITS + len(_GUARD_END)
STRIP_FRACTION = 0.1  # the strip is a tenth of the picture high …
# … and sits in the middle band, clear of the overlays a screen puts on video: name labels along
# the bottom edge and mute marks in the top corners would otherwise cover its guard cells.
STRIP_TOP_FRACTION = 0.57
_MIN_CONTRAST = 60.0  # white guard minus black guard, in 0..255 luma
_AMBIGUOUS_BAND = 0.2  # cells within ±20 % of the contrast around the midpoint are unreadable

VIDEO_CLOCK_RATE = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


def crc8(data: bytes) -> int:
    """CRC-8 with polynomial 0x07 (no reflection, init 0)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def timestamp_bits(ms: int) -> list[int]:
    """The cell values (1 = white, 0 = black) that encode ``ms`` (taken modulo 2^24)."""
    value = ms % TIMESTAMP_MODULO
    data = [(value >> (TIMESTAMP_BITS - 1 - i)) & 1 for i in range(TIMESTAMP_BITS)]
    check = crc8(value.to_bytes(3, "big"))
    crc = [(check >> (_CRC_BITS - 1 - i)) & 1 for i in range(_CRC_BITS)]
    return [*_GUARD_START, *data, *crc, *_GUARD_END]


def _cell_edges(length: int) -> list[int]:
    return [round(i * length / CELLS) for i in range(CELLS + 1)]


def _strip_rows(height: int) -> tuple[int, int]:
    top = round(height * STRIP_TOP_FRACTION)
    return top, min(height, top + max(1, round(height * STRIP_FRACTION)))


def draw_timestamp(image: Image, ms: int) -> None:
    """Paint the code strip for ``ms`` into its band of ``image`` (H, W, 3), in place."""
    height, width = image.shape[0], image.shape[1]
    top, bottom = _strip_rows(height)
    edges = _cell_edges(width)
    strip = image[top:bottom, :, :]
    for i, bit in enumerate(timestamp_bits(ms)):
        strip[:, edges[i] : edges[i + 1], :] = 255 if bit else 0


def read_timestamp(
    image: npt.NDArray[Any], region: tuple[int, int, int, int] | None = None
) -> int | None:
    """Decode the timestamp (ms mod 2^24) from an RGB picture, or None if absent or corrupt.

    ``region`` is ``(x, y, width, height)`` of the test-pattern picture inside ``image`` (for
    example a tile in a screenshot); by default the whole image is the picture.
    """
    if image.ndim != 3 or image.shape[2] < 3:
        return None
    if region is not None:
        x, y, w, h = region
        image = image[y : y + h, x : x + w, :3]
    height, width = image.shape[0], image.shape[1]
    if width < CELLS * 2 or height < 20:
        return None
    strip_h = height * STRIP_FRACTION
    top = height * STRIP_TOP_FRACTION
    y0 = int(top + strip_h * 0.25)
    y1 = max(y0 + 1, int(top + strip_h * 0.75))
    rows = image[y0:y1, :, :3].astype(np.float32).mean(axis=(0, 2))  # luma-ish per column
    levels: list[float] = []
    for i in range(CELLS):
        left = (i + 0.25) * width / CELLS
        right = (i + 0.75) * width / CELLS
        a = round(left)
        b = max(a + 1, round(right))
        levels.append(float(rows[a:b].mean()))
    n = len(_GUARD_START)
    white = (levels[0] + levels[-1]) / 2
    black = (levels[1] + levels[-2]) / 2
    contrast = white - black
    if contrast < _MIN_CONTRAST:
        return None
    mid = (white + black) / 2
    band = contrast * _AMBIGUOUS_BAND
    bits: list[int] = []
    for level in levels:
        if abs(level - mid) < band:
            return None
        bits.append(1 if level > mid else 0)
    if tuple(bits[:n]) != _GUARD_START or tuple(bits[-len(_GUARD_END) :]) != _GUARD_END:
        return None
    data = bits[n : n + TIMESTAMP_BITS]
    crc = bits[n + TIMESTAMP_BITS : n + TIMESTAMP_BITS + _CRC_BITS]
    value = 0
    for bit in data:
        value = (value << 1) | bit
    check = 0
    for bit in crc:
        check = (check << 1) | bit
    if crc8(value.to_bytes(3, "big")) != check:
        return None
    return value


def latency_ms(
    image: npt.NDArray[Any],
    now_ms: int,
    region: tuple[int, int, int, int] | None = None,
) -> int | None:
    """Milliseconds between the frame's timestamp and ``now_ms`` (wall clock), or None."""
    stamp = read_timestamp(image, region)
    if stamp is None:
        return None
    return (now_ms - stamp) % TIMESTAMP_MODULO


_font_cache: dict[int, pygame.font.Font] = {}


def _font(size: int) -> pygame.font.Font:
    font = _font_cache.get(size)
    if font is None:
        if not pygame.font.get_init():
            pygame.font.init()
        font = pygame.font.Font(None, size)
        _font_cache[size] = font
    return font


def _render_text(text: str, size: int, color: tuple[int, int, int]) -> Image:
    surface = _font(size).render(text, True, color, (0, 0, 0))
    array: Image = np.ascontiguousarray(pygame.surfarray.array3d(surface).transpose(1, 0, 2))
    return array


def _blit(dest: Image, src: Image, x: int, y: int) -> None:
    """Copy ``src`` into ``dest`` at (x, y) using max() so black text boxes stay transparent."""
    h = min(src.shape[0], dest.shape[0] - y)
    w = min(src.shape[1], dest.shape[1] - x)
    if h <= 0 or w <= 0:
        return
    region = dest[y : y + h, x : x + w]
    np.maximum(region, src[:h, :w], out=region)


class PatternRenderer:
    """Renders test-pattern pictures as RGB arrays; static parts are pre-rendered."""

    def __init__(self, name: str, width: int = 640, height: int = 480) -> None:
        if width < CELLS * 2 or height < 40:
            raise ValueError(f"test pattern size {width}x{height} is too small")
        self.name = name
        self.width = width
        self.height = height
        self._strip_top = _strip_rows(height)[0]
        self._background = self._make_background()
        self._text_size = max(12, height // 12)
        self._clock_key: int | None = None
        self._clock_image: Image | None = None

    def _make_background(self) -> Image:
        h, w = self.height, self.width
        ramp = np.linspace(20, 90, h, dtype=np.float32)[:, None]
        image = np.zeros((h, w, 3), dtype=np.uint8)
        image[:, :, 0] = 10
        image[:, :, 1] = (ramp * 0.5).astype(np.uint8)
        image[:, :, 2] = np.broadcast_to(ramp, (h, w)).astype(np.uint8)
        # colour bars in the upper middle band make scaling/colour problems visible
        bars = [
            (200, 200, 200),
            (200, 200, 0),
            (0, 200, 200),
            (0, 200, 0),
            (200, 0, 200),
            (200, 0, 0),
            (0, 0, 200),
        ]
        top, bottom = int(h * 0.33), int(h * 0.53)
        for i, colour in enumerate(bars):
            x0, x1 = i * w // len(bars), (i + 1) * w // len(bars)
            image[top:bottom, x0:x1] = colour
        name = _render_text(self.name, max(14, h // 8), (255, 255, 255))
        _blit(image, name, max(4, w // 40), max(4, h // 40))
        return image

    def _clock(self, now: float) -> Image:
        key = int(now)
        if key != self._clock_key or self._clock_image is None:
            text = time.strftime("%H:%M:%S UTC", time.gmtime(now))
            self._clock_image = _render_text(text, self._text_size, (255, 255, 120))
            self._clock_key = key
        return self._clock_image

    def render(self, now: float) -> Image:
        """The picture for wall-clock time ``now`` (seconds since the epoch)."""
        image = self._background.copy()
        h, w = self.height, self.width
        _blit(image, self._clock(now), max(4, w // 40), max(4, h // 40) + max(14, h // 8))
        # moving element: a white bar sweeping back and forth once every two seconds
        phase = (now % 2.0) / 2.0
        travel = 1.0 - abs(2.0 * phase - 1.0)
        bar_w = max(4, w // 16)
        x = int(travel * (w - bar_w))
        image[int(h * 0.70) : int(h * 0.86), x : x + bar_w] = 255
        draw_timestamp(image, round(now * 1000))
        return image


class TestPatternTrack(MediaStreamTrack):
    """A video track of test-pattern frames paced at ``fps`` in real time."""

    kind = "video"
    __test__ = False  # not a pytest test class

    def __init__(
        self,
        name: str,
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        if fps <= 0:
            raise ValueError("test pattern fps must be positive")
        self.fps = fps
        self.width = width
        self.height = height
        self._clock = clock
        self._renderer = PatternRenderer(name, width, height)
        self._pacer = Pacer(fps)
        self._frames = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self._frames)
        image = self._renderer.render(self._clock())
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self._frames * VIDEO_CLOCK_RATE // self.fps
        frame.time_base = VIDEO_TIME_BASE
        self._frames += 1
        return frame
