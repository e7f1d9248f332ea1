"""Shared setup of the reliability benches: the scenarios live in kiosk/testing/scenarios.py."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def start(log_level: str, logger: str = "reliability") -> None:
    """A bench's entry point: log lines with times, ``logger`` at INFO, then the patches."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger(logger).setLevel(logging.INFO)
    install_patches()
    freeze_heap()


def freeze_heap() -> None:
    """As ``kiosk run`` does after its set-up: what lives as long as the process (modules,
    classes) leaves the garbage collector's full collections (:mod:`kiosk.app.stalls`)."""
    import kiosk.app.kiosk  # noqa: F401  (the kiosk's modules, imported as kiosk run has them)
    from kiosk.app.stalls import freeze_startup_heap

    freeze_startup_heap()


def install_patches() -> None:
    """This bench's entry point: the loopback ICE seam and the marker jitter buffer, as the
    kiosk's own entry points install them (the kiosk runs in this process)."""
    from kiosk.media import ice, patches

    patches.install(ice.IceSettings.loopback())


def workdir(name: str) -> Path:
    """A fresh directory for child-process logs (printed so a failure can be read)."""
    path = Path(tempfile.mkdtemp(prefix=f"kiosk-{name}-"))
    print(f"logs: {path}", file=sys.stderr)
    return path


def emit(result: dict[str, Any], out: str | None) -> None:
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
