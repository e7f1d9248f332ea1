"""The display adapter: the only place that opens, updates and closes the pygame window.

``driver`` picks the SDL video driver (``auto`` leaves SDL's choice, or ``SDL_VIDEODRIVER`` if
already set, alone). A driver that cannot start becomes a one-line
:class:`kiosk.errors.DisplayError` naming the driver and what to check.

``drawing`` picks the frame painter (:mod:`kiosk.screen.painter`) at open: ``auto`` draws
through SDL's renderer with GPU textures when SDL reports an accelerated renderer for the window
(never on the dummy driver), else on the CPU surface as before; ``textures`` uses SDL's renderer
whatever it is (software too: tests and benches); ``surface`` always the CPU path.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pygame

from kiosk.errors import DisplayError
from kiosk.screen.kmsdrm import missing_libraries_hint
from kiosk.screen.painter import FramePainter, SurfacePainter, TexturePainter
from kiosk.screen.sdl_render import RENDERER_ACCELERATED, bundled_sdl, renderer_info

log = logging.getLogger(__name__)

DisplayDriver = Literal["auto", "kmsdrm", "x11", "wayland", "dummy"]
DISPLAY_DRIVERS: tuple[DisplayDriver, ...] = ("auto", "kmsdrm", "x11", "wayland", "dummy")
Drawing = Literal["auto", "textures", "surface"]
DRAWINGS: tuple[Drawing, ...] = ("auto", "textures", "surface")

_HINTS: dict[str, str] = {
    "kmsdrm": "check that no desktop or other program holds the screen and the user is in the "
    "'video' and 'render' groups",
    "x11": "check that an X server runs and DISPLAY is set",
    "wayland": "check that a Wayland compositor runs and WAYLAND_DISPLAY/XDG_RUNTIME_DIR are set",
    "dummy": "check the SDL installation",
    "auto": "check that a screen is connected, or set display.driver explicitly",
}


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    """How to open the screen. ``size`` is the window size when not fullscreen (and the mode
    to ask for when fullscreen; ``None`` = the screen's native size)."""

    driver: DisplayDriver = "auto"
    fullscreen: bool = True
    size: tuple[int, int] | None = None
    title: str = "kiosk"
    drawing: Drawing = "auto"


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key press or release, forwarded to the controls (``name`` from ``pygame.key.name``)."""

    key: int
    name: str
    down: bool
    mod: int = 0


@dataclass(slots=True)
class Events:
    """What one pump of the event queue brought."""

    keys: list[KeyEvent] = field(default_factory=list)
    quit: bool = False
    exposed: bool = False  # the window contents were lost: redraw everything


class Display:
    """A pygame-ce screen: fullscreen or windowed, cursor hidden, screensaver controlled."""

    def __init__(self, settings: DisplaySettings | None = None) -> None:
        self.settings = settings or DisplaySettings()
        if self.settings.driver not in DISPLAY_DRIVERS:
            raise DisplayError(
                f"display.driver: expected one of {', '.join(DISPLAY_DRIVERS)}, "
                f"got {self.settings.driver!r}"
            )
        if self.settings.drawing not in DRAWINGS:
            raise DisplayError(
                f"display.drawing: expected one of {', '.join(DRAWINGS)}, "
                f"got {self.settings.drawing!r}"
            )
        self._surface: pygame.Surface | None = None
        self._screensaver_allowed: bool | None = None
        self.painter: FramePainter = SurfacePainter()
        self._textures: TexturePainter | None = None
        self._window: pygame.Window | None = None
        self._window_fullscreen = False

    @property
    def driver_name(self) -> str:
        """The driver SDL actually uses (after :meth:`open`), else the configured one."""
        if self._surface is not None:
            try:
                return str(pygame.display.get_driver())
            except pygame.error:
                pass
        return self.settings.driver

    @property
    def surface(self) -> pygame.Surface:
        if self._surface is None:
            raise DisplayError("display: not open (call Display.open() first)")
        return self._surface

    @property
    def is_open(self) -> bool:
        return self._surface is not None

    def open(self) -> pygame.Surface:
        """Start the SDL video driver and create the screen surface."""
        if self._surface is not None:
            return self._surface
        driver = self.settings.driver
        if driver != "auto":
            os.environ["SDL_VIDEODRIVER"] = driver
        shown = driver if driver != "auto" else os.environ.get("SDL_VIDEODRIVER", "auto")
        hint = _HINTS.get(shown, _HINTS["auto"])
        try:
            pygame.display.init()
            pygame.font.init()
            fullscreen = self.settings.fullscreen
            if fullscreen and self.settings.size and pygame.display.get_driver() == "dummy":
                # No screen to fill: SDL's dummy "desktop" is 1024x768 whatever was asked for;
                # display.size is documented to set the dummy driver's size.
                fullscreen = False
            surface = self._open_textures(fullscreen)
            if surface is None:
                flags = pygame.FULLSCREEN if fullscreen else 0
                size = self.settings.size or ((0, 0) if fullscreen else (1280, 720))
                surface = pygame.display.set_mode(size, flags)
                pygame.display.set_caption(self.settings.title)
        except (pygame.error, DisplayError) as exc:
            self._close_textures()
            pygame.display.quit()
            if isinstance(exc, DisplayError):
                raise
            if shown in ("kmsdrm", "auto"):
                hint = missing_libraries_hint() or hint
            raise DisplayError(f"display driver '{shown}' unavailable: {exc}; {hint}") from exc
        self._surface = surface
        with contextlib.suppress(pygame.error):  # no mouse on this driver
            pygame.mouse.set_visible(False)
        self.set_screensaver_allowed(False)
        # Only the events we handle: keeps the queue short.
        pygame.event.set_blocked(None)
        pygame.event.set_allowed(
            [pygame.QUIT, pygame.KEYDOWN, pygame.KEYUP, pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE]
        )
        return surface

    def _open_textures(self, fullscreen: bool) -> pygame.Surface | None:
        """A window with an SDL renderer and a :class:`TexturePainter`; its canvas surface.
        ``None`` (and nothing left open) when ``drawing: auto`` finds no accelerated renderer."""
        drawing = self.settings.drawing
        if drawing == "surface" or (drawing == "auto" and pygame.display.get_driver() == "dummy"):
            return None
        try:
            sdl = bundled_sdl()
        except DisplayError as exc:
            if drawing == "textures":
                raise
            log.info("display: drawing on the CPU (%s)", exc)
            return None
        size = self.settings.size or (1280, 720)
        if fullscreen and self.settings.size:
            window = pygame.Window(self.settings.title, size, fullscreen=True)
        else:
            window = pygame.Window(self.settings.title, size, fullscreen_desktop=fullscreen)
        self._window = window
        self._window_fullscreen = fullscreen
        handle = sdl.GetWindowFromID(window.id)
        renderer = sdl.CreateRenderer(handle, -1, RENDERER_ACCELERATED if drawing == "auto" else 0)
        info = renderer_info(sdl, renderer) if renderer else None
        if info is None or (drawing == "auto" and not info.accelerated):
            reason = (
                sdl.error()
                if info is None
                else f"SDL's renderer is {info.name}"
                + (f" on {info.gl_renderer}" if info.gl_renderer else "")
            )
            if renderer:
                sdl.DestroyRenderer(renderer)
            self._close_textures()
            if drawing == "textures":
                raise DisplayError(f"display.drawing: textures: no SDL renderer ({reason})")
            log.info("display: no accelerated renderer (%s): drawing on the CPU", reason)
            return None
        self._textures = TexturePainter(sdl, renderer, info, _size_of(window))
        self.painter = self._textures
        log.info(
            "display: drawing with SDL's %s renderer%s (%s)",
            info.name,
            f" on {info.gl_renderer}" if info.gl_renderer else "",
            "accelerated" if info.accelerated else "not accelerated",
        )
        return self._textures.canvas

    def _close_textures(self) -> None:
        if self._textures is not None:
            self._textures.close()
            self._textures = None
        self.painter = SurfacePainter()
        if self._window is not None:
            with contextlib.suppress(pygame.error):
                self._window.destroy()
            self._window = None

    @property
    def renderer_name(self) -> str:
        """SDL's renderer the screen is drawn with, or ``surface`` for the CPU path."""
        return self.painter.name

    @property
    def accelerated(self) -> bool:
        return self.painter.accelerated

    @property
    def gl_renderer(self) -> str | None:
        return self.painter.gl_renderer

    def read_rgb(self) -> tuple[bytes, int, int]:
        """What the screen shows as packed RGB (screenshots), from either path."""
        try:
            return self.painter.read_rgb(self.surface)
        except pygame.error as exc:
            raise DisplayError(f"display driver '{self.driver_name}' failed: {exc}") from exc

    def set_screensaver_allowed(self, allowed: bool) -> None:
        """Let the screen blank (idle) or keep it on (in a call)."""
        if allowed == self._screensaver_allowed:
            return
        self._screensaver_allowed = allowed
        with contextlib.suppress(pygame.error):
            pygame.display.set_allow_screensaver(allowed)

    @property
    def screensaver_allowed(self) -> bool | None:
        return self._screensaver_allowed

    def toggle_fullscreen(self) -> bool:
        """Switch between fullscreen and a window; False where the driver cannot (one log line).

        The surface may be replaced: read :attr:`surface` again after a True return."""
        if self._surface is None:
            return False
        if self._window is not None and self._textures is not None:
            try:
                if self._window_fullscreen:
                    self._window.set_windowed()
                else:
                    self._window.set_fullscreen(desktop=True)
                self._window_fullscreen = not self._window_fullscreen
                self._surface = self._textures.resize(_size_of(self._window))
            except (pygame.error, DisplayError) as exc:
                log.info("fullscreen toggle: not supported by this display driver (%s)", exc)
                return False
            return True
        try:
            pygame.display.toggle_fullscreen()
        except pygame.error as exc:
            log.info("fullscreen toggle: not supported by this display driver (%s)", exc)
            return False
        surface = pygame.display.get_surface()
        if surface is not None:
            self._surface = surface
        return True

    def update(self, rects: Sequence[pygame.Rect]) -> None:
        """Show the changed parts of the surface (nothing to do when nothing changed)."""
        if self._surface is None:
            return
        try:
            self.painter.present(self._surface, rects)
        except pygame.error as exc:
            raise DisplayError(f"display driver '{self.driver_name}' failed: {exc}") from exc

    def poll(self) -> Events:
        """Pump the event queue (required for the OS to consider the window alive)."""
        events = Events()
        if self._surface is None:
            return events
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                events.quit = True
            elif event.type in (pygame.KEYDOWN, pygame.KEYUP):
                events.keys.append(
                    KeyEvent(
                        key=int(event.key),
                        name=pygame.key.name(event.key),
                        down=event.type == pygame.KEYDOWN,
                        mod=int(getattr(event, "mod", 0)),
                    )
                )
            elif event.type in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE):
                events.exposed = True
        return events

    def close(self) -> None:
        if self._surface is None:
            return
        self._surface = None
        self._screensaver_allowed = None
        with contextlib.suppress(pygame.error):
            pygame.display.set_allow_screensaver(True)
        self._close_textures()
        pygame.display.quit()


def _size_of(window: pygame.Window) -> tuple[int, int]:
    w, h = window.size
    return int(w), int(h)
