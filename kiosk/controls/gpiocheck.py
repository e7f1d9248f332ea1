"""``python -m kiosk.controls.gpiocheck``: can this Python drive a Pi 5's GPIO (lgpio)?

install.sh runs it after installing the kiosk into its virtualenv and stops with its one-line
answer when the backend is unusable, instead of installing a kiosk whose buttons and LEDs can
never work. The usual failures: lgpio missing from the venv; the empty ``lgpio 0.0.0.2``
placeholder the package index hands to Python 3.13 (lgpio 0.2.2.0 has wheels for 3.9–3.12
only); a venv that cannot see Debian's ``python3-lgpio``.

Importing lgpio creates notify pipes in ``LG_WD`` (or the working directory): run it with a
writable one.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType

from kiosk.controls._gpio import lgpio_hint

__all__ = ["gpio_backend_problem", "main"]


def gpio_backend_problem(
    import_module: Callable[[str], ModuleType] = importlib.import_module,
) -> str | None:
    """None when lgpio and gpiozero's lgpio pin factory import; else one line saying why not."""
    try:
        lgpio = import_module("lgpio")
    except ImportError as exc:
        return f"lgpio cannot be imported ({exc}); {lgpio_hint()}"
    except OSError as exc:  # its notify pipe could not be created
        return f"lgpio fails on import ({exc}); run it with a writable LG_WD or working directory"
    if not hasattr(lgpio, "gpiochip_open"):
        version = getattr(lgpio, "__version__", None) or "0.0.0.2?"
        return (
            f"lgpio {version} here is the empty placeholder package, not the GPIO library "
            f"(Python {sys.version_info.major}.{sys.version_info.minor}); {lgpio_hint()}"
        )
    try:
        import_module("gpiozero.pins.lgpio")
    except ImportError as exc:
        return f"gpiozero's lgpio pin factory cannot be imported ({exc})"
    return None


def main() -> int:
    problem = gpio_backend_problem()
    if problem is not None:
        print(f"GPIO backend unusable: {problem}", file=sys.stderr)
        return 1
    print("GPIO backend: lgpio OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
