"""Shared gpiozero plumbing: pin factory selection and one-line descriptions of GPIO failures."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from typing import Any

__all__ = ["PI5_HINT", "describe_gpio_failure", "lgpio_hint", "resolve_pin_factory"]


def lgpio_hint(prefix: str = sys.prefix, base_prefix: str = sys.base_prefix) -> str:
    """Where lgpio comes from for *this* Python: the venv's pip, or Raspberry Pi OS's python3-lgpio.

    A virtualenv without system site packages never sees Debian's ``python3-lgpio``; there
    lgpio must be installed into the venv (wheels exist for CPython 3.9–3.12; on 3.13 the
    venv needs ``--system-site-packages`` and the Debian package instead).
    """
    if prefix != base_prefix and not _system_site_packages(prefix):
        return (
            f"on a Raspberry Pi 5 use pin_factory: lgpio, installed in this virtualenv "
            f"({prefix}/bin/pip install 'lgpio==0.2.2.0'; on Python 3.13 re-run install.sh, "
            "which uses Raspberry Pi OS's python3-lgpio)"
        )
    return "on a Raspberry Pi 5 use pin_factory: lgpio (sudo apt-get install python3-lgpio)"


def _system_site_packages(prefix: str) -> bool:
    try:
        with open(os.path.join(prefix, "pyvenv.cfg"), encoding="utf-8") as handle:
            text = handle.read(16 * 1024)
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "include-system-site-packages":
            return value.strip().lower() == "true"
    return False


PI5_HINT = lgpio_hint()


def resolve_pin_factory(pin_factory: str | Any | None) -> Any:
    """Return a gpiozero pin factory object, or ``None`` for gpiozero's default.

    ``pin_factory`` is a factory name (``"lgpio"``, ``"rpigpio"``, ``"pigpio"``, ``"native"``,
    ``"mock"``; as in ``GPIOZERO_PIN_FACTORY``), a factory object (e.g. ``MockFactory()``) or
    ``None`` (gpiozero picks: ``GPIOZERO_PIN_FACTORY``, else lgpio, RPi.GPIO, pigpio, native).
    Raises whatever gpiozero or the factory raises when it cannot be used on this machine.
    """
    if pin_factory is None or not isinstance(pin_factory, str):
        return pin_factory
    from gpiozero.exc import BadPinFactory

    name = pin_factory.strip()
    group = entry_points(group="gpiozero_pin_factories")
    for wanted in (name, name.lower()):
        for ep in group:
            if ep.name == wanted:
                return ep.load()()
    known = ", ".join(sorted({ep.name.lower() for ep in group}))
    raise BadPinFactory(f"unknown pin factory {name!r} (known: {known})")


def describe_gpio_failure(exc: BaseException) -> str:
    """One line naming why GPIO cannot be used here, and what to check."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    name = type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, PermissionError) or "permission" in lowered:
        return (
            f"no permission on the GPIO device ({name}: {text}); "
            "add the service user to the gpio group"
        )
    if name in ("BadPinFactory", "PinUnknownPi") or isinstance(exc, ImportError):
        return f"no usable GPIO pin factory ({name}: {text}); not a Raspberry Pi? {PI5_HINT}"
    if "gpiochip" in lowered or isinstance(exc, OSError):
        return f"GPIO chip unavailable ({name}: {text}); {PI5_HINT}"
    return f"{name}: {text}"
