"""``kiosk bot`` through its command line, in a subprocess, against an in-process dev server."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kiosk.devserver.media import AiortcMediaBackend
from kiosk.devserver.server import DevServer
from kiosk.openvidu.client import OpenViduClient
from kiosk.openvidu.tokens import RestTokenProvider
from kiosk.testing.rooms import dev_server

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("loopback_ice")]
SECRET = "Bot-Test-Secret-7"
ROOM = "BotRoom"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KIOSK_OPENVIDU_SECRET"}
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1")
    return env


async def run_bot_cli(
    *args: str, limit: float = 60.0, secret: str | None = None, stdin: bytes | None = None
) -> tuple[int, str, str]:
    """``kiosk bot ARGS`` in a subprocess (``secret`` in its environment); (code, out, err)."""
    env = _env()
    env.pop("KIOSK_OPENVIDU_SECRET", None)
    if secret is not None:
        env["KIOSK_OPENVIDU_SECRET"] = secret
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kiosk.cli",
        "bot",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"kiosk bot {' '.join(args)} did not end within {limit:g} s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def server() -> AsyncIterator[DevServer]:
    async with dev_server(secret=SECRET, grace_seconds=0.5) as srv:
        yield srv


async def test_two_bots_join_publish_and_leave(server: DevServer) -> None:
    tokens = RestTokenProvider(server.url, SECRET, ROOM, ssl_context=None, timeout=5.0)
    watcher = OpenViduClient("Watcher", ssl_context=None)
    await watcher.join(await tokens.get_token())
    try:
        bots = asyncio.create_task(
            run_bot_cli(
                "--server",
                server.url,
                "--secret-file",
                "-",  # the secret from standard input, never on the command line
                "--session",
                ROOM,
                "--loopback",
                "--count",
                "2",
                "--duration",
                "5",
                "--size",
                "320x240",
                "--fps",
                "10",
                stdin=SECRET.encode() + b"\n",
            )
        )

        def publishing() -> dict[str, bool]:
            return {
                p.display_name: p.stream is not None for p in watcher.model.participants.values()
            }

        deadline = time.monotonic() + 20
        while publishing() != {"Alice": True, "Bob": True}:
            assert not bots.done(), f"the bots ended early: {bots.result()}"
            assert time.monotonic() < deadline, f"participants seen: {publishing()}"
            await asyncio.sleep(0.1)
        # the server holds their publications with real media endpoints
        streams = [p.stream.stream_id for p in watcher.model.participants.values() if p.stream]
        media = server.media
        assert isinstance(media, AiortcMediaBackend)
        assert all(media.relay(s, "video") is not None for s in streams)

        code, out, err = await bots
        assert code == 0, err
        assert "never joined" not in out + err
        # after --duration they leave the session
        deadline = time.monotonic() + 5
        while watcher.model.participants:
            assert time.monotonic() < deadline, f"still there: {publishing()}"
            await asyncio.sleep(0.1)
    finally:
        await watcher.leave()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "--count: expected 1–64, got 0"),
        (["--size", "big"], "--size: expected WIDTHxHEIGHT, got 'big'"),
        (["--size", "0x480"], "--size: expected WIDTHxHEIGHT"),
        (["--fps", "0"], "--fps: expected 1–60, got 0"),
        (["--no-secret"], "bot: give --secret-file (or KIOSK_OPENVIDU_SECRET) or --application"),
    ],
)
async def test_bad_arguments_give_one_line_and_exit_2(args: list[str], message: str) -> None:
    base = ["--server", "http://127.0.0.1:9", "--session", ROOM, "--duration", "1"]
    secret = None if args == ["--no-secret"] else SECRET
    if secret is None:
        args = []
    code, out, err = await run_bot_cli(*base, *args, limit=30, secret=secret)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), err
    assert SECRET not in out + err


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_unreachable_server_reports_never_joined_and_exits_1() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code, out, err = await run_bot_cli(
        "--server",
        url,
        "--session",
        ROOM,
        "--loopback",
        "--count",
        "2",
        "--duration",
        "2",
        limit=30,
        secret=SECRET,
    )
    assert code == 1, (out, err)
    lines = [line for line in out.splitlines() if "never joined" in line]
    assert len(lines) == 2, out
    for name, line in zip(("Alice", "Bob"), lines, strict=True):
        assert line.startswith(f"bot {name}: never joined: cannot connect to 127.0.0.1:"), line
    assert SECRET not in out + err


async def test_a_secret_on_the_command_line_is_refused_without_echoing_it() -> None:
    base = ["--server", "http://127.0.0.1:9", "--session", ROOM, "--duration", "1"]
    code, out, err = await run_bot_cli(*base, "--secret", SECRET, limit=30)
    assert code == 2, (out, err)
    assert "--secret-file" in err and "ps" in err
    assert SECRET not in out + err


async def test_secret_file_and_clear_text_refusal(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    base = ["--session", ROOM, "--duration", "1", "--secret-file", str(secret_file)]
    code, out, err = await run_bot_cli("--server", "http://openvidu.lan:4443", *base, limit=30)
    assert code == 2 and "allow_http_secret" in err and SECRET not in out + err
    empty = tmp_path / "empty"
    empty.write_text("", encoding="utf-8")
    code, out, err = await run_bot_cli(
        "--server", "http://127.0.0.1:9", "--session", ROOM, "--secret-file", str(empty), limit=30
    )
    assert code == 2 and "is empty" in err
