"""The workers' pure decisions: how many, which one takes a subscription, when to restart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

__all__ = ["MAX_WORKERS", "least_loaded", "resolve_count", "restart_delay"]

MAX_WORKERS = 8
WorkersSetting = Literal["auto"] | int


def resolve_count(setting: WorkersSetting, cpu_count: int | None) -> int:
    """``media.workers`` → a number of worker processes. ``auto``: one core stays with the main
    process (screen, signaling, audio), the others (at most 4) take subscriptions; on two cores
    or fewer none (a worker would only compete with the main process)."""
    if setting == "auto":
        cores = cpu_count or 1
        return min(4, cores - 1) if cores > 2 else 0
    return max(0, min(MAX_WORKERS, int(setting)))


def least_loaded(loads: Mapping[int, int]) -> int | None:
    """The worker (index) with the fewest subscriptions; the lowest index on a tie; None if
    there is no live worker."""
    if not loads:
        return None
    return min(loads, key=lambda index: (loads[index], index))


def restart_delay(crashes: int, *, initial: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before restarting a worker that died ``crashes`` times in a row (1, 2, …)."""
    if crashes <= 0:
        return 0.0
    return float(min(cap, initial * 2 ** (crashes - 1)))
