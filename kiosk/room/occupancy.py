"""Is anyone in the room? A PIR sensor on a GPIO pin (gpiozero ``MotionSensor``).

A PIR reports motion, not presence: :class:`Occupancy` (pure) turns motion into presence —
present while motion was seen within ``hold``; the room is *empty since* the last motion plus
``hold``. :class:`PirSensor` feeds it from gpiozero's thread through
``loop.call_soon_threadsafe`` (latest value only, never a queue).
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kiosk.controls._gpio import describe_gpio_failure, resolve_pin_factory
from kiosk.errors import HardwareError

__all__ = ["Occupancy", "PirSensor", "PirSpec"]

log = logging.getLogger(__name__)


class Occupancy:
    """Presence from motion events; pure (the caller passes the time)."""

    def __init__(self, hold: timedelta, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("occupancy takes timezone-aware times only")
        self.hold = hold
        self._motion_now = False
        self._last_motion: datetime | None = None
        self._started = now

    def motion(self, active: bool, now: datetime) -> bool:
        """A sensor edge. Returns True when this makes the room present after being empty."""
        was = self.present(now)
        self._motion_now = active
        self._last_motion = now
        return active and not was

    def present(self, now: datetime) -> bool:
        if self._motion_now:
            return True
        return self._last_motion is not None and now - self._last_motion < self.hold

    def empty_since(self, now: datetime) -> datetime | None:
        """Since when nobody was seen (None while present). Before any motion: since start."""
        if self.present(now):
            return None
        if self._last_motion is None:
            return self._started
        return self._last_motion + self.hold


@dataclass(frozen=True, slots=True)
class PirSpec:
    pin: int
    pull_up: bool = False
    queue_len: int = 1
    threshold: float = 0.5


class PirSensor:
    """A gpiozero ``MotionSensor``; ``on_motion(active)`` runs on the event loop."""

    def __init__(
        self,
        spec: PirSpec,
        on_motion: Callable[[bool], None],
        loop: asyncio.AbstractEventLoop,
        pin_factory: str | Any | None = None,
    ) -> None:
        self._loop = loop
        self._on_motion = on_motion
        self._device: Any = None
        self.error: HardwareError | None = None
        try:
            from gpiozero import MotionSensor

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._device = MotionSensor(
                    spec.pin,
                    pull_up=spec.pull_up,
                    queue_len=spec.queue_len,
                    threshold=spec.threshold,
                    pin_factory=resolve_pin_factory(pin_factory),
                )
            self._device.when_motion = lambda: self._edge(True)
            self._device.when_no_motion = lambda: self._edge(False)
            self._armed(self._device)
        except Exception as exc:  # gpiozero, lgpio, OS: run without a sensor
            self.close()
            self.error = HardwareError(
                f"occupancy: PIR on GPIO {spec.pin} unavailable, running without it: "
                f"{describe_gpio_failure(exc)}"
            )
            log.warning("%s", self.error)

    def _armed(self, device: Any, limit_s: float = 1.0) -> None:
        """Wait (bounded) until gpiozero sampled the pin once: its first sample only sets the
        starting state, so an edge before it would be lost. Motion already on is reported."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if device.wait_for_active(timeout=0.01):
                self._edge(True)
                return
            if device.wait_for_inactive(timeout=0.01):
                return

    @property
    def available(self) -> bool:
        return self._device is not None

    @property
    def motion_detected(self) -> bool:
        return bool(self._device is not None and self._device.motion_detected)

    def _edge(self, active: bool) -> None:  # a gpiozero thread
        try:
            self._loop.call_soon_threadsafe(self._on_motion, active)
        except RuntimeError:
            log.debug("motion after the event loop closed; ignored")

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except Exception as exc:  # closing never fails the shutdown
                log.debug("closing the PIR sensor failed: %s", exc)
