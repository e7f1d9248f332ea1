"""``kiosk bot`` stops retrying answers that cannot change (401 wrong secret, untrusted TLS) and
its TLS hint names its own flags, not the kiosk config's keys (issue 15, item 10)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from kiosk.devserver.server import DevServer, DevServerOptions

REPO = Path(__file__).resolve().parent


async def run_bot(url: str, secret: str, tmp_path: Path) -> tuple[int, str, float]:
    env = {**os.environ, "KIOSK_OPENVIDU_SECRET": secret, "PYTHONPATH": str(REPO.parent)}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kiosk.cli",
        "bot",
        "--server",
        url,
        "--session",
        "GiveUp",
        "--count",
        "2",
        "--loopback",
        "--size",
        "160x120",
        "--fps",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
        env=env,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), time.monotonic() - started


@pytest.mark.timeout(180)
async def test_wrong_secret_is_not_retried(tmp_path: Path) -> None:
    server = DevServer(DevServerOptions(port=0, tls=False, secret="the-right-secret"))
    await server.start()
    try:
        code, out, _took = await run_bot(server.url, "a-wrong-secret", tmp_path)
    finally:
        await server.stop()
    assert code == 1, out
    assert "not retrying" in out and "retrying in" not in out, out
    assert out.count("401") >= 1 and "a-wrong-secret" not in out
    assert "never joined" in out


@pytest.mark.timeout(180)
async def test_untrusted_certificate_names_the_bots_flags(tmp_path: Path) -> None:
    server = DevServer(DevServerOptions(port=0, tls=True, secret="the-right-secret"))
    await server.start()
    try:
        code, out, _took = await run_bot(server.url, "the-right-secret", tmp_path)
    finally:
        await server.stop()
    assert code == 1, out
    assert "--ca-file" in out and "--insecure" in out, out
    assert "server.ca_file" not in out and "verify_tls" not in out
    assert "retrying in" not in out
