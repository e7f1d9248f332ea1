"""The retained state message (pure): the facts of /status as one JSON object.

Bounded whatever the kiosk hands in: at most :data:`MAX_NAMES` participants are listed (the count
is exact), names and error lines are cut, and the text passes through :func:`kiosk.redact.redact`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from kiosk.fleet.facts import Facts
from kiosk.redact import redact

__all__ = ["MAX_NAMES", "build_state", "encode_state", "significant"]

MAX_NAMES = 32
_MAX_NAME = 64
_MAX_LINE = 200
_VOLATILE = ("uptime_seconds", "rss_bytes")


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _level(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(max(-120.0, min(0.0, value)), 1)


def build_state(facts: Facts) -> dict[str, Any]:
    listed = facts.participants[:MAX_NAMES]
    audio = [
        {
            "name": _cut(p.name or "Guest", _MAX_NAME),
            "level_dbfs": _level(p.level_dbfs),
            "speaking": bool(p.speaking),
        }
        for p in listed
    ]
    problems = [_cut(p, _MAX_LINE) for p in facts.problems[:8]]
    last_error = _cut(facts.last_error, _MAX_LINE) if facts.last_error else None
    problem = bool(facts.call_state == "error" or facts.server_reachable is False or problems)
    return {
        "state": facts.call_state,
        "session": _cut(facts.session, 100),
        "participants": len(facts.participants),
        "participant_names": [a["name"] for a in audio],
        "speaking": [a["name"] for a in audio if a["speaking"]],
        "audio": audio,
        "mic_muted": facts.mic_muted,
        "camera_off": facts.camera_off,
        "server_reachable": facts.server_reachable,
        "last_error": last_error,
        "problems": problems,
        "problem": problem,
        "display": facts.display,
        "uptime_seconds": int(max(0.0, facts.uptime_seconds)),
        "rss_bytes": facts.rss_bytes,
    }


def significant(state: dict[str, Any]) -> dict[str, Any]:
    """The part of a state whose change is worth a message at once (not clocks or levels)."""
    kept = {k: v for k, v in state.items() if k not in _VOLATILE}
    kept["audio"] = [{k: v for k, v in a.items() if k != "level_dbfs"} for a in state["audio"]]
    return kept


def encode_state(state: dict[str, Any]) -> bytes:
    return redact(json.dumps(state, separators=(",", ":"), ensure_ascii=False)).encode()
