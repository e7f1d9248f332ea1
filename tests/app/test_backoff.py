"""Backoff: exponential, capped, jittered, never below the initial delay."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.app.backoff import Backoff


def test_doubles_from_one_second_up_to_the_cap_without_jitter() -> None:
    b = Backoff(1.0, 2.0, 30.0, 0.0, random.Random(1))
    assert [b.next() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert b.attempts == 8


def test_reset_starts_again_from_initial() -> None:
    b = Backoff(60.0, 2.0, 600.0, 0.0, random.Random(1))
    assert [b.next() for _ in range(3)] == [60, 120, 240]
    b.reset()
    assert b.attempts == 0
    assert b.next() == 60


def test_jitter_spreads_delays_but_stays_within_bounds() -> None:
    delays = []
    for seed in range(50):
        b = Backoff(1.0, 2.0, 30.0, 0.2, random.Random(seed))
        delays.append([b.next() for _ in range(10)])
    # the fourth delay (base 8 s) varies between kiosks and stays in [6.4, 8]
    fourth = {round(d[3], 6) for d in delays}
    assert len(fourth) > 10
    assert all(6.4 <= d <= 8.0 for d in fourth)
    # capped delays are also spread, never above the cap
    assert len({round(d[9], 6) for d in delays}) > 10
    assert all(24.0 <= d[9] <= 30.0 for d in delays)


def test_same_seed_gives_same_delays() -> None:
    a = Backoff(1.0, 2.0, 30.0, 0.5, random.Random(7))
    b = Backoff(1.0, 2.0, 30.0, 0.5, random.Random(7))
    assert [a.next() for _ in range(6)] == [b.next() for _ in range(6)]


@given(
    initial=st.floats(0.01, 100),
    factor=st.floats(1.0, 10.0),
    extra=st.floats(0, 1000),
    jitter=st.floats(0, 0.99),
    seed=st.integers(0, 2**32),
    count=st.integers(1, 200),
)
def test_delays_never_below_initial_nor_above_cap(
    initial: float, factor: float, extra: float, jitter: float, seed: int, count: int
) -> None:
    cap = initial + extra
    b = Backoff(initial, factor, cap, jitter, random.Random(seed))
    for _ in range(count):
        d = b.next()
        assert initial <= d <= cap


@pytest.mark.parametrize(
    ("args", "word"),
    [
        ((0.0, 2.0, 30.0, 0.2), "initial"),
        ((1.0, 0.5, 30.0, 0.2), "factor"),
        ((10.0, 2.0, 5.0, 0.2), "cap"),
        ((1.0, 2.0, 30.0, 1.0), "jitter"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_parameter(
    args: tuple[float, float, float, float], word: str
) -> None:
    with pytest.raises(ValueError, match=word):
        Backoff(*args, rng=random.Random(0))
