"""Logging to stderr in a form that suits both a terminal and journald.

Under systemd (``JOURNAL_STREAM`` set, or ``format="journald"``) each line carries an sd-daemon
priority prefix (``<3>`` … ``<7>``) and no timestamp: journald adds its own, and maps the prefix to
the entry's priority. In a terminal, lines get a short timestamp.

Every line is made safe in the formatter, so no call site can forget it:

* the whole formatted record — message, every traceback in an exception chain, stack info — is
  redacted (:func:`kiosk.redact.redact`), so a secret in a *cause's* message is masked too;
* control characters are escaped (``\\n``, ``\\x1b``, …): a message is always one line, and text
  from participants (names, signals) cannot forge a log line or drive the terminal. Tracebacks
  keep their own line breaks, but an exception's message inside one is escaped like a message.

:func:`setup_logging` also installs exception hooks for the main thread and other threads, so an
uncaught exception goes through the same formatter instead of Python's raw default printer;
:func:`install_loop_exception_handler` does the same for an asyncio loop, with one line per kind
of error per interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any, Literal, TextIO

from kiosk.redact import RedactingFilter, redact

LogFormat = Literal["auto", "journald", "plain"]

_SD_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

# C0 and C1 controls, DEL, Unicode line/paragraph separators (str.splitlines() breaks on them)
# and the bidirectional overrides that can make a line read differently from what it holds.
_UNICODE = "\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f{_UNICODE}]")
_CONTROLS_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_UNICODE}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters written as escapes (``\\n``, ``\\x1b``, ``\\u2028``)."""
    pattern = _CONTROLS_BUT_NEWLINE if keep_newlines else _CONTROLS
    return pattern.sub(_escape_one, text)


def _safe_message(text: str) -> str:
    return escape_controls(redact(text))


def _escape_exception_messages(te: traceback.TracebackException, seen: set[int]) -> None:
    """Make each exception message in a chain one escaped line (CPython keeps it in ``_str``)."""
    if id(te) in seen:
        return
    seen.add(id(te))
    text = getattr(te, "_str", None)
    if isinstance(text, str):
        te._str = _safe_message(text)  # type: ignore[attr-defined]
    notes = getattr(te, "__notes__", None)
    if isinstance(notes, list):
        te.__notes__ = [_safe_message(str(n)) for n in notes]
    for nested in (te.__cause__, te.__context__, *(getattr(te, "exceptions", None) or ())):
        if nested is not None:
            _escape_exception_messages(nested, seen)


class SafeFormatter(logging.Formatter):
    """A formatter whose every output is redacted and free of forged lines."""

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None],
    ) -> str:
        if ei[1] is None:
            return super().formatException(ei)
        te = traceback.TracebackException(type(ei[1]), ei[1], ei[2], compact=True)
        _escape_exception_messages(te, set())
        return "".join(te.format()).rstrip("\n")

    def format(self, record: logging.LogRecord) -> str:
        record.message = _safe_message(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        extra = [record.exc_text or "", self.formatStack(record.stack_info or "")]
        for block in extra:
            if block:
                text += "\n" + escape_controls(redact(block), keep_newlines=True)
        return text


class JournaldFormatter(SafeFormatter):
    """``<priority>logger: message`` — no timestamp, journald stores one."""

    def format(self, record: logging.LogRecord) -> str:
        level = max((lvl for lvl in _SD_PRIORITY if lvl <= record.levelno), default=logging.DEBUG)
        prio = _SD_PRIORITY[level]
        text = super().format(record)
        # One journal entry per line: prefix every line of a multi-line record (tracebacks).
        return "\n".join(f"<{prio}>{line}" for line in text.split("\n"))


def under_systemd(env: dict[str, str] | None = None) -> bool:
    environ = os.environ if env is None else env
    return bool(environ.get("JOURNAL_STREAM") or environ.get("INVOCATION_ID"))


class Throttle:
    """At most one pass per key per ``interval`` seconds; counts what it held back.

    ``allow(key)`` returns None when the key was seen within the interval, else how many
    occurrences were suppressed since the last pass (0 the first time).
    """

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: Hashable) -> int | None:
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            if len(self._last) > 256:  # bounded: forget the oldest kinds
                for old in sorted(self._last, key=self._last.__getitem__)[:128]:
                    self._last.pop(old, None)
                    self._held.pop(old, None)
            self._last[key] = now
            return self._held.pop(key, 0)


class ThrottleFilter(logging.Filter):
    """Pass one record per logger and message template per interval; note how many were held."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.throttle = Throttle(interval, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        held = self.throttle.allow((record.name, str(record.msg)))
        if held is None:
            return False
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last "
            record.msg += f"{self.throttle.interval:g} s)"
        return True


_hook_log = logging.getLogger("kiosk.uncaught")


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    _hook_log.critical("uncaught %s", exc_type.__name__, exc_info=(exc_type, exc, tb))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    _hook_log.error(
        "uncaught %s in thread %s",
        args.exc_type.__name__,
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def install_exception_hooks() -> None:
    """Route uncaught exceptions (main thread and other threads) through the logging handler."""
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


_loop_throttle = Throttle(60.0)
_loop_log = logging.getLogger("kiosk.asyncio")


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An asyncio exception handler: one line (with traceback) per kind of error per minute.

    Errors that repeat (``accept()`` failing while file descriptors run out) would otherwise
    flood the log with a traceback each.
    """
    exc = context.get("exception")
    message = str(context.get("message") or "unhandled error in the event loop")
    kind = (message, type(exc).__name__ if exc is not None else None)
    held = _loop_throttle.allow(kind)
    if held is None:
        return
    suffix = f" ({held} more like it in the last {_loop_throttle.interval:g} s)" if held else ""
    info = None
    if isinstance(exc, BaseException):
        info = (type(exc), exc, exc.__traceback__)
    _loop_log.error("%s%s", message, suffix, exc_info=info)


def install_loop_exception_handler(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Install :func:`loop_exception_handler` on ``loop`` (default: the running loop)."""
    (loop or asyncio.get_running_loop()).set_exception_handler(loop_exception_handler)


def setup_logging(
    level: str = "INFO", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> logging.Handler:
    """Configure the root logger once and install the exception hooks; returns the handler."""
    use_journald = fmt == "journald" or (fmt == "auto" and under_systemd())
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(stream or sys.stderr)
    if use_journald:
        handler.setFormatter(JournaldFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(
            SafeFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
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
    install_exception_hooks()
    return handler
