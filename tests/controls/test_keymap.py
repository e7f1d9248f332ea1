"""The keyboard map: pygame key codes to actions."""

from __future__ import annotations

import pygame
import pytest

from kiosk.controls.actions import Action
from kiosk.controls.keyboard import action_for_key


@pytest.mark.parametrize(
    ("key", "action"),
    [
        (pygame.K_j, Action.JOIN_LEAVE),
        (pygame.K_n, Action.NEXT),
        (pygame.K_TAB, Action.NEXT),
        (pygame.K_m, Action.MUTE_MIC),
        (pygame.K_v, Action.CAMERA),
        (pygame.K_f, Action.FULLSCREEN),
    ],
)
@pytest.mark.parametrize("allow_quit", [False, True])
def test_keys_map_to_actions(key: int, action: Action, allow_quit: bool) -> None:
    assert action_for_key(key, allow_quit=allow_quit) is action


@pytest.mark.parametrize("key", [pygame.K_q, pygame.K_ESCAPE])
def test_quit_keys_only_quit_when_allowed(key: int) -> None:
    assert action_for_key(key, allow_quit=True) is Action.QUIT
    assert action_for_key(key, allow_quit=False) is None
    assert action_for_key(key) is None  # not allowed by default


@pytest.mark.parametrize("key", [pygame.K_a, pygame.K_SPACE, pygame.K_RETURN, pygame.K_F1, 0, -1])
def test_other_keys_do_nothing(key: int) -> None:
    assert action_for_key(key, allow_quit=True) is None


def test_no_key_maps_to_rejoin_or_quit_by_accident() -> None:
    actions = {action_for_key(k, allow_quit=False) for k in range(0, 1024)}
    assert Action.QUIT not in actions
    assert Action.REJOIN not in actions
