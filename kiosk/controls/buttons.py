"""GPIO push buttons (gpiozero) turned into :class:`~kiosk.controls.actions.Action` s.

Each button is wired between a GPIO pin and GND and read with the internal pull-up (see
docs/wiring.md). gpiozero calls back on its own threads; every action is handed to the asyncio
loop with ``loop.call_soon_threadsafe(sink, action)``, so the sink always runs on the loop's
thread. Debouncing is done here, in software, the same way for every pin factory: edges closer
than ``bounce_time`` to the last accepted edge are ignored (gpiozero's mock pins, for one,
do not debounce at all).

The join/leave button has two meanings: released before ``hold_seconds`` → ``JOIN_LEAVE``;
held for ``hold_seconds`` → ``REJOIN`` at that moment, and nothing on release. Every other
button acts on press.

Where GPIO cannot be used (not a Pi, no permission on ``/dev/gpiochip*``, no pin factory), one
warning names the cause and the kiosk runs without buttons (``available`` is False). On a
Raspberry Pi 5 the ``lgpio`` pin factory is the one that works (RPi.GPIO does not support the
Pi 5's RP1 GPIO chip).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.controls._gpio import describe_gpio_failure, resolve_pin_factory
from kiosk.controls.actions import Action, ActionSink
from kiosk.errors import HardwareError

__all__ = ["ButtonLogic", "ButtonSpec", "Buttons"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """One button: BCM pin number (or a gpiozero pin name such as ``"GPIO17"``/``"BOARD11"``)."""

    pin: int | str
    pull_up: bool = True
    bounce_time: float = 0.05
    hold_seconds: float = 3.0


class ButtonLogic:
    """Debounce and press/hold/release decisions for one button (thread-safe, no I/O).

    ``pressed(t)``, ``released(t)`` and ``held()`` return the action to emit, if any.
    ``t`` is a monotonic time in seconds.
    """

    def __init__(self, action: Action, bounce_time: float) -> None:
        self.action = action
        self.bounce_time = max(0.0, bounce_time)
        self.has_hold = action is Action.JOIN_LEAVE
        self._lock = threading.Lock()
        self._down = False
        self._held = False
        self._last_edge: float | None = None

    def _bounced(self, t: float) -> bool:
        return self._last_edge is not None and t - self._last_edge < self.bounce_time

    def pressed(self, t: float) -> Action | None:
        with self._lock:
            if self._bounced(t):
                return None
            self._last_edge = t
            self._down = True
            self._held = False
            return None if self.has_hold else self.action

    def released(self, t: float) -> Action | None:
        with self._lock:
            if not self._down or self._bounced(t):
                return None
            self._last_edge = t
            self._down = False
            if self.has_hold and not self._held:
                return self.action
            return None

    def held(self) -> Action | None:
        with self._lock:
            if not self.has_hold or not self._down or self._held:
                return None
            self._held = True
            return Action.REJOIN


class Buttons:
    """gpiozero ``Button`` s for the configured actions; see the module docstring."""

    def __init__(
        self,
        specs: Mapping[Action, ButtonSpec],
        sink: ActionSink,
        loop: asyncio.AbstractEventLoop,
        pin_factory: str | Any | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._loop = loop
        self._clock = clock
        self._devices: list[Any] = []
        self._logic: dict[Action, ButtonLogic] = {}
        self.error: HardwareError | None = None
        self.available = False
        self._where = ""
        if not specs:
            return
        try:
            self._open(specs, pin_factory)
        except Exception as exc:  # gpiozero, lgpio, OS: any failure means "no buttons"
            self._close_devices()
            self.error = HardwareError(
                f"buttons: GPIO unavailable{self._where}, running without buttons: "
                f"{describe_gpio_failure(exc)}"
            )
            log.warning("%s", self.error)
            return
        self.available = True

    def _open(self, specs: Mapping[Action, ButtonSpec], pin_factory: str | Any | None) -> None:
        from gpiozero import Button

        self._where = ""
        factory = resolve_pin_factory(pin_factory)
        with warnings.catch_warnings():
            # gpiozero warns about every pin factory it falls back from; we log one line.
            warnings.simplefilter("ignore")
            for action, spec in specs.items():
                logic = ButtonLogic(action, spec.bounce_time)
                self._where = f" ({action.value} button on pin {spec.pin})"
                button = Button(
                    spec.pin,
                    pull_up=spec.pull_up,
                    bounce_time=None,
                    hold_time=spec.hold_seconds,
                    pin_factory=factory,
                )
                self._devices.append(button)
                self._logic[action] = logic
                self._where = ""
                button.when_pressed = self._callback(logic, "pressed")
                button.when_released = self._callback(logic, "released")
                if logic.has_hold:
                    button.when_held = self._callback(logic, "held")

    def _callback(self, logic: ButtonLogic, edge: str) -> Callable[[], None]:
        def on_edge() -> None:  # runs on a gpiozero thread
            if edge == "pressed":
                action = logic.pressed(self._clock())
            elif edge == "released":
                action = logic.released(self._clock())
            else:
                action = logic.held()
            if action is not None:
                self._dispatch(action)

        return on_edge

    def _dispatch(self, action: Action) -> None:
        try:
            self._loop.call_soon_threadsafe(self._sink, action)
        except RuntimeError:  # the loop is closed: the kiosk is shutting down
            log.debug("button %s after the event loop closed; ignored", action.value)

    @property
    def actions(self) -> list[Action]:
        """The actions that have a working button."""
        return list(self._logic)

    def _close_devices(self) -> None:
        devices, self._devices = self._devices, []
        for device in devices:
            try:
                device.close()  # also drops its callbacks and stops its hold thread
            except Exception as exc:  # closing must never fail the shutdown
                log.debug("closing a button failed: %s", exc)

    def close(self) -> None:
        """Release the pins (idempotent)."""
        self._close_devices()
        self._logic.clear()
        self.available = False
