"""The text cache is bounded in bytes and never renders an unbounded string (issue 12)."""

from __future__ import annotations

import pygame
import pytest

from kiosk.screen import theme
from kiosk.screen.theme import MAX_RENDER_CHARS, TextCache, surface_bytes


@pytest.fixture(autouse=True)
def _font() -> None:
    pygame.font.init()


def test_many_distinct_texts_stay_within_the_byte_budget() -> None:
    cache = TextCache(max_bytes=256 * 1024)
    for i in range(400):
        cache.render(f"participant number {i}", 38, theme.WHITE, theme.BLACK)
        assert cache.bytes <= cache.max_bytes
    assert 0 < len(cache) < 400
    assert cache.bytes == sum(surface_bytes(s) for s in cache._surfaces.values())


def test_a_500000_character_name_renders_once_bounded_in_width() -> None:
    cache = TextCache()
    name = "A" * 500_000
    surf = cache.fit(name, 38, theme.WHITE, theme.BLACK, 300, min_size=12)
    assert surf.get_width() <= 300
    assert cache.renders == 1  # measured at every size, rendered once
    wide = cache.render(name, 38, theme.WHITE, None)
    one = cache.render("A", 38, theme.WHITE, None)
    assert wide.get_width() <= MAX_RENDER_CHARS * one.get_width() * 2
    assert cache.bytes <= cache.max_bytes


def test_a_surface_larger_than_the_budget_is_drawn_but_not_kept() -> None:
    cache = TextCache(max_bytes=1024)
    surf = cache.render("much too wide for a tiny cache", 38, theme.WHITE, theme.BLACK)
    assert surf.get_width() > 0
    assert len(cache) == 0 and cache.bytes == 0
