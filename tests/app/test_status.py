"""The status endpoint answers over real HTTP and never shows a secret."""

from __future__ import annotations

import httpx

from kiosk.app.status import Metrics, StatusServer
from kiosk.redact import register_secret


async def test_status_metrics_screenshot_over_http() -> None:
    register_secret("tok_SECRETSECRETSECR")
    metrics = Metrics()
    metrics.describe("kiosk_frames_drawn_total", "Frames drawn per stream")
    metrics.inc("kiosk_frames_drawn_total", 3, stream="str_CAM_A_con_X")
    metrics.set("kiosk_state", 1, state="in_call")
    status = {"state": "in_call", "oops": "wss://h?sessionId=R&token=tok_SECRETSECRETSECR"}

    async def shot() -> bytes | None:
        return b"\x89PNG\r\n\x1a\nfake"

    server = StatusServer("127.0.0.1:0", lambda: status, metrics.render, shot)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            r = await client.get("/status")
            assert r.status_code == 200 and r.json()["state"] == "in_call"
            assert "tok_SECRET" not in r.text
            m = await client.get("/metrics")
            assert 'kiosk_frames_drawn_total{stream="str_CAM_A_con_X"} 3' in m.text
            assert "# TYPE kiosk_state gauge" in m.text
            s = await client.get("/screenshot.png")
            assert s.headers["content-type"] == "image/png" and s.content.startswith(b"\x89PNG")
    finally:
        await server.stop()


async def test_busy_port_is_a_one_line_error() -> None:
    async def shot() -> bytes | None:
        return None

    first = StatusServer("127.0.0.1:0", dict, str, shot)
    await first.start()
    second = StatusServer(f"127.0.0.1:{first.port}", dict, str, shot)
    try:
        try:
            await second.start()
        except Exception as exc:
            assert "status.listen" in str(exc) and "\n" not in str(exc)
        else:
            raise AssertionError("second bind on a busy port should fail")
    finally:
        await first.stop()


# --- guarding the endpoint (issue 18 item 3, issue 12 limits) ---------------------------------

import asyncio  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402

import pytest  # noqa: E402

from kiosk.app.status import StatusOptions  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\nfake"


