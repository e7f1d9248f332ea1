"""Test-wide settings: no real display, audio device or GPIO; loopback only.

Shared fixtures come from :mod:`kiosk.testing.fixtures` (``loopback_ice``).
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

pytest_plugins = ["kiosk.testing.fixtures"]
