"""Logging to stderr in a form that suits both a terminal and journald.

Under systemd (``JOURNAL_STREAM`` set, or ``format="journald"``) each line carries an sd-daemon
priority prefix (``<3>`` … ``<7>``) and no timestamp: journald adds its own, and maps the prefix to
the entry's priority. In a terminal, lines get a short timestamp. Every record passes the
redaction filter, so the secret and tokens never reach a log.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Literal, TextIO

from kiosk.redact import RedactingFilter

LogFormat = Literal["auto", "journald", "plain"]

_SD_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournaldFormatter(logging.Formatter):
    """``<priority>logger: message`` — no timestamp, journald stores one."""

    def format(self, record: logging.LogRecord) -> str:
        level = max((lvl for lvl in _SD_PRIORITY if lvl <= record.levelno), default=logging.DEBUG)
        prio = _SD_PRIORITY[level]
        text = super().format(record)
        # One journal entry per line: prefix every line of a multi-line message.
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines() or [""])


def under_systemd(env: dict[str, str] | None = None) -> bool:
    environ = os.environ if env is None else env
    return bool(environ.get("JOURNAL_STREAM") or environ.get("INVOCATION_ID"))


def setup_logging(
    level: str = "INFO", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> logging.Handler:
    """Configure the root logger once; returns the handler (tests inspect it)."""
    use_journald = fmt == "journald" or (fmt == "auto" and under_systemd())
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(stream or sys.stderr)
    if use_journald:
        handler.setFormatter(JournaldFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_kiosk", False):
            root.removeHandler(old)
    handler._kiosk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Libraries are chatty at INFO/DEBUG; keep them one level quieter than us.
    for noisy in ("aioice", "aiortc", "websockets", "httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    return handler
