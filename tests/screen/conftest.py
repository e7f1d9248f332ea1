"""Fixtures shared by the screen tests."""

from __future__ import annotations

from collections.abc import Iterator

import pygame
import pytest

SCREEN_SIZE = (1280, 720)
"""The screen the renderer tests draw on (their ``W, H``)."""


@pytest.fixture
def surface() -> Iterator[pygame.Surface]:
    """An off-screen 1280x720 surface, fonts initialised."""
    pygame.font.init()
    yield pygame.Surface(SCREEN_SIZE)
