"""The running kiosk applies the security settings: where the call goes, the status endpoint's
guard, and weakened TLS shown on the screen (issue 18 items 1–3)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from kiosk.app import machine as m
from kiosk.app.kiosk import Kiosk
from kiosk.app.wiring import security_warnings_from_config, status_options_from_config
from kiosk.config import parse_config
from kiosk.devserver.server import DevServer, DevServerOptions
from kiosk.testing.waits import wait_until

pytestmark = pytest.mark.usefixtures("loopback_ice")  # the kiosks publish over loopback


def _config(url: str, server_extra: str = "", extra: str = "") -> str:
    return f"""
server: {{url: "{url}", secret: MY_SECRET, timeout_seconds: 3{server_extra}}}
session: {{id: Room, name: "Lobby kiosk"}}
ice: {{host_addresses: ["127.0.0.1"], loopback_only: true}}
display: {{driver: dummy, size: 480x270, fullscreen: false, max_fps: 10}}
media:
  camera: {{device: none}}
  microphone: {{device: none}}
  speaker: {{device: none}}
{extra or 'status: {listen: "127.0.0.1:0"}'}
"""


async def _server_writing_localhost_into_tokens() -> DevServer:
    server = DevServer(DevServerOptions(port=0, tls=False))
    await server.start()
    # Tokens name another host than the kiosk's server.url (127.0.0.1): "localhost" stands in
    # for an attacker's host while keeping every packet on loopback.
    server.state.ws_base = f"ws://localhost:{server.port}"
    return server


async def test_a_token_naming_another_host_is_refused_unless_allowed() -> None:
    server = await _server_writing_localhost_into_tokens()
    try:
        refused = Kiosk(parse_config(_config(f"http://127.0.0.1:{server.port}")))
        run = asyncio.create_task(refused.run())
        try:
            await wait_until(lambda: refused.machine.state == m.CallState.ERROR, 15, "error state")
            assert refused.client is None
            assert "localhost" in refused.room_view().status_line
            active = [
                c
                for session in server.state.sessions.values()
                for c in session.connections.values()
                if c.status == "active"
            ]
            assert active == []  # the socket never reached the server
        finally:
            refused.post(m.Shutdown())
            assert await asyncio.wait_for(run, 10) == 0
        allowed = Kiosk(
            parse_config(
                _config(f"http://127.0.0.1:{server.port}", ", allow_token_hosts: [localhost]")
            )
        )
        run = asyncio.create_task(allowed.run())
        try:
            await wait_until(lambda: allowed.machine.state == m.CallState.IN_CALL, 15, "in call")
        finally:
            allowed.post(m.Shutdown())
            assert await asyncio.wait_for(run, 10) == 0
    finally:
        await server.stop()


async def test_status_endpoint_of_the_running_kiosk_uses_the_configured_guard(
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "status-token"
    token_file.write_text("kiosk-status-token-0123456789\n", encoding="utf-8")
    status = f'status: {{listen: "127.0.0.1:0", token_file: "{token_file}", screenshots: false}}'
    kiosk = Kiosk(parse_config(_config("http://127.0.0.1:9", extra=status)))
    run = asyncio.create_task(kiosk.run())
    try:
        await asyncio.wait_for(kiosk.ready.wait(), 15)
        assert kiosk.status_server is not None
        async with httpx.AsyncClient(base_url=kiosk.status_server.url, timeout=5) as http:
            assert (await http.get("/status")).status_code == 401
            auth = {"Authorization": "Bearer kiosk-status-token-0123456789"}
            r = await http.get("/status", headers=auth)
            assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
            assert "kiosk-status-token" not in r.text
            assert (await http.get("/screenshot.png", headers=auth)).status_code == 404
    finally:
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0


async def test_weakened_tls_is_logged_once_and_shown_on_the_screen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse_config(_config("https://127.0.0.1:9", ", verify_tls: false"))
    kiosk = Kiosk(config)
    caplog.set_level(logging.WARNING)
    run = asyncio.create_task(kiosk.run())
    try:
        await asyncio.wait_for(kiosk.ready.wait(), 15)
        toasts = [t.text for t in kiosk.room_view().toasts]
        assert any("TLS certificate checks are off" in t for t in toasts), toasts
        lines = [r for r in caplog.records if "verify_tls: false" in r.getMessage()]
        assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    finally:
        kiosk.post(m.Shutdown())
        assert await asyncio.wait_for(run, 10) == 0


def test_security_warnings_and_status_options_from_config(tmp_path: Path) -> None:
    safe = parse_config(_config("https://openvidu.example.org"))
    assert security_warnings_from_config(safe) == []
    http_secret = parse_config(_config("http://openvidu.lan:5443", ", allow_http_secret: true"))
    assert any("clear text" in w for w in security_warnings_from_config(http_secret))
    plain_ws = parse_config(
        _config("https://openvidu.example.org", ', websocket_host: "ws://10.0.0.2:8080"')
    )
    assert any("unencrypted" in w for w in security_warnings_from_config(plain_ws))
    opts = status_options_from_config(safe, env={})
    assert opts.token is None and opts.screenshots and opts.max_connections == 16
