"""No secret or token reaches a log line, in either output format."""

from __future__ import annotations

import io
import logging

import pytest

from kiosk.logsetup import setup_logging
from kiosk.redact import redact, register_secret

TOKEN = "wss://localhost:4443?sessionId=Room&token=tok_F5aGx0LqRz7cVbN2"


@pytest.fixture()
def captured() -> io.StringIO:
    return io.StringIO()


@pytest.mark.parametrize("fmt", ["plain", "journald"])
def test_secret_and_token_never_logged(captured: io.StringIO, fmt: str) -> None:
    register_secret("s3cr3t-Very-Long")
    setup_logging("DEBUG", fmt, stream=captured)  # type: ignore[arg-type]
    log = logging.getLogger("kiosk.test")
    log.info("joining with %s using secret %s", TOKEN, "s3cr3t-Very-Long")
    try:
        raise RuntimeError(f"bad token {TOKEN}")
    except RuntimeError:
        log.exception("failed")
    out = captured.getvalue()
    assert "tok_F5aGx0LqRz7cVbN2" not in out
    assert "s3cr3t-Very-Long" not in out
    assert "joining with" in out and "***" in out


def test_journald_format_has_priority_and_no_timestamp(captured: io.StringIO) -> None:
    setup_logging("INFO", "journald", stream=captured)
    logging.getLogger("kiosk.x").warning("two\nlines")
    logging.getLogger("kiosk.x").error("bad")
    lines = captured.getvalue().splitlines()
    # A message is one line: an embedded line break is escaped, not a second entry.
    assert lines == ["<4>kiosk.x: two\\nlines", "<3>kiosk.x: bad"]


def test_redact_patterns() -> None:
    assert "tok_" not in redact("token=tok_ABCDEFGH12345678")
    assert redact("Authorization: Basic T1BFTlZJRFVBUFA6TVlfU0VDUkVU") == "Authorization: Basic ***"
    assert redact("https://h?secret=abc&x=1") == "https://h?secret=***&x=1"
    assert redact("nothing to hide") == "nothing to hide"


def _secret_cause_chain(secret: str) -> None:
    try:
        try:
            raise ValueError(f"connect failed with {secret}")  # the cause holds the secret
        except ValueError as cause:
            raise ConnectionError("top-level message is clean") from cause
    except ConnectionError as exc:
        raise RuntimeError("during handling, clean too") from exc


@pytest.mark.parametrize("fmt", ["plain", "journald"])
def test_secret_in_a_cause_is_redacted_with_the_traceback_kept(
    captured: io.StringIO, fmt: str
) -> None:
    secret = "Cause-Secret-9f8e7d"
    register_secret(secret)
    setup_logging("DEBUG", fmt, stream=captured)  # type: ignore[arg-type]
    try:
        _secret_cause_chain(secret)
    except RuntimeError:
        logging.getLogger("kiosk.test").exception("join failed")
    out = captured.getvalue()
    assert secret not in out
    assert "connect failed with ***" in out  # the cause is still shown, masked
    assert "The above exception was the direct cause" in out  # and the chain is kept


def test_uncaught_exceptions_in_main_and_threads_are_redacted(captured: io.StringIO) -> None:
    import sys
    import threading

    secret = "Hook-Secret-1a2b3c"
    register_secret(secret)
    saved = sys.excepthook, threading.excepthook
    try:
        setup_logging("INFO", "plain", stream=captured)
        try:
            _secret_cause_chain(secret)
        except RuntimeError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)

        def crash() -> None:
            _secret_cause_chain(secret)

        worker = threading.Thread(target=crash, name="decoder-7")
        worker.start()
        worker.join(5)
    finally:
        sys.excepthook, threading.excepthook = saved
    out = captured.getvalue()
    assert secret not in out
    assert out.count("connect failed with ***") == 2
    assert "uncaught RuntimeError in thread decoder-7" in out


async def test_loop_exception_handler_redacts_and_logs_one_line_per_kind(
    captured: io.StringIO,
) -> None:
    import asyncio

    from kiosk.logsetup import install_loop_exception_handler

    secret = "Loop-Secret-77aa"
    register_secret(secret)
    setup_logging("INFO", "plain", stream=captured)
    install_loop_exception_handler()
    loop = asyncio.get_running_loop()
    for _ in range(500):  # what a listening socket does while file descriptors run out
        loop.call_exception_handler(
            {"message": "socket.accept() out of system resource", "exception": OSError(24, secret)}
        )
    loop.call_exception_handler({"message": "another kind"})
    out = captured.getvalue()
    assert secret not in out
    assert out.count("socket.accept() out of system resource") == 1
    assert out.count("another kind") == 1


@pytest.mark.parametrize("fmt", ["plain", "journald"])
def test_a_participant_name_cannot_forge_a_log_line(captured: io.StringIO, fmt: str) -> None:
    setup_logging("INFO", fmt, stream=captured)  # type: ignore[arg-type]
    forged = "Eve\r\n12:00:00 ERROR   kiosk.app: secret leaked\x00\x1b[2J\u2028<3>x"
    log = logging.getLogger("kiosk.test")
    log.info("participant joined: %s", forged)
    log.info(f"signal from {forged}")  # text already in the message, not an argument
    try:
        raise ValueError(f"bad name {forged}")
    except ValueError:
        log.exception("rejected")
    out = captured.getvalue()
    lines = out.splitlines()
    assert not any(line.lstrip("<0123456789>").startswith("12:00:00 ERROR") for line in lines)
    assert "\x1b" not in out and "\x00" not in out and "\r" not in out and "\u2028" not in out
    assert "Eve\\r\\n12:00:00 ERROR" in out
    assert "\\x1b[2J" in out and "\\x00" in out and "\\u2028" in out
    assert sum("participant joined" in line for line in lines) == 1
