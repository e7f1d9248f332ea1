"""Test-wide settings: no real display, audio device or GPIO; loopback only.

Shared fixtures come from :mod:`kiosk.testing.fixtures` (``loopback_ice``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

pytest_plugins = ["kiosk.testing.fixtures"]

# The suite's categories (registered in pyproject.toml). A test directory names its category;
# a module elsewhere that runs real WebRTC, child processes or a browser marks itself
# (``pytestmark = pytest.mark.integration``); everything else is a unit test. `make test-fast`
# runs ``-m unit``.
_CATEGORIES = ("unit", "integration", "reliability", "interop")
_DIRECTORIES = {"integration", "reliability", "interop"}  # directory name = category
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(name) for name in _CATEGORIES):
            continue
        try:
            top = Path(item.path).resolve().relative_to(_TESTS).parts[0]
        except ValueError:
            top = ""
        item.add_marker(getattr(pytest.mark, top if top in _DIRECTORIES else "unit"))
