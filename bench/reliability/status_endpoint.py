"""The status endpoint under hostile clients, before (38d0a48) and after, side by side.

Each variant runs in its own process (clean RSS) on 127.0.0.1 with a real 1280x720 pygame
surface behind /screenshot.png (PNG encoded in a worker thread, as the kiosk does):

* 200 concurrent /screenshot.png: encodes, RSS growth, wall time, and whether /status answered;
* 200 half-sent requests: how many are still open after 10 s, and /status latency meanwhile.

    .venv/bin/python bench/reliability/status_endpoint.py
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BEFORE = "38d0a48"


def _load_before() -> types.ModuleType:
    text = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{BEFORE}:kiosk/app/status.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("status_before")
    sys.modules["status_before"] = module  # dataclasses look their module up
    exec(compile(text, "status_before.py", "exec"), module.__dict__)
    return module


async def _measure(variant: str) -> dict[str, float]:
    import httpx
    import psutil
    import pygame

    from kiosk.screen.renderer import screenshot_async

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    pygame.init()
    surface = pygame.Surface((1280, 720))
    surface.fill((40, 90, 160))
    encodes = 0

    async def shot() -> bytes | None:
        nonlocal encodes
        encodes += 1
        return await screenshot_async(surface)

    if variant == "before":
        server = _load_before().StatusServer("127.0.0.1:0", dict, str, shot)
    else:
        from kiosk.app.status import StatusServer

        server = StatusServer("127.0.0.1:0", dict, str, shot)
    await server.start()
    proc = psutil.Process()
    result: dict[str, float] = {}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    probe = httpx.AsyncClient(base_url=server.url, timeout=60)  # its own pool: /status probes
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        await http.get("/status")
        rss0 = proc.memory_info().rss
        peak = rss0
        t0 = time.monotonic()
        shots = [asyncio.create_task(http.get("/screenshot.png")) for _ in range(200)]
        status_ms: list[float] = []
        status_failed = 0
        while not all(s.done() for s in shots):
            s0 = time.monotonic()
            try:
                await asyncio.wait_for(probe.get("/status"), 5)
                status_ms.append((time.monotonic() - s0) * 1000)
            except (TimeoutError, httpx.HTTPError):
                status_failed += 1
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(0.05)
        answers = [s.result() if s.exception() is None else None for s in shots]
        result["shot_ok"] = sum(a is not None and a.status_code == 200 for a in answers)
        result["shot_refused"] = sum(a is None or a.status_code != 200 for a in answers)
        result["shot_encodes"] = encodes
        result["shot_seconds"] = time.monotonic() - t0
        result["shot_rss_growth_mib"] = (peak - rss0) / 2**20
        result["shot_status_max_ms"] = max(status_ms or [0.0])
        result["shot_status_failed"] = status_failed

        socks = []
        for _ in range(200):  # connected off the loop: the server on this loop keeps accepting
            sock = await asyncio.to_thread(_half_sent, server.port)
            if sock is not None:
                socks.append(sock)
        result["half_connected"] = len(socks)
        s0 = time.monotonic()
        try:
            await asyncio.wait_for(probe.get("/status"), 30)
            result["half_status_ms"] = (time.monotonic() - s0) * 1000
        except (TimeoutError, httpx.HTTPError):
            result["half_status_ms"] = 30000.0
        await asyncio.sleep(max(0.0, 10 - (time.monotonic() - s0)))
        still_open = 0
        for sock in socks:
            try:
                if sock.recv(1024) != b"":
                    still_open += 1
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
            sock.close()
        result["half_open_after_10s"] = still_open
    await probe.aclose()
    await server.stop()
    return result


def _half_sent(port: int) -> socket.socket | None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return None
    sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    sock.setblocking(False)
    return sock


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--variant":
        print(json.dumps(asyncio.run(_measure(sys.argv[2]))))
        return 0
    rows = {}
    for variant in ("before", "after"):
        out = subprocess.run(
            [sys.executable, __file__, "--variant", variant],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
            timeout=300,
        ).stdout
        rows[variant] = json.loads(out.strip().splitlines()[-1])
    keys = list(rows["before"])
    print("| measure | before (38d0a48) | after |")
    print("|---|---|---|")
    for key in keys:
        print(f"| {key} | {rows['before'][key]:.1f} | {rows['after'][key]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
