"""The workers' pure decisions: how many, which one takes a subscription, when to restart."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_WORKERS", "WorkerSettings", "least_loaded", "resolve_count", "restart_delay"]

MAX_WORKERS = 8
WorkersSetting = Literal["auto"] | int


@dataclass(frozen=True)
class WorkerSettings:
    count: int  # 0: no workers (subscriptions in the main process)
    max_width: int = 1920  # video slot size: larger frames are scaled down in the worker
    max_height: int = 1080


def resolve_count(setting: WorkersSetting, cpu_count: int | None) -> int:
    """``media.workers`` → a number of worker processes. ``auto``: one core stays with the main
    process (screen, signaling, audio), the others (at most 4) take subscriptions; on two cores
    or fewer none (a worker would only compete with the main process)."""
    if setting == "auto":
        cores = cpu_count or 1
        return min(4, cores - 1) if cores > 2 else 0
    return max(0, min(MAX_WORKERS, int(setting)))


def least_loaded(
    loads: Mapping[int, int], *, ready: Collection[int] = (), restarting: Collection[int] = ()
) -> int | None:
    """The worker (index) with the fewest subscriptions; None if there is no live worker.

    A worker restarting after a crash (still starting) counts one subscription more: a stream
    failing over goes to a worker that is up rather than wait for the new one to start. On a
    tie a ready worker goes first, then the lowest index. (Workers starting together at the
    kiosk's start carry no such weight, so they share the first subscriptions evenly.)
    """
    if not loads:
        return None

    def key(index: int) -> tuple[int, int, int]:
        starting = index not in ready
        weight = 1 if starting and index in restarting else 0
        return (loads[index] + weight, int(starting), index)

    return min(loads, key=key)


def restart_delay(crashes: int, *, initial: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before restarting a worker that died ``crashes`` times in a row (1, 2, …)."""
    if crashes <= 0:
        return 0.0
    return float(min(cap, initial * 2 ** (crashes - 1)))
