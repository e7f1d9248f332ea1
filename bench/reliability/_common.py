"""Shared setup of the reliability benches: the scenarios live in tests/reliability/."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "reliability"))


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