class Shots:
    """A screenshot source that counts captures and can be slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0

    async def __call__(self) -> bytes | None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return PNG


async def _started(options: StatusOptions, shots: Shots | None = None) -> StatusServer:
    server = StatusServer(
        "127.0.0.1:0",
        lambda: {"state": "in_call", "participants": [{"name": "Alice"}]},
        lambda: "kiosk_up 1\n",
        shots or Shots(),
        options,
    )
    await server.start()
    return server


@pytest.fixture()
async def plain() -> AsyncIterator[StatusServer]:
    server = await _started(StatusOptions())
    try:
        yield server
    finally:
        await server.stop()


async def test_every_answer_says_no_store(plain: StatusServer) -> None:
    async with httpx.AsyncClient(base_url=plain.url, timeout=5) as client:
        for path in ("/", "/status", "/metrics", "/screenshot.png", "/nope"):
            r = await client.get(path)
            assert r.headers["cache-control"] == "no-store", path


async def test_bearer_token_is_required_when_configured() -> None:
    server = await _started(StatusOptions(token="status-token-0123456789"))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            for path in ("/status", "/metrics", "/screenshot.png"):
                assert (await client.get(path)).status_code == 401
                wrong = {"Authorization": "Bearer status-token-0123456788"}
                assert (await client.get(path, headers=wrong)).status_code == 401
                basic = {"Authorization": "Basic status-token-0123456789"}
                assert (await client.get(path, headers=basic)).status_code == 401
            good = {"Authorization": "Bearer status-token-0123456789"}
            r = await client.get("/status", headers=good)
            assert r.status_code == 200 and r.json()["participants"][0]["name"] == "Alice"
            assert (await client.get("/screenshot.png", headers=good)).content == PNG
    finally:
        await server.stop()


async def test_screenshots_can_be_switched_off() -> None:
    shots = Shots()
    server = await _started(StatusOptions(screenshots=False), shots)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            assert (await client.get("/screenshot.png")).status_code == 404
            assert "screenshot" not in (await client.get("/")).text
            assert (await client.get("/status")).status_code == 200
        assert shots.calls == 0
    finally:
        await server.stop()


async def test_host_header_must_name_this_machine(
    plain: StatusServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(base_url=plain.url, timeout=5) as client:
        for _ in range(50):  # a rebinding page retrying: refused each time, logged once
            r = await client.get("/status", headers={"Host": f"rebind.example:{plain.port}"})
            assert r.status_code == 421 and "Alice" not in r.text
        for host in (f"127.0.0.1:{plain.port}", f"localhost:{plain.port}", "192.168.1.20:8787"):
            assert (await client.get("/status", headers={"Host": host})).status_code == 200
        refusals = [r for r in caplog.records if "another host name" in r.getMessage()]
        assert len(refusals) == 1
    named = await _started(StatusOptions(allowed_hosts=("kiosk-lobby.example.org",)))
    try:
        async with httpx.AsyncClient(base_url=named.url, timeout=5) as client:
            r = await client.get("/status", headers={"Host": "kiosk-lobby.example.org"})
            assert r.status_code == 200
    finally:
        await named.stop()


def test_startup_lines_name_the_reachable_address_and_warn_when_exposed() -> None:
    async def shot() -> bytes | None:
        return None

    exposed = StatusServer("0.0.0.0:8787", dict, str, shot)
    exposed.port = 8787  # not started: tests never listen beyond loopback
    lines = exposed.announcement()
    me = socket.gethostname()
    assert lines[0][1] == f"status: http://{me}:8787/status (listening on all addresses)"
    assert "127.0.0.1" not in lines[0][1]
    assert lines[1][0] == logging.WARNING and "WITHOUT authentication" in lines[1][1]
    assert "camera" in lines[1][1]
    guarded = StatusServer("0.0.0.0:8787", dict, str, shot, StatusOptions(token="t0123456789"))
    guarded.port = 8787
    assert [level for level, _ in guarded.announcement()] == [logging.INFO]
    local = StatusServer("127.0.0.1:8787", dict, str, shot)
    local.port = 8787
    assert [level for level, _ in local.announcement()] == [logging.INFO]


def _half_sent(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
    sock.setblocking(False)
    return sock


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


async def test_half_sent_requests_are_closed_within_seconds_and_status_still_answers() -> None:
    server = await _started(StatusOptions(idle_timeout=3.0, max_connections=8))
    socks: list[socket.socket] = []
    try:
        for _ in range(20):  # more than the cap; connected off the loop the server runs on
            socks.append(await asyncio.to_thread(_half_sent, server.port or 0))
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            started = time.monotonic()
            r = await client.get("/status")  # takes the place of the longest idle one
            assert r.status_code == 200
            assert time.monotonic() - started < 2.0  # not after the 3 s idle timeout
        assert server.connections <= 8
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not all(_closed_by_peer(s) for s in socks):
            assert server.connections <= 8
            await asyncio.sleep(0.1)
        assert all(_closed_by_peer(s) for s in socks)
    finally:
        for sock in socks:
            sock.close()
        await server.stop()


async def test_concurrent_screenshots_share_one_capture() -> None:
    shots = Shots(delay=0.3)
    # A long reuse window: on a loaded machine 50 requests can take over the default 1 s.
    server = await _started(StatusOptions(max_connections=64, screenshot_reuse=60.0), shots)
    try:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=server.url, timeout=10, limits=limits) as client:
            answers = await asyncio.gather(*(client.get("/screenshot.png") for _ in range(50)))
            assert all(a.status_code == 200 and a.content == PNG for a in answers)
            assert shots.calls == 1
            assert (await client.get("/screenshot.png")).content == PNG  # reused meanwhile
            assert shots.calls == 1
    finally:
        await server.stop()


async def test_a_screenshot_is_not_reused_past_its_window() -> None:
    shots = Shots()
    server = await _started(StatusOptions(screenshot_reuse=0.2), shots)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/screenshot.png")).content == PNG
            assert shots.calls == 1
            deadline = time.monotonic() + 5
            while shots.calls == 1:  # a fresh capture once the window has passed
                assert time.monotonic() < deadline, "the first screenshot was served for 5 s"
                assert (await client.get("/screenshot.png")).content == PNG
                await asyncio.sleep(0.05)
            assert shots.calls == 2
    finally:
        await server.stop()


async def test_accept_failures_are_one_line_per_minute(
    plain: StatusServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    loop = asyncio.get_running_loop()
    real_accept = loop.sock_accept
    failures = 0

    async def failing_accept(sock: socket.socket) -> tuple[socket.socket, object]:
        nonlocal failures
        if failures < 5:
            failures += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return await real_accept(sock)

    await plain.stop()
    monkeypatch.setattr(loop, "sock_accept", failing_accept)
    plain.accept_retry = 0.01
    await plain.start()
    async with httpx.AsyncClient(base_url=plain.url, timeout=10) as client:
        assert (await client.get("/status")).status_code == 200
    lines = [r for r in caplog.records if "accept() failed" in r.getMessage()]
    assert failures == 5 and len(lines) == 1 and lines[0].exc_info is None


async def test_stop_does_not_wait_for_idle_keep_alive_connections() -> None:
    server = await _started(StatusOptions())
    client = httpx.AsyncClient(base_url=server.url, timeout=5)
    try:
        assert (await client.get("/status")).status_code == 200  # the connection stays open
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 0.5  # the kiosk has 5 s to leave on SIGTERM
    finally:
        await client.aclose()
