"""The SDL library pygame loaded, reached through ctypes, for what pygame-ce does not offer.

pygame-ce 2.5's ``pygame._sdl2.video`` has renderers and RGB textures, but no YUV texture
update (pygame-ce#1504). The decoded video is yuv420p; an IYUV streaming texture takes its three
planes as they are (``SDL_UpdateYUVTexture``) and the renderer converts and scales on the GPU.

:func:`bundled_sdl` finds the libSDL2 that is already mapped into this process (the copy in the
pygame-ce wheel's ``pygame_ce.libs``, or the system's) by reading ``/proc/self/maps`` and opens
that very file, so the window pygame created and the renderer made here live in one SDL. The
version is checked against ``pygame.get_sdl_version()``. Where the library cannot be found
(no ``/proc``, pygame linked statically) the caller falls back to the surface path.
"""

from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass
from typing import Any

import pygame

from kiosk.errors import DisplayError

# SDL_pixels.h / SDL_render.h (SDL 2.x ABI, stable across 2.0.x)
PIXELFORMAT_IYUV = 0x56555949  # Y plane, then U, then V (yuv420p's order)
PIXELFORMAT_RGB24 = 0x17101803
TEXTUREACCESS_STREAMING = 1
RENDERER_SOFTWARE = 0x1
RENDERER_ACCELERATED = 0x2
BLENDMODE_NONE = 0
BLENDMODE_BLEND = 1
SCALEMODE_LINEAR = 1
YUV_CONVERSION_BT601 = 1

_LIB_NAME = re.compile(r"^libSDL2(-2\.0|-2-[0-9a-f]+\.0)?\.so")


class SDLRect(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("w", ctypes.c_int),
        ("h", ctypes.c_int),
    ]


class _RendererInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("flags", ctypes.c_uint32),
        ("num_texture_formats", ctypes.c_uint32),
        ("texture_formats", ctypes.c_uint32 * 16),
        ("max_texture_width", ctypes.c_int),
        ("max_texture_height", ctypes.c_int),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint8), ("minor", ctypes.c_uint8), ("patch", ctypes.c_uint8)]


_P = ctypes.c_void_p
_I = ctypes.c_int
_U32 = ctypes.c_uint32
_RECT = ctypes.POINTER(SDLRect)

# name: (restype, argtypes)
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "SDL_GetVersion": (None, [ctypes.POINTER(_Version)]),
    "SDL_GetError": (ctypes.c_char_p, []),
    "SDL_GetWindowFromID": (_P, [_U32]),
    "SDL_GetRenderer": (_P, [_P]),
    "SDL_CreateRenderer": (_P, [_P, _I, _U32]),
    "SDL_DestroyRenderer": (None, [_P]),
    "SDL_GetRendererInfo": (_I, [_P, ctypes.POINTER(_RendererInfo)]),
    "SDL_CreateTexture": (_P, [_P, _U32, _I, _I, _I]),
    "SDL_DestroyTexture": (None, [_P]),
    "SDL_UpdateTexture": (_I, [_P, _RECT, _P, _I]),
    "SDL_UpdateYUVTexture": (_I, [_P, _RECT, _P, _I, _P, _I, _P, _I]),
    "SDL_SetTextureBlendMode": (_I, [_P, _I]),
    "SDL_SetTextureScaleMode": (_I, [_P, _I]),
    "SDL_SetRenderDrawColor": (
        _I,
        [_P, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint8],
    ),
    "SDL_RenderClear": (_I, [_P]),
    "SDL_RenderCopy": (_I, [_P, _P, _RECT, _RECT]),
    "SDL_RenderPresent": (None, [_P]),
    "SDL_RenderReadPixels": (_I, [_P, _RECT, _U32, _P, _I]),
    "SDL_MasksToPixelFormatEnum": (_U32, [_I, _U32, _U32, _U32, _U32]),
    "SDL_SetYUVConversionMode": (None, [_I]),
    "SDL_GL_GetProcAddress": (_P, [ctypes.c_char_p]),
}
GL_RENDERER = 0x1F01
# OpenGL drivers that draw on the CPU: SDL calls their renderer accelerated, it is not.
SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "lavapipe")


def mapped_sdl_path(maps: str | None = None) -> str | None:
    """The path of the libSDL2 mapped into this process (``maps``: a /proc/self/maps text)."""
    if maps is None:
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
                maps = f.read()
        except OSError:
            return None
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) < 6:
            continue
        path = parts[5].strip()
        if _LIB_NAME.match(os.path.basename(path)):
            return path
    return None


class SDL:
    """The functions of one libSDL2 this module uses, typed."""

    def __init__(self, lib: ctypes.CDLL, path: str) -> None:
        self.path = path
        self._lib = lib
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name[4:], fn)

    def __getattr__(self, name: str) -> Any:  # the functions set in __init__ (for mypy)
        raise AttributeError(name)

    def version(self) -> tuple[int, int, int]:
        v = _Version()
        self.GetVersion(ctypes.byref(v))
        return (v.major, v.minor, v.patch)

    def error(self) -> str:
        raw = self.GetError()
        return raw.decode("utf-8", "replace") if raw else "unknown SDL error"


_sdl: SDL | None = None


def bundled_sdl() -> SDL:
    """The SDL pygame uses (pygame.display must be initialised). Raises DisplayError."""
    global _sdl
    if _sdl is not None:
        return _sdl
    path = mapped_sdl_path()
    if path is None:
        raise DisplayError("display: cannot find the SDL library pygame loaded (/proc/self/maps)")
    try:
        sdl = SDL(ctypes.CDLL(path), path)
    except (OSError, AttributeError) as exc:
        raise DisplayError(f"display: cannot use {os.path.basename(path)}: {exc}") from exc
    if sdl.version() != tuple(pygame.get_sdl_version()):
        raise DisplayError(
            f"display: {os.path.basename(path)} is SDL {sdl.version()}, pygame uses "
            f"{tuple(pygame.get_sdl_version())}"
        )
    _sdl = sdl
    return sdl


@dataclass(frozen=True, slots=True)
class RendererInfo:
    name: str  # SDL's renderer: opengles2, opengl, software, …
    accelerated: bool  # SDL says so and the GL driver is not a CPU rasterizer
    gl_renderer: str | None = None  # GL_RENDERER of an OpenGL renderer ("V3D 4.2", "llvmpipe …")


def gl_renderer_name(sdl: SDL) -> str | None:
    """GL_RENDERER of the current GL context (the SDL renderer just created makes it current)."""
    address = sdl.GL_GetProcAddress(b"glGetString")
    if not address:
        return None
    get_string = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_uint)(address)
    raw = get_string(GL_RENDERER)
    return raw.decode("utf-8", "replace")[:120] if raw else None


def renderer_info(sdl: SDL, renderer: int) -> RendererInfo:
    info = _RendererInfo()
    if sdl.GetRendererInfo(renderer, ctypes.byref(info)) != 0:
        raise DisplayError(f"display: SDL renderer info failed: {sdl.error()}")
    name = info.name.decode("ascii", "replace") if info.name else "unknown"
    accelerated = bool(info.flags & RENDERER_ACCELERATED) and not info.flags & RENDERER_SOFTWARE
    gl = gl_renderer_name(sdl) if name.startswith("opengl") else None
    if gl is not None and any(soft in gl.lower() for soft in SOFTWARE_GL):
        accelerated = False
    return RendererInfo(name, accelerated, gl)


def sdl_rect(x: int, y: int, w: int, h: int) -> SDLRect:
    return SDLRect(x, y, w, h)
