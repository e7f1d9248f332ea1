"""The in-call information bar: room name, clock, call duration, participants not shown.

Pure text building (no pygame); the renderer draws the string it returns.
"""

from __future__ import annotations

__all__ = ["call_info_line", "format_duration"]


def format_duration(seconds: float) -> str:
    """``12:05`` under an hour, ``1:02:03`` from an hour on (negative counts as zero)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def call_info_line(
    *,
    room_name: str,
    clock_text: str,
    call_seconds: float | None,
    hidden: int,
) -> str:
    """``Room 4.12 · 10:42 · in call 12:05 · +3 not shown`` (parts left out when empty)."""
    parts = [room_name, clock_text]
    if call_seconds is not None:
        parts.append(f"in call {format_duration(call_seconds)}")
    if hidden > 0:
        parts.append(f"+{hidden} not shown")
    return " · ".join(p for p in parts if p)
