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
    assert lines == ["<4>kiosk.x: two", "<4>lines", "<3>kiosk.x: bad"]


def test_redact_patterns() -> None:
    assert "tok_" not in redact("token=tok_ABCDEFGH12345678")
    assert redact("Authorization: Basic T1BFTlZJRFVBUFA6TVlfU0VDUkVU") == "Authorization: Basic ***"
    assert redact("https://h?secret=abc&x=1") == "https://h?secret=***&x=1"
    assert redact("nothing to hide") == "nothing to hide"
