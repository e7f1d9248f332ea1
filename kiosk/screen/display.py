"""The display adapter: the only place that opens, updates and closes the pygame window.

``driver`` picks the SDL video driver (``auto`` leaves SDL's choice, or ``SDL_VIDEODRIVER`` if
already set, alone). A driver that cannot start becomes a one-line
:class:`kiosk.errors.DisplayError` naming the driver and what to check.
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

log = logging.getLogger(__name__)

DisplayDriver = Literal["auto", "kmsdrm", "x11", "wayland", "dummy"]
DISPLAY_DRIVERS: tuple[DisplayDriver, ...] = ("auto", "kmsdrm", "x11", "wayland", "dummy")

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
        self._surface: pygame.Surface | None = None
        self._screensaver_allowed: bool | None = None

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
            flags = pygame.FULLSCREEN if fullscreen else 0
            size = self.settings.size or ((0, 0) if fullscreen else (1280, 720))
            surface = pygame.display.set_mode(size, flags)
            pygame.display.set_caption(self.settings.title)
        except pygame.error as exc:
            pygame.display.quit()
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
        """Show the changed parts of the surface (nothing to do when none changed)."""
        if self._surface is None or not rects:
            return
        try:
            pygame.display.update(list(rects))
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
        pygame.display.quit()
