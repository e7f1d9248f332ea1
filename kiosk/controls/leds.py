"""Status LEDs (gpiozero): the call state, microphone muted, camera off.

Call LED: off when idle, slow blink (0.5 s) while joining, reconnecting or leaving, steady on
in a call, fast blink (0.1 s) on error. Muted LED on while the microphone is muted; camera LED
on while the camera is off. Blinking runs in gpiozero's background thread. A pattern is only
(re)applied when it changes, so calling :meth:`Leds.show` on every status update is cheap and
does not restart a blink.

Where GPIO cannot be used, one warning names the cause and :meth:`Leds.show` does nothing
(``available`` is False).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, Literal

from kiosk.controls._gpio import describe_gpio_failure, resolve_pin_factory
from kiosk.errors import HardwareError

__all__ = ["BLINK_FAST", "BLINK_SLOW", "LedPattern", "LedSpec", "Leds"]

log = logging.getLogger(__name__)

BLINK_SLOW = 0.5
BLINK_FAST = 0.1

LedPattern = Literal["off", "on", "slow", "fast"]


@dataclass(frozen=True, slots=True)
class LedSpec:
    """One LED: BCM pin (or gpiozero pin name); ``pwm`` uses a PWMLED (dimmable, fades)."""

    pin: int | str
    active_high: bool = True
    pwm: bool = False


class Leds:
    """The three status LEDs; any of them may be ``None`` (not fitted)."""

    def __init__(
        self,
        call: LedSpec | None = None,
        muted: LedSpec | None = None,
        camera_off: LedSpec | None = None,
        pin_factory: str | Any | None = None,
    ) -> None:
        self._leds: dict[str, Any] = {}
        self._shown: dict[str, LedPattern] = {}
        self.error: HardwareError | None = None
        self.available = False
        specs = {"call": call, "muted": muted, "camera_off": camera_off}
        wanted = {name: spec for name, spec in specs.items() if spec is not None}
        if not wanted:
            return
        where = ""
        try:
            from gpiozero import LED, PWMLED

            factory = resolve_pin_factory(pin_factory)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for name, spec in wanted.items():
                    where = f" ({name} LED on pin {spec.pin})"
                    cls = PWMLED if spec.pwm else LED
                    self._leds[name] = cls(
                        spec.pin,
                        active_high=spec.active_high,
                        initial_value=False,
                        pin_factory=factory,
                    )
                    where = ""
        except Exception as exc:  # gpiozero, lgpio, OS: any failure means "no LEDs"
            self.close()
            self.error = HardwareError(
                f"leds: GPIO unavailable{where}, running without LEDs: {describe_gpio_failure(exc)}"
            )
            log.warning("%s", self.error)
            return
        self.available = True

    def show(self, call: LedPattern, mic_muted: bool, camera_off: bool) -> None:
        """Show the call LED's pattern and the mute/camera flags (cheap when nothing changed).

        The app decides the call pattern (``kiosk.app.indicators.call_pattern``)."""
        self._apply("call", call)
        self._apply("muted", "on" if mic_muted else "off")
        self._apply("camera_off", "on" if camera_off else "off")

    def pattern(self, name: str) -> LedPattern | None:
        """The pattern last applied to LED ``name`` (``None`` if not fitted or not yet shown)."""
        return self._shown.get(name)

    def _apply(self, name: str, pattern: LedPattern) -> None:
        led = self._leds.get(name)
        if led is None or self._shown.get(name) == pattern:
            return
        try:
            if pattern == "on":
                led.on()
            elif pattern == "off":
                led.off()
            else:
                t = BLINK_SLOW if pattern == "slow" else BLINK_FAST
                led.blink(on_time=t, off_time=t, background=True)
        except Exception as exc:  # a failing LED must not take the kiosk down
            log.warning("leds: %s LED failed: %s", name, describe_gpio_failure(exc))
            self._leds.pop(name, None)
            return
        self._shown[name] = pattern

    def close(self) -> None:
        """Switch the LEDs off and release the pins (idempotent)."""
        leds, self._leds = self._leds, {}
        self._shown.clear()
        self.available = False
        for led in leds.values():
            try:
                led.close()
            except Exception as exc:
                log.debug("closing an LED failed: %s", exc)
