"""Frame painters: how video and the drawn screen reach the glass.

The renderer draws everything except video (backgrounds, names, marks, toasts, pages) onto a
pygame surface, exactly as before; a *frame painter* puts the video in and shows the result.
One is chosen when the display opens (:class:`kiosk.screen.display.Display`):

* :class:`SurfacePainter` — today's path, on every driver: the frame is converted to BGRA and
  scaled on the CPU into the surface; ``pygame.display.update`` copies the changed rectangles.
* :class:`TexturePainter` — where SDL has a renderer (GPU: GLES2 on a Pi with ``vc4-kms-v3d``,
  OpenGL on a desktop): every video source is an IYUV streaming texture updated with the
  decoded planes as they are (``SDL_UpdateYUVTexture``, no conversion on the CPU), scaled and
  converted by the GPU. The surface becomes a *canvas* with an alpha channel: where a video
  shows, the canvas is transparent (a hole punched when the tile is repainted); the changed
  rectangles of the canvas are uploaded into one screen-sized texture. A present draws the
  video textures, then the canvas over them (labels, marks and toasts stay on top).
  Only tiles with a new frame upload anything.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import av
import numpy as np
import pygame
from av.video.reformatter import VideoReformatter

from kiosk.errors import DisplayError
from kiosk.protocols import FrameSource
from kiosk.screen.layout import Rect
from kiosk.screen.sdl_render import (
    BLENDMODE_BLEND,
    BLENDMODE_NONE,
    PIXELFORMAT_IYUV,
    PIXELFORMAT_RGB24,
    SCALEMODE_LINEAR,
    SDL,
    TEXTUREACCESS_STREAMING,
    YUV_CONVERSION_BT601,
    RendererInfo,
    sdl_rect,
)
from kiosk.screen.tiles import FrameConverter, to_pygame_rect

log = logging.getLogger(__name__)

_YUV420 = ("yuv420p", "yuvj420p")
_TRANSPARENT = (0, 0, 0, 0)


class FramePainter(Protocol):
    """Puts video on the screen and shows what the renderer drew (see the module text)."""

    name: str  # the SDL renderer's name ("surface" for the CPU path)
    accelerated: bool  # SDL reports a GPU renderer (and GL is not a CPU rasterizer)
    gl_renderer: str | None  # the GL driver's own name, when SDL draws with OpenGL (ES)
    video_on_canvas: bool  # True: video pixels land on the surface (their rect is dirty)
    conversions: int  # frames converted or uploaded (tests, benches)

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
    ) -> bool: ...

    def forget_except(self, keep: set[int]) -> None: ...

    def present(self, target: pygame.Surface, rects: Sequence[pygame.Rect]) -> None: ...

    def read_rgb(self, target: pygame.Surface) -> tuple[bytes, int, int]: ...

    def close(self) -> None: ...


class SurfacePainter(FrameConverter):
    """The CPU path: swscale/pygame scaling into the surface, ``pygame.display.update``."""

    name = "surface"
    accelerated = False
    gl_renderer: str | None = None
    video_on_canvas = True

    def present(self, target: pygame.Surface, rects: Sequence[pygame.Rect]) -> None:
        if rects:
            pygame.display.update(list(rects))

    def read_rgb(self, target: pygame.Surface) -> tuple[bytes, int, int]:
        w, h = target.get_size()
        return pygame.image.tobytes(target, "RGB"), w, h

    def close(self) -> None:
        self.forget_except(set())


def canvas_surface(size: tuple[int, int]) -> pygame.Surface:
    """The surface the renderer draws on under a :class:`TexturePainter` (32 bit, alpha)."""
    surface = pygame.Surface((max(1, size[0]), max(1, size[1])), pygame.SRCALPHA, 32)
    surface.fill(_TRANSPARENT)
    return surface


class _VideoTexture:
    __slots__ = ("count", "dest", "frame", "size", "texture")

    def __init__(self, texture: int, size: tuple[int, int]) -> None:
        self.texture = texture
        self.size = size
        self.count = -1
        self.frame: Any = None
        self.dest: Rect | None = None


class TexturePainter:
    """The SDL renderer path (see the module text). ``renderer`` is an ``SDL_Renderer*`` of the
    window; this painter owns it and its textures and destroys them in :meth:`close`."""

    video_on_canvas = False

    def __init__(self, sdl: SDL, renderer: int, info: RendererInfo, size: tuple[int, int]) -> None:
        self.sdl = sdl
        self.renderer = renderer
        self.name = info.name
        self.accelerated = info.accelerated
        self.gl_renderer = info.gl_renderer
        self.conversions = 0
        self.uploads = 0  # canvas rectangles uploaded
        self.presents = 0
        self._videos: dict[int, _VideoTexture] = {}
        self._reformatters: dict[int, VideoReformatter] = {}
        self._failed: set[int] = set()
        self._changed = True
        self._canvas_tex: int = 0
        self._canvas_size = (0, 0)
        self._canvas_format = 0
        sdl.SetYUVConversionMode(YUV_CONVERSION_BT601)  # what swscale uses for VP8/H.264 SD
        self.canvas = self.resize(size)

    # --- canvas --------------------------------------------------------------------------

    def resize(self, size: tuple[int, int]) -> pygame.Surface:
        """A new canvas for a window of ``size`` (at start and after a fullscreen toggle)."""
        canvas = canvas_surface(size)
        if self._canvas_tex:
            self.sdl.DestroyTexture(self._canvas_tex)
            self._canvas_tex = 0
        masks = canvas.get_masks()
        fmt = int(self.sdl.MasksToPixelFormatEnum(32, *(m & 0xFFFFFFFF for m in masks)))
        w, h = canvas.get_size()
        tex = self.sdl.CreateTexture(self.renderer, fmt, TEXTUREACCESS_STREAMING, w, h)
        if not tex:
            raise DisplayError(f"display: cannot create the screen texture: {self.sdl.error()}")
        self.sdl.SetTextureBlendMode(tex, BLENDMODE_BLEND)
        self._canvas_tex = tex
        self._canvas_size = canvas.get_size()
        self._canvas_format = fmt
        self._changed = True
        self.canvas = canvas
        return canvas

    def _upload(self, target: pygame.Surface, rects: Sequence[pygame.Rect]) -> None:
        bounds = pygame.Rect(0, 0, *self._canvas_size)
        clipped = [r.clip(bounds) for r in rects]
        clipped = [r for r in clipped if r.w > 0 and r.h > 0]
        if not clipped:
            return
        if sum(r.w * r.h for r in clipped) * 2 > bounds.w * bounds.h:
            clipped = [bounds]  # one upload is cheaper than many overlapping ones
        pitch = target.get_pitch()
        base = target._pixels_address
        for r in clipped:
            at = base + r.y * pitch + r.x * 4
            if self.sdl.UpdateTexture(self._canvas_tex, sdl_rect(r.x, r.y, r.w, r.h), at, pitch):
                raise DisplayError(f"display: screen texture upload failed: {self.sdl.error()}")
            self.uploads += 1
        self._changed = True

    # --- video ---------------------------------------------------------------------------

    def _video_texture(self, key: int, size: tuple[int, int]) -> _VideoTexture:
        video = self._videos.get(key)
        if video is not None and video.size == size:
            return video
        if video is not None:
            self.sdl.DestroyTexture(video.texture)
            del self._videos[key]
        tex = self.sdl.CreateTexture(
            self.renderer, PIXELFORMAT_IYUV, TEXTUREACCESS_STREAMING, size[0], size[1]
        )
        if not tex:
            raise DisplayError(f"display: cannot create a video texture: {self.sdl.error()}")
        self.sdl.SetTextureBlendMode(tex, BLENDMODE_NONE)
        self.sdl.SetTextureScaleMode(tex, SCALEMODE_LINEAR)
        video = self._videos[key] = _VideoTexture(tex, size)
        return video

    def _planes(self, key: int, frame: Any) -> Any:
        if frame.format.name in _YUV420:
            return frame
        fmt = self._reformatters.get(key)
        if fmt is None:
            fmt = self._reformatters[key] = VideoReformatter()
        return fmt.reformat(frame, format="yuv420p", threads=1)

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
        """Upload ``frame`` into its source's texture (when new) and place it at ``dest``;
        punch the canvas hole when the tile was repainted. ``swscale`` is ignored: the GPU
        always scales bilinearly."""
        if dest.empty:
            return False
        key = id(source)
        try:
            w, h = int(frame.width), int(frame.height)
            video = self._video_texture(key, (w, h))
            if video.count != count or video.frame is not frame:
                yuv = self._planes(key, frame)
                y, u, v = (np.frombuffer(p, np.uint8) for p in yuv.planes[:3])
                ls = [p.line_size for p in yuv.planes[:3]]
                if self.sdl.UpdateYUVTexture(
                    video.texture,
                    None,
                    y.ctypes.data,
                    ls[0],
                    u.ctypes.data,
                    ls[1],
                    v.ctypes.data,
                    ls[2],
                ):
                    raise DisplayError(f"display: video texture update failed: {self.sdl.error()}")
                video.count = count
                video.frame = frame
                self.conversions += 1
                self._changed = True
        except (
            av.FFmpegError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            DisplayError,
        ) as exc:
            if key not in self._failed:
                self._failed.add(key)
                log.warning("screen: cannot draw a video frame (%s): %s", type(exc).__name__, exc)
            return False
        self._failed.discard(key)
        if repaint or video.dest != dest:
            target.fill(_TRANSPARENT, to_pygame_rect(dest))
        if video.dest != dest:
            video.dest = dest
            self._changed = True
            # Another source still placed here (it moved or stopped) would show through the hole.
            for other_key, other in self._videos.items():
                if other_key != key and other.dest is not None and _overlap(other.dest, dest):
                    other.dest = None
        return True

    def forget_except(self, keep: set[int]) -> None:
        for key in [k for k in self._videos if k not in keep]:
            self.sdl.DestroyTexture(self._videos.pop(key).texture)
            self._changed = True
        for key in [k for k in self._reformatters if k not in keep]:
            del self._reformatters[key]

    def hide_video(self, dest: Rect) -> None:
        """Nothing placed under ``dest`` any more (the renderer painted over it)."""
        for video in self._videos.values():
            if video.dest is not None and _overlap(video.dest, dest):
                video.dest = None

    # --- showing -------------------------------------------------------------------------

    def _compose(self) -> None:
        sdl, r = self.sdl, self.renderer
        sdl.SetRenderDrawColor(r, 0, 0, 0, 255)
        sdl.RenderClear(r)
        for video in self._videos.values():
            if video.dest is not None:
                d = video.dest
                sdl.RenderCopy(r, video.texture, None, sdl_rect(d.x, d.y, d.w, d.h))
        sdl.RenderCopy(r, self._canvas_tex, None, None)

    def present(self, target: pygame.Surface, rects: Sequence[pygame.Rect]) -> None:
        """Upload the changed canvas rectangles; compose and present when anything changed."""
        if rects:
            self._upload(target, rects)
        if not self._changed:
            return
        self._changed = False
        self._compose()
        self.sdl.RenderPresent(self.renderer)
        self.presents += 1

    def read_rgb(self, target: pygame.Surface) -> tuple[bytes, int, int]:
        """What the screen shows, read back from the renderer (``SDL_RenderReadPixels``)."""
        w, h = self._canvas_size
        self._upload(target, [pygame.Rect(0, 0, w, h)])
        self._compose()  # into the back buffer, not presented: the next present recomposes
        buf = ctypes.create_string_buffer(w * h * 3)
        if self.sdl.RenderReadPixels(self.renderer, None, PIXELFORMAT_RGB24, buf, w * 3):
            raise DisplayError(f"display: reading the screen back failed: {self.sdl.error()}")
        self._changed = True
        return buf.raw, w, h

    def close(self) -> None:
        for video in self._videos.values():
            self.sdl.DestroyTexture(video.texture)
        self._videos.clear()
        if self._canvas_tex:
            self.sdl.DestroyTexture(self._canvas_tex)
            self._canvas_tex = 0
        if self.renderer:
            self.sdl.DestroyRenderer(self.renderer)
            self.renderer = 0


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h
