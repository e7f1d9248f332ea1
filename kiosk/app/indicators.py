"""What the call LED shows for each call state (the LEDs themselves only know patterns)."""

from __future__ import annotations

from kiosk.app.machine import CallState
from kiosk.controls.leds import LedPattern


def call_pattern(state: CallState | str) -> LedPattern:
    """The call LED pattern for a call state (unknown states: off)."""
    try:
        value = CallState(str(state))
    except ValueError:
        return "off"
    if value is CallState.IN_CALL:
        return "on"
    if value is CallState.ERROR:
        return "fast"
    if value is CallState.IDLE:
        return "off"
    return "slow"  # joining, reconnecting, leaving
