"""The worker process on its own: hello → ready with the kiosk's ICE seam installed, a bad
message is one log line (the worker keeps serving), and it exits by itself when the main
process goes away (end of file on its socket)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.media.ice import IceSettings
from kiosk.media.workers import messages as msg
from kiosk.media.workers.pool import STOP_SECONDS, WorkerPool, WorkerSettings

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


async def test_closing_the_pool_ends_a_worker_that_does_not_answer() -> None:
    pool = WorkerPool(WorkerSettings(count=1), ice=IceSettings.loopback())
    await pool.start()
    try:
        (handle,) = pool.workers.values()
        await asyncio.wait_for(handle.ready.wait(), 60)
        os.kill(handle.pid, signal.SIGSTOP)  # hung: it neither reads its socket nor exits
        slot = pool.new_slot()
        start = time.monotonic()
        await pool.close()
        took = time.monotonic() - start
    finally:
        await pool.close()
    # end of file, then SIGTERM, then SIGKILL: each step bounded (3 s)
    assert handle.process.returncode == -signal.SIGKILL
    assert took < 3 * STOP_SECONDS + 2
    assert slot.closed and slot.name not in os.listdir("/dev/shm")
    assert pool.pids() == []
