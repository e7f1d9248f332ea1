"""Waiting for an event with a time limit, without losing a cancellation.

On Python 3.11 ``asyncio.wait_for`` returns normally when the awaited thing completes in the
same loop iteration as a ``cancel()`` of the waiting task: the cancellation is swallowed
(CPython gh-86296, fixed in 3.12 by rebuilding ``wait_for`` on ``asyncio.timeout``). A loop of
the form ``while True: await wait_for(changed.wait(), t)`` then never ends when it is cancelled
just as ``changed`` is set — a fleet link's stop hung that way in CI. ``asyncio.timeout``
delivers the cancellation, so every such loop waits through :func:`wait_event`.
"""

from __future__ import annotations

import asyncio

__all__ = ["wait_event"]


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True when it is set."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
