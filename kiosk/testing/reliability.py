"""Shared pieces of the reliability tests and benches: processes, kiosk config, probes.

Everything binds or connects to 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.app.kiosk import Kiosk
from kiosk.app.roomview_builder import pictured
from kiosk.config import KioskConfig
from kiosk.testing.configs import SECRET, SESSION, loopback_kiosk_config

REPO = Path(__file__).resolve().parents[2]  # the checkout: child processes run from there


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def kiosk_config(
    url: str,
    *,
    websocket_host: str | None = None,
    stall_seconds: float = 5.0,
    timeout_seconds: float = 5.0,
    session: str = SESSION,
    heap_trim_seconds: float | None = None,
) -> KioskConfig:
    """The reliability kiosk: loopback media, short timeouts, 640x360 at 15 fps."""
    server: dict[str, object] = {"timeout_seconds": timeout_seconds}
    media: dict[str, object] = {"stall_seconds": stall_seconds}
    if heap_trim_seconds is not None:
        media["heap_trim_seconds"] = heap_trim_seconds
    if websocket_host:
        server["websocket_host"] = websocket_host
    return loopback_kiosk_config(
        url,
        session={"id": session},
        server=server,
        media=media,
        display={"max_fps": 15},
        logging={"level": "INFO", "format": "plain"},
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SDL_VIDEODRIVER", "dummy")
    env.setdefault("SDL_AUDIODRIVER", "dummy")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    """A ``python -m kiosk.cli ...`` child process, output to a log file, killed on exit."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", *self.args],
            cwd=REPO,
            env={**_env(), **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


class DevServerProc(Proc):
    """``kiosk devserver --no-tls --port P`` in a child process (so it can be kill -9'd)."""

    def __init__(self, port: int, log_path: Path) -> None:
        super().__init__(["devserver", "--no-tls", "--loopback", "--port", str(port)], log_path)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    async def wait_ready(self, limit: float = 20.0) -> float:
        """Wait until the REST API answers; return the monotonic time it first did."""
        deadline = time.monotonic() + limit
        request = (
            b"GET /openvidu/api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Basic T1BFTlZJRFVBUFA6TVlfU0VDUkVU\r\nConnection: close\r\n\r\n"
        )
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"dev server exited with {self.proc.returncode}:\n{self.tail()}"
                )
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.write(request)
                    head = await reader.readline()
                    writer.close()
                    if head.startswith(b"HTTP/1.1 200"):
                        return time.monotonic()
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"dev server on port {self.port} not ready within {limit:g} s:\n{self.tail()}"
        )


class BotProc(Proc):
    """``kiosk bot --loopback`` in a child process: small video, rejoins by itself."""

    def __init__(
        self,
        url: str,
        count: int,
        log_path: Path,
        *,
        session: str = SESSION,
        name: str | None = None,
    ) -> None:
        args = [
            "bot",
            "--server",
            url,
            "--session",
            session,
            "--count",
            str(count),
            "--loopback",
            "--size",
            "320x240",
            "--fps",
            "15",
            "--log-level",
            "WARNING",
        ]
        if name:
            args += ["--name", name]
        super().__init__(args, log_path, env={"KIOSK_OPENVIDU_SECRET": SECRET})


# --- probes -----------------------------------------------------------------------------------


def remote_frames(k: Kiosk) -> dict[str, int]:
    """connection id → frames received, as the kiosk's status reports it."""
    return {p["connection_id"]: int(p["frames_received"]) for p in k.status()["participants"]}


def in_call_with_frames(
    k: Kiosk,
    *,
    min_participants: int = 1,
    not_connection: str | None = None,
    baseline: dict[str, int] | None = None,
    frames_from: int | None = None,
) -> bool:
    """In call (on a connection other than ``not_connection``) with at least
    ``min_participants`` remote participants, and every remote stream that has a picture on the
    screen has frames (more than in ``baseline`` if given).

    While the whole room fits the screen (or nothing of the call was drawn yet) that is every
    remote participant. In a room larger than the screen those left out (the "+N" tile) are
    received audio-only and never have frames, so only those with a picture are waited for.
    ``frames_from``: instead, at least this many remote participants have frames.
    """
    st = k.status()
    if (
        st["state"] != "in_call"
        or st["connection_id"] is None
        or st["connection_id"] == not_connection
    ):
        return False
    parts = st["participants"]
    if len(parts) < min_participants:
        return False
    base = baseline or {}

    def has_frames(p: dict[str, Any]) -> bool:
        return bool(p["frames_received"] > base.get(p["connection_id"], 0))

    if frames_from is not None:
        return sum(1 for p in parts if has_frames(p)) >= frames_from
    screen = pictured(k)
    if screen is not None and screen[1] > 0:
        shown, _hidden = screen
        parts = [p for p in parts if p["connection_id"] in shown]
        if not parts:
            return False
    return all(has_frames(p) for p in parts)


@dataclass(frozen=True)
class Resources:
    rss_kb: int
    fds: int
    threads: int
    tasks: int
    peer_connections: int

    def row(self) -> str:
        return (
            f"rss={self.rss_kb / 1024:.1f} MiB fds={self.fds} threads={self.threads} "
            f"tasks={self.tasks} pcs={self.peer_connections}"
        )


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def live_peer_connections() -> int:
    from aiortc import RTCPeerConnection

    count = 0
    for o in gc.get_objects():
        # type() not isinstance(): a dead weakref.proxy raises ReferenceError on isinstance.
        if issubclass(type(o), RTCPeerConnection) and o.connectionState != "closed":
            count += 1
    return count


def resources(*, collect: bool = True) -> Resources:
    if collect:
        gc.collect()
    return Resources(
        rss_kb=_rss_kb(),
        fds=len(os.listdir("/proc/self/fd")),
        threads=threading.active_count(),
        tasks=len(asyncio.all_tasks()),
        peer_connections=live_peer_connections(),
    )


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) samples (0 for fewer than 2)."""
    if len(samples) < 2:
        return 0.0
    xs = [x for x, _ in samples]
    ys = [y for _, y in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in samples) / den


async def run_kiosk(k: Kiosk) -> asyncio.Task[int]:
    task = asyncio.create_task(k.run(), name="kiosk-under-test")
    await asyncio.sleep(0)
    return task


async def stop_kiosk(k: Kiosk, task: asyncio.Task[int], limit: float = 15.0) -> int:
    from kiosk.app.machine import Shutdown

    if not task.done():
        k.post(Shutdown())
    return await asyncio.wait_for(task, limit)


def percentile_summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
        "min": round(min(values), 2),
    }
