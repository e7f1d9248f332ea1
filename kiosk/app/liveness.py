"""Is the kiosk making progress? (pure; the caller passes the time)

systemd's watchdog only helps if ``WATCHDOG=1`` stops when the kiosk is stuck. The render loop
keeps running while the call logic hangs, so one loop's heartbeat is not enough: every loop that
must make progress ``beat()``s, and :meth:`Liveness.alive` is true only while each of them beat
within ``interval_s``. The runner sends ``WATCHDOG=1`` only then (from its own tick), so a stuck
call loop or a stuck render loop both end the pings and systemd restarts the service.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CALL", "RENDER", "Liveness"]

RENDER = "render"  # a frame was drawn (or the render loop went round)
CALL = "call"  # the call loop handled an event or went round its idle wait


class Liveness:
    def __init__(self, interval_s: float, loops: Iterable[str] = (RENDER, CALL)) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float | None] = dict.fromkeys(loops)

    def beat(self, loop: str, now: float) -> None:
        if loop in self._last:
            self._last[loop] = now

    def stale(self, now: float) -> list[str]:
        """Loops that have not beaten within the interval (or never)."""
        return [
            name
            for name, last in self._last.items()
            if last is None or now - last > self.interval_s
        ]

    def alive(self, now: float) -> bool:
        return not self.stale(now)
