"""A real Radicale CalDAV server on 127.0.0.1, started by the tests (Debian package radicale)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

USER = "room"
PASSWORD = "pa55-w0rd-for-tests"


@dataclass(frozen=True)
class Radicale:
    base: str  # http://127.0.0.1:PORT

    def collection(self, name: str) -> str:
        return f"{self.base}/{USER}/{name}/"

    def make_calendar(self, name: str) -> str:
        url = self.collection(name)
        response = httpx.request("MKCALENDAR", url, auth=(USER, PASSWORD), timeout=10)
        assert response.status_code == 201, response.text
        return url

    def put(self, collection_url: str, name: str, ics: bytes) -> None:
        response = httpx.put(
            collection_url + name,
            content=ics,
            auth=(USER, PASSWORD),
            headers={"Content-Type": "text/calendar"},
            timeout=10,
        )
        assert response.status_code in (201, 204), response.text


def require_radicale() -> str:
    path = shutil.which("radicale")
    if path is None:
        message = "radicale is not installed (Debian package radicale; make test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_radicale(tmp: Path) -> Iterator[Radicale]:
    program = require_radicale()
    users = tmp / "users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    port = _free_port()
    proc = subprocess.Popen(
        [
            program,
            "--config",
            "",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(tmp / "collections"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
            "--rights-type",
            "owner_only",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"radicale exited with {proc.returncode}: {err[-500:]}")
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("radicale did not answer within 20 s")
                time.sleep(0.1)
        yield Radicale(base)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
