"""Physical and keyboard controls: actions, gpiozero buttons and LEDs, the pygame key map."""

from kiosk.controls.actions import Action, ActionSink

__all__ = ["Action", "ActionSink"]
