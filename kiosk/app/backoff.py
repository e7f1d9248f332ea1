"""Exponential backoff with jitter for retries (pure: no clock, no I/O).

``Backoff(initial=1.0, factor=2.0, cap=30.0, jitter=0.2, rng=random.Random())`` gives delays of
about 1, 2, 4, 8, 16, 30, 30, … seconds. Jitter only ever *shortens* a delay, by at most
``jitter`` of it, and never below ``initial``: so no delay is ever shorter than ``initial`` and
none is longer than ``cap``, while many kiosks restarted by the same outage still spread out.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays for successive retries; :meth:`reset` after a success."""

    def __init__(
        self,
        initial: float = 1.0,
        factor: float = 2.0,
        cap: float = 30.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if not initial > 0:
            raise ValueError(f"backoff initial must be > 0, got {initial!r}")
        if factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {factor!r}")
        if cap < initial:
            raise ValueError(f"backoff cap must be >= initial ({initial!r}), got {cap!r}")
        if not 0 <= jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), got {jitter!r}")
        self.initial = float(initial)
        self.factor = float(factor)
        self.cap = float(cap)
        self.jitter = float(jitter)
        self._rng = rng if rng is not None else random.Random()
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """How many delays :meth:`next` handed out since the last :meth:`reset`."""
        return self._attempts

    def peek_base(self) -> float:
        """The delay before jitter that the next call to :meth:`next` starts from."""
        base = self.initial
        # Multiply step by step so a long outage never overflows a float.
        for _ in range(self._attempts):
            base *= self.factor
            if base >= self.cap:
                return self.cap
        return min(base, self.cap)

    def next(self) -> float:
        """Return the next delay in seconds (``initial`` ≤ delay ≤ ``cap``)."""
        base = self.peek_base()
        self._attempts += 1
        delay = base * (1.0 - self.jitter * self._rng.random())
        return min(self.cap, max(self.initial, delay))

    def reset(self) -> None:
        """Start again from ``initial`` (after a success that lasted)."""
        self._attempts = 0

    def __repr__(self) -> str:
        return (
            f"Backoff(initial={self.initial:g}, factor={self.factor:g}, cap={self.cap:g}, "
            f"jitter={self.jitter:g}, attempts={self._attempts})"
        )
