"""Which remote streams to subscribe, and when (pure: no I/O, no clock of its own).

A server decides how many streams it announces; the kiosk decides how many it holds. This plan
keeps the limits of docs/reliability.md ("Limits"):

* at most ``max_streams`` remote streams are subscribed (first announced, first shown); the
  others wait and are counted in :attr:`SubscriptionPlan.waiting` (the screen shows "+N"); when
  a subscribed one leaves, the longest-waiting one takes its place;
* at most ``max_negotiations`` subscriptions are being negotiated at once;
* no new negotiation (nor a re-subscribe after a stall) of a stream while one is pending;
* after a failed negotiation the stream waits ``backoff_first_s``, doubling per failure up to
  ``backoff_max_s``; a success resets it.

The media session asks :meth:`due` which streams to start, reports :meth:`started`,
:meth:`succeeded` and :meth:`failed`, and asks :meth:`may_resubscribe` before a re-subscribe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_NEGOTIATIONS",
    "MAX_REMOTE_STREAMS",
    "SubscriptionPlan",
]

MAX_REMOTE_STREAMS = 8  # remote streams subscribed at once (peak RSS measured at 8 streams)
MAX_NEGOTIATIONS = 3  # subscription negotiations in flight at once
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 60.0

Phase = Literal["waiting", "pending", "active", "backoff"]


@dataclass(slots=True)
class _Entry:
    stream_id: str
    order: int  # announcement order (who waited longest)
    phase: Phase = "waiting"
    failures: int = 0
    retry_at: float = 0.0


class SubscriptionPlan:
    def __init__(
        self,
        *,
        max_streams: int = MAX_REMOTE_STREAMS,
        max_negotiations: int = MAX_NEGOTIATIONS,
        backoff_first_s: float = BACKOFF_FIRST_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.max_streams = max(1, max_streams)
        self.max_negotiations = max(1, max_negotiations)
        self.backoff_first_s = backoff_first_s
        self.backoff_max_s = backoff_max_s
        self._entries: dict[str, _Entry] = {}  # by connection id
        self._order = 0

    # --- what the server says ------------------------------------------------------------

    def want(self, connection_id: str, stream_id: str) -> None:
        """A stream was announced (again). A new stream id of a known connection starts over."""
        entry = self._entries.get(connection_id)
        if entry is not None and entry.stream_id == stream_id:
            return
        self._order += 1
        order = entry.order if entry is not None else self._order
        self._entries[connection_id] = _Entry(stream_id, order)

    def drop(self, connection_id: str) -> None:
        """The participant unpublished or left."""
        self._entries.pop(connection_id, None)

    # --- what the media session reports --------------------------------------------------

    def started(self, connection_id: str) -> None:
        entry = self._entries.get(connection_id)
        if entry is not None:
            entry.phase = "pending"

    def succeeded(self, connection_id: str) -> None:
        entry = self._entries.get(connection_id)
        if entry is not None:
            entry.phase = "active"
            entry.failures = 0

    def failed(self, connection_id: str, now: float) -> float:
        """A negotiation failed (or an active stream broke); returns the seconds until retry."""
        entry = self._entries.get(connection_id)
        if entry is None:
            return 0.0
        entry.failures += 1
        delay = float(min(self.backoff_max_s, self.backoff_first_s * 2.0 ** (entry.failures - 1)))
        entry.phase = "backoff"
        entry.retry_at = now + delay
        return delay

    # --- decisions -----------------------------------------------------------------------

    def _holding(self) -> list[tuple[str, _Entry]]:
        """The streams within the cap: the ``max_streams`` announced first."""
        ranked = sorted(self._entries.items(), key=lambda kv: kv[1].order)
        return ranked[: self.max_streams]

    def due(self, now: float) -> list[str]:
        """Connection ids whose subscription should start now (caller then calls started())."""
        free = self.max_negotiations - self.pending
        out: list[str] = []
        for cid, entry in self._holding():
            if free <= 0:
                break
            if entry.phase == "waiting" or (entry.phase == "backoff" and now >= entry.retry_at):
                out.append(cid)
                free -= 1
        return out

    def may_resubscribe(self, connection_id: str) -> bool:
        """Only an active subscription is re-subscribed (not one pending or backing off)."""
        entry = self._entries.get(connection_id)
        return entry is not None and entry.phase == "active"

    def held(self, connection_id: str) -> bool:
        """True when this stream is within the cap (subscribed, negotiating or will be)."""
        return any(cid == connection_id for cid, _ in self._holding())

    def phase(self, connection_id: str) -> Phase | None:
        entry = self._entries.get(connection_id)
        return None if entry is None else entry.phase

    def next_retry_at(self) -> float | None:
        """When the earliest backoff of a held stream ends (None: none is backing off)."""
        times = [e.retry_at for _, e in self._holding() if e.phase == "backoff"]
        return min(times) if times else None

    @property
    def pending(self) -> int:
        return sum(1 for e in self._entries.values() if e.phase == "pending")

    @property
    def waiting(self) -> int:
        """Announced streams beyond the cap (the "+N" on the screen)."""
        return max(0, len(self._entries) - self.max_streams)

    def __len__(self) -> int:
        return len(self._entries)
