"""Keep secrets and tokens out of every log line, status output and screenshot.

Two layers: values registered at run time (the configured secret, every token obtained) are
replaced wherever they appear, and patterns catch what was never registered (OpenVidu token
values ``tok_…``, ``secret=`` query parameters, HTTP Basic credentials).
"""

from __future__ import annotations

import logging
import re
import threading

_MASK = "***"
_PATTERNS = [
    re.compile(r"tok_[A-Za-z0-9]{4,}"),
    re.compile(r"(?i)(secret=)[^&\s\"']+"),
    re.compile(r"(?i)(authorization:\s*basic\s+)[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/]{8,}={0,2}"),
]

_lock = threading.Lock()
_values: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret or token so that it is masked wherever it shows up later."""
    if value and len(value) >= 4:
        with _lock:
            _values.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and every token-like string masked."""
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, _MASK)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + _MASK, text)
        else:
            text = pattern.sub(_MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it passes.

    Tracebacks are redacted where they are formatted (:class:`kiosk.logsetup.SafeFormatter`
    redacts the whole formatted record, causes included), so the exception stays attached.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        return True
