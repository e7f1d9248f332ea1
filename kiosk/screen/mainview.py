"""Which participant is on the main view. Pure: the caller passes the time in.

Three modes:

* ``active-speaker`` (default): the loudest remote participant, smoothed over a short window.
  A challenger takes over only after being louder than the current one by ``margin_db`` (and
  above ``threshold_db``) for ``hold_seconds`` without interruption; brief blips and silence keep
  the current one. The room's own camera (``"self"``) is on main only when nobody else is there.
* ``self``: the room's own camera until someone picks another participant with :meth:`next`;
  a pick stays until the next pick (or until that participant leaves).
* ``manual``: the first remote participant (or ``"self"`` when alone); only :meth:`next` changes
  it afterwards.

:meth:`next` cycles through ``"self"`` and the participants in join order. In active-speaker
mode the pick is pinned for ``pin_seconds``, after which automatic switching resumes.

When the participant on main leaves, the policy falls back to the loudest remaining participant
above the threshold, else the first one in join order, else ``"self"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

SELF_ID = "self"
ViewMode = Literal["active-speaker", "self", "manual"]
VIEW_MODES: tuple[ViewMode, ...] = ("active-speaker", "self", "manual")

SILENCE_DB = -100.0


class MainViewPolicy:
    """Decide the main-view participant from participants, audio levels and button presses."""

    def __init__(
        self,
        mode: ViewMode = "active-speaker",
        *,
        pin_seconds: float = 30.0,
        hold_seconds: float = 2.0,
        threshold_db: float = -45.0,
        margin_db: float = 6.0,
        window_seconds: float = 0.5,
    ) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(f"view mode: expected one of {', '.join(VIEW_MODES)}, got {mode!r}")
        if pin_seconds < 0 or hold_seconds < 0 or window_seconds < 0:
            raise ValueError(
                "view policy: pin_seconds, hold_seconds and window_seconds must be >= 0"
            )
        self.mode: ViewMode = mode
        self.pin_seconds = float(pin_seconds)
        self.hold_seconds = float(hold_seconds)
        self.threshold_db = float(threshold_db)
        self.margin_db = float(margin_db)
        self.window_seconds = float(window_seconds)

        self._main: str = SELF_ID
        self._picked = False  # main was chosen with next() (self/manual: sticks)
        self._pinned_until: float | None = None
        self._participants: tuple[str, ...] = ()
        self._smoothed: dict[str, float] = {}
        self._last_now: float | None = None
        self._challenger: str | None = None
        self._challenger_since = 0.0

    # --- queries -------------------------------------------------------------------------

    @property
    def main(self) -> str:
        """The id currently on main (``"self"`` for the room's own camera)."""
        return self._main

    @property
    def pinned(self) -> bool:
        return self._pinned_until is not None

    def smoothed_level(self, participant: str) -> float:
        """The smoothed level (dBFS) the policy uses for ``participant``."""
        return self._smoothed.get(participant, SILENCE_DB)

    def speaking(self, threshold_db: float | None = None) -> set[str]:
        """Participants whose smoothed level is above the threshold (for speaker highlights)."""
        limit = self.threshold_db if threshold_db is None else threshold_db
        return {p for p, level in self._smoothed.items() if level >= limit}

    # --- updates -------------------------------------------------------------------------

    def update(self, now: float, participants: Sequence[str], levels: Mapping[str, float]) -> str:
        """Advance to ``now`` with the current remote ``participants`` (join order) and their
        audio ``levels`` (dBFS, missing = silent); return the id on main."""
        present = tuple(dict.fromkeys(p for p in participants if p and p != SELF_ID))
        dt = 0.0 if self._last_now is None else max(0.0, now - self._last_now)
        self._last_now = now if self._last_now is None else max(self._last_now, now)
        self._participants = present
        self._smooth(present, levels, dt)

        # The one on main (or the pinned one) left.
        if self._main != SELF_ID and self._main not in present:
            self._pinned_until = None
            self._picked = False
            self._challenger = None
            self._main = self._fallback()
        if self._pinned_until is not None and now >= self._pinned_until:
            self._pinned_until = None
            self._picked = False

        if self.mode == "self":
            pass  # only next() moves main away from the room's own camera
        elif self.mode == "manual":
            if not self._picked and self._main == SELF_ID and present:
                self._main = present[0]
        else:
            self._update_active_speaker(now, present)
        return self._main

    def next(self, now: float) -> str:
        """Put the next one in the cycle (``"self"``, then participants in join order) on main.

        In active-speaker mode the pick is pinned for ``pin_seconds``.
        """
        order = (SELF_ID, *self._participants)
        try:
            index = order.index(self._main)
        except ValueError:
            index = -1
        self._main = order[(index + 1) % len(order)]
        self._picked = True
        self._challenger = None
        if self.mode == "active-speaker":
            self._pinned_until = now + self.pin_seconds
        return self._main

    # --- internals -----------------------------------------------------------------------

    def _smooth(self, present: Sequence[str], levels: Mapping[str, float], dt: float) -> None:
        """Exponential smoothing in the dB domain, time constant ``window_seconds``.

        Only participants with a level or a smoothed value above silence are stored: the others
        are silent by definition, so a room of 1,000 costs what its few audible people cost."""
        if self.window_seconds <= 0:
            alpha = 1.0
        else:
            alpha = 1.0 - math.exp(-dt / self.window_seconds) if dt > 0 else 0.0
        here = set(present)
        smoothed: dict[str, float] = {}
        for p in (*levels, *self._smoothed):
            if p not in here or p in smoothed:
                continue
            raw = levels.get(p, SILENCE_DB)
            level = raw if math.isfinite(raw) else SILENCE_DB
            level = max(SILENCE_DB, min(0.0, level))
            previous = self._smoothed.get(p)
            if previous is None:
                # A newcomer starts silent: a single loud sample must not win at once.
                previous = SILENCE_DB if self.window_seconds > 0 else level
            value = previous + alpha * (level - previous)
            if p in levels or value > SILENCE_DB + 0.01:  # decayed to silence: forget
                smoothed[p] = value
        self._smoothed = smoothed

    def _loudest(self, present: Sequence[str]) -> str | None:
        best: str | None = None
        best_level = -math.inf
        for p in present:  # join order breaks ties
            level = self._smoothed.get(p, SILENCE_DB)
            if level > best_level:
                best, best_level = p, level
        return best

    def _fallback(self) -> str:
        present = self._participants
        if not present or self.mode == "self":
            return SELF_ID
        if self.mode == "active-speaker":
            loudest = self._loudest(present)
            if loudest is not None and self._smoothed.get(loudest, SILENCE_DB) >= self.threshold_db:
                return loudest
        return present[0]

    def _update_active_speaker(self, now: float, present: Sequence[str]) -> None:
        if self._pinned_until is not None:
            self._challenger = None
            return
        if not present:
            self._main = SELF_ID
            self._challenger = None
            return
        if self._main == SELF_ID:
            # Not alone any more (and not pinned on self): show someone from the room.
            self._main = self._fallback()
            self._challenger = None
            return
        loudest = self._loudest(present)
        if loudest is None or loudest == self._main:
            self._challenger = None
            return
        level = self._smoothed.get(loudest, SILENCE_DB)
        current = self._smoothed.get(self._main, SILENCE_DB)
        if level < self.threshold_db or level < current + self.margin_db:
            self._challenger = None
            return
        if self._challenger != loudest:
            self._challenger = loudest
            self._challenger_since = now
        if now - self._challenger_since >= self.hold_seconds:
            self._main = loudest
            self._challenger = None
