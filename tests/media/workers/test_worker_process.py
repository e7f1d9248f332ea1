"""The worker process on its own: hello → ready with the kiosk's ICE seam installed, a bad
message is one log line (the worker keeps serving), and it exits by itself when the main
process goes away (end of file on its socket)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.media.workers import messages as msg

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


async def test_worker_serves_then_exits_when_its_parent_goes_away() -> None:
    ours, theirs = socket.socketpair()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kiosk.media.workers.worker",
        str(theirs.fileno()),
        pass_fds=(theirs.fileno(),),
        env=env,
        stderr=subprocess.PIPE,
    )
    theirs.close()
    try:
        reader, writer = await asyncio.open_connection(sock=ours)
        writer.write(msg.encode(msg.Hello(0, ["127.0.0.1"], True, True, 640, 480)))
        ready = msg.decode(await asyncio.wait_for(msg.read_frame(reader), 60))
        assert ready == msg.Ready(child.pid)
        writer.write(b"\x00\x00\x00\x05Jnope")  # not JSON: one line, then it goes on
        writer.write(msg.encode(msg.Close(7)))  # unknown subscription: closed at once
        closed = msg.decode(await asyncio.wait_for(msg.read_frame(reader), 20))
        assert closed == msg.Closed(7)
        # an Open whose slot does not exist fails that subscription, one line
        writer.write(msg.encode(msg.Open(8, "str_A", True, True, "kurento", True, "kiosk-none")))
        failed = msg.decode(await asyncio.wait_for(msg.read_frame(reader), 20))
        assert isinstance(failed, msg.Failed) and failed.sub == 8 and "video slot" in failed.reason
        writer.close()  # the main process went away
        start = time.monotonic()
        code = await asyncio.wait_for(child.wait(), 20)
        assert code == 0 and time.monotonic() - start < 20
        assert child.stderr is not None
        err = (await child.stderr.read()).decode()
        assert "message is not JSON" in err and "Traceback" not in err
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
