"""Main-view policy: active speaker with hysteresis, self and manual modes, pins, leavers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from kiosk.screen.mainview import SELF_ID, MainViewPolicy

DT = 0.05  # 20 updates per second, like an app tick
SILENT = -90.0
LOUD = -20.0


def run(
    policy: MainViewPolicy,
    start: float,
    seconds: float,
    participants: Sequence[str],
    levels: Mapping[str, float],
) -> tuple[float, list[str]]:
    """Feed constant levels for ``seconds``; return the end time and every main seen."""
    seen: list[str] = []
    steps = round(seconds / DT)
    assert steps < 10_000
    t = start
    for _ in range(steps):
        t += DT
        seen.append(policy.update(t, participants, levels))
    return t, seen


# --- active speaker ---------------------------------------------------------------------------


def test_alone_shows_self() -> None:
    p = MainViewPolicy()
    assert p.update(0.0, [], {}) == SELF_ID
    _, seen = run(p, 0.0, 3.0, [], {})
    assert set(seen) == {SELF_ID}


def test_first_joiner_replaces_self_at_once_even_silent() -> None:
    p = MainViewPolicy()
    p.update(0.0, [], {})
    assert p.update(0.1, ["a"], {}) == "a"


def test_silence_keeps_current_speaker() -> None:
    p = MainViewPolicy()
    t, _ = run(p, 0.0, 0.5, ["a", "b"], {})
    assert p.main == "a"  # nobody speaks: first in join order
    t, seen = run(p, t, 4.0, ["a", "b"], {"b": LOUD})
    assert seen[-1] == "b"
    # b stops, everyone is silent: b stays.
    t, seen = run(p, t, 10.0, ["a", "b"], {"a": SILENT, "b": SILENT})
    assert set(seen) == {"b"}


def test_new_speaker_needs_hold_time() -> None:
    p = MainViewPolicy(hold_seconds=2.0)
    t, _ = run(p, 0.0, 1.0, ["a", "b"], {"a": -30.0})
    assert p.main == "a"
    t, seen = run(p, t, 1.5, ["a", "b"], {"a": SILENT, "b": LOUD})
    assert set(seen) == {"a"}  # not yet: smoothing plus 2 s hold
    t, seen = run(p, t, 2.0, ["a", "b"], {"a": SILENT, "b": LOUD})
    assert seen[-1] == "b"
    assert seen.count("b") < len(seen)  # it did wait


def test_brief_blips_do_not_switch() -> None:
    p = MainViewPolicy(hold_seconds=2.0)
    t, _ = run(p, 0.0, 2.0, ["a", "b"], {"a": -30.0, "b": SILENT})
    for _ in range(10):  # ten coughs of 0.6 s, 0.6 s apart, over 12 s
        t, seen = run(p, t, 0.6, ["a", "b"], {"a": -30.0, "b": -5.0})
        assert set(seen) == {"a"}
        t, seen = run(p, t, 0.6, ["a", "b"], {"a": -30.0, "b": SILENT})
        assert set(seen) == {"a"}


def test_challenger_must_be_louder_by_margin() -> None:
    p = MainViewPolicy(hold_seconds=1.0, margin_db=6.0)
    t, _ = run(p, 0.0, 2.0, ["a", "b"], {"a": -30.0})
    # b only 3 dB louder than a for a long time: a keeps main.
    t, seen = run(p, t, 6.0, ["a", "b"], {"a": -30.0, "b": -27.0})
    assert set(seen) == {"a"}
    # b 10 dB louder: switches.
    t, seen = run(p, t, 4.0, ["a", "b"], {"a": -30.0, "b": -20.0})
    assert seen[-1] == "b"


def test_below_threshold_never_takes_over() -> None:
    p = MainViewPolicy(threshold_db=-45.0, hold_seconds=0.5)
    t, _ = run(p, 0.0, 1.0, ["a", "b"], {})
    t, seen = run(p, t, 5.0, ["a", "b"], {"b": -60.0})
    assert set(seen) == {"a"}


def test_main_leaves_falls_back_to_loudest_then_first_then_self() -> None:
    p = MainViewPolicy(hold_seconds=0.5)
    t, _ = run(p, 0.0, 3.0, ["a", "b", "c"], {"c": LOUD})
    assert p.main == "c"
    # c leaves while b talks: b at once.
    t, _ = run(p, t, 1.0, ["a", "b", "c"], {"b": LOUD, "c": LOUD})
    assert p.update(t + DT, ["a", "b"], {"b": LOUD}) == "b"
    t += DT
    # b leaves, a silent: a.
    assert p.update(t + DT, ["a"], {}) == "a"
    t += DT
    # everybody left: self.
    assert p.update(t + DT, [], {}) == SELF_ID


def test_levels_for_unknown_ids_and_garbage_values_are_ignored() -> None:
    p = MainViewPolicy(hold_seconds=0.5)
    t, seen = run(p, 0.0, 3.0, ["a", "b"], {"zzz": 0.0, "b": float("nan"), SELF_ID: 0.0})
    assert set(seen) == {"a"}
    t, seen = run(p, t, 3.0, ["a", "b"], {"b": float("inf")})
    assert set(seen) == {"a"}  # not a level: treated as silence
    t, seen = run(p, t, 3.0, ["a", "b"], {"b": 12.0})
    assert seen[-1] == "b"  # above 0 dBFS clamps to 0: loud


def test_time_going_backwards_does_not_crash_or_switch() -> None:
    p = MainViewPolicy()
    p.update(10.0, ["a", "b"], {})
    assert p.update(5.0, ["a", "b"], {"b": LOUD}) == "a"


def test_next_pins_then_automatic_switching_resumes() -> None:
    p = MainViewPolicy(pin_seconds=30.0, hold_seconds=1.0)
    t, _ = run(p, 0.0, 3.0, ["a", "b"], {"a": LOUD})
    assert p.main == "a"
    assert p.next(t) == "b"
    assert p.pinned
    # a keeps talking for 25 s: b stays pinned.
    t2, seen = run(p, t, 25.0, ["a", "b"], {"a": LOUD})
    assert set(seen) == {"b"}
    # after the pin (30 s) automatic switching brings a back.
    _, seen = run(p, t2, 8.0, ["a", "b"], {"a": LOUD})
    assert seen[-1] == "a"
    assert not p.pinned
    first_a = seen.index("a")
    assert t2 + (first_a + 1) * DT >= t + 30.0 - 1e-6


def test_next_cycles_through_self_and_everyone_in_join_order() -> None:
    p = MainViewPolicy()
    p.update(0.0, ["a", "b", "c"], {})
    assert p.main == "a"
    assert [p.next(1.0) for _ in range(5)] == ["b", "c", SELF_ID, "a", "b"]


def test_pinned_participant_leaves_unpins() -> None:
    p = MainViewPolicy(hold_seconds=0.5)
    p.update(0.0, ["a", "b"], {})
    p.next(0.1)
    assert p.main == "b" and p.pinned
    assert p.update(0.2, ["a"], {}) == "a"
    assert not p.pinned


def test_pinned_on_self_while_others_present() -> None:
    p = MainViewPolicy(pin_seconds=10.0)
    p.update(0.0, ["a"], {})
    assert p.next(0.5) == SELF_ID
    _, seen = run(p, 0.5, 9.0, ["a"], {"a": LOUD})
    assert set(seen) == {SELF_ID}
    _, seen = run(p, 9.5, 2.0, ["a"], {"a": LOUD})
    assert seen[-1] == "a"


# --- self mode ----------------------------------------------------------------------------------


def test_self_mode_shows_own_camera_until_someone_picks() -> None:
    p = MainViewPolicy("self")
    t, seen = run(p, 0.0, 5.0, ["a", "b"], {"b": LOUD})
    assert set(seen) == {SELF_ID}
    assert p.next(t) == "a"
    # The pick sticks, no pin expiry, no speaker switching.
    t, seen = run(p, t, 60.0, ["a", "b"], {"b": LOUD})
    assert set(seen) == {"a"}
    assert p.next(t) == "b"
    assert p.next(t) == SELF_ID


def test_self_mode_picked_participant_leaves_back_to_self() -> None:
    p = MainViewPolicy("self")
    p.update(0.0, ["a", "b"], {})
    p.next(1.0)
    assert p.update(2.0, ["b"], {}) == SELF_ID


# --- manual mode --------------------------------------------------------------------------------


def test_manual_mode_only_next_changes_main() -> None:
    p = MainViewPolicy("manual")
    assert p.update(0.0, [], {}) == SELF_ID
    assert p.update(0.1, ["a"], {}) == "a"  # not alone any more: the first participant
    t, seen = run(p, 0.1, 20.0, ["a", "b"], {"b": LOUD})
    assert set(seen) == {"a"}
    assert p.next(t) == "b"
    assert not p.pinned
    t, seen = run(p, t, 60.0, ["a", "b"], {"a": LOUD})
    assert set(seen) == {"b"}
    assert p.next(t) == SELF_ID
    t, seen = run(p, t, 5.0, ["a", "b"], {"a": LOUD})
    assert set(seen) == {SELF_ID}  # self was picked: it stays


def test_manual_mode_main_leaves_falls_back_to_first() -> None:
    p = MainViewPolicy("manual")
    p.update(0.0, ["a", "b", "c"], {})
    p.next(0.1)
    p.next(0.2)
    assert p.main == "c"
    assert p.update(0.3, ["a", "b"], {"b": LOUD}) == "a"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="view mode"):
        MainViewPolicy("loudest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pin_seconds"):
        MainViewPolicy(pin_seconds=-1)


def test_speaking_set_for_highlights() -> None:
    p = MainViewPolicy()
    run(p, 0.0, 2.0, ["a", "b"], {"b": LOUD})
    assert p.speaking() == {"b"}
    assert p.smoothed_level("b") > p.smoothed_level("a")


def test_a_room_of_a_thousand_keeps_state_only_for_those_heard() -> None:
    """Per-frame smoothing costs what the audible people cost, not the size of the room; the
    speaker still wins and falls silent again."""
    p = MainViewPolicy(hold_seconds=0.5)
    room = [f"con_{i}" for i in range(1000)]
    for step in range(40):  # 2 s at 20 fps: con_700 speaks, two others murmur below threshold
        p.update(step * 0.05, room, {"con_700": -20.0, "con_3": -75.0, "con_4": -80.0})
    assert p.main == "con_700"
    assert p.speaking() == {"con_700"}
    assert len(p._smoothed) <= 3
    for step in range(40, 400):  # everyone silent for 18 s: the state decays and is dropped
        p.update(step * 0.05, room, {})
    assert p.speaking() == set()
    assert len(p._smoothed) == 0
    assert p.smoothed_level("con_700") == p.smoothed_level("con_1")
