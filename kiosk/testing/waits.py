"""Polling with a deadline: the one way tests wait for something to become true (or for the
next event of a kind on a client's queue)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from kiosk.openvidu.client import OpenViduClient

__all__ = ["next_event", "wait_until"]

T = TypeVar("T")


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


async def next_event(client: OpenViduClient, kind: type[T], within: float = 5.0) -> T:
    """The next item of type ``kind`` on ``client.events`` (others are skipped).

    Raises TimeoutError when ``within`` seconds pass first.
    """
    async with asyncio.timeout(within):
        while True:
            item = await client.events.get()
            if isinstance(item, kind):
                return item
