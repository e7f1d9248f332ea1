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
