"""Real-time pacing for generated tracks (the test pattern, the tone): hand out a unit (a frame,
a sample) no earlier than its time since the first one, and never burst to catch up."""

from __future__ import annotations

import asyncio

__all__ = ["Pacer"]

# Further behind than this (a suspended loop), pacing restarts instead of bursting.
_MAX_LAG_SECONDS = 1.0


class Pacer:
    """Paces units produced at ``rate`` per second, counted from the first :meth:`wait`."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._start: float | None = None

    async def wait(self, sent: int) -> None:
        """Sleep until unit number ``sent`` (0-based count of units already produced) is due."""
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
            return
        wait = self._start + sent / self.rate - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -_MAX_LAG_SECONDS:
            self._start = loop.time() - sent / self.rate
