"""``kiosk devserver --log-level`` (issue 15, item 10): what it logs after its banner."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def serve_and_create_session(level: str, tmp_path: Path) -> str:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk.cli",
            "devserver",
            "--no-tls",
            "--no-media",
            "--port",
            "0",
            "--log-level",
            level,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        url = None
        for _ in range(20):  # the banner is a handful of lines
            line = proc.stdout.readline()
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "no banner"
        response = httpx.post(
            f"{url}/openvidu/api/sessions",
            json={"customSessionId": "LogRoom"},
            auth=("OPENVIDUAPP", "MY_SECRET"),
            timeout=30,
        )
        assert response.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    return err


@pytest.mark.timeout(180)
def test_info_logs_sessions_and_warning_does_not(tmp_path: Path) -> None:
    assert "session LogRoom created" in serve_and_create_session("INFO", tmp_path)
    assert "session LogRoom created" not in serve_and_create_session("warning", tmp_path)


def test_a_bad_level_is_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "devserver", "--log-level", "LOUD"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 2
    assert "--log-level" in out.stderr and "Traceback" not in out.stderr
