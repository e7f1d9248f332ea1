"""Polling with a deadline: the one way tests wait for something to become true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["wait_until"]


async def wait_until(
    condition: Callable[[], bool], limit: float, what: str, *, interval: float = 0.05
) -> float:
    """Poll ``condition`` every ``interval`` s until true; return the seconds it took.

    Raises AssertionError naming ``what`` when ``limit`` seconds pass first.
    """
    start = time.monotonic()
    deadline = start + limit
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        await asyncio.sleep(interval)
