from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from kiosk.errors import (
    AuthenticationFailed,
    ConfigError,
    InvalidToken,
    KioskError,
    MalformedResponse,
    ServerRejected,
    ServerTimeout,
    ServerUnreachable,
    TlsUntrusted,
)
from kiosk.openvidu.tls import make_ssl_context
from kiosk.openvidu.tokens import AppServerTokenProvider, FixedTokenProvider, RestTokenProvider
from kiosk.testing.certs import write_self_signed

SECRET = "S3cr3t-Do-Not-Log-42"
TOKEN = "wss://localhost:4443?sessionId=KioskRoom&token=tok_Ab1Cd2Ef3Gh4Ij5K"
TOKEN2 = "wss://localhost:4443?sessionId=KioskRoom&token=tok_Zy9Xw8Vu7Ts6Rq5P"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def rest(handler: Handler, **kwargs: Any) -> tuple[RestTokenProvider, Recorder]:
    recorder = Recorder(handler)
    provider = RestTokenProvider(
        "https://openvidu.test:4443/",
        SECRET,
        "KioskRoom",
        transport=httpx.MockTransport(recorder),
        **kwargs,
    )
    return provider, recorder


def assert_clean(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    text = str(exc)
    assert "\n" not in text
    for secret in (
        SECRET,
        TOKEN,
        "tok_Ab1Cd2Ef3Gh4Ij5K",
        base64.b64encode(SECRET.encode()).decode(),
    ):
        assert secret not in text
        for record in caplog.records:
            assert secret not in record.getMessage()


async def test_rest_flow_200_uses_returned_session_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = iter([TOKEN, TOKEN2])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openvidu/api/sessions":
            return httpx.Response(200, json={"id": "KioskRoom2", "object": "session"})
        return httpx.Response(200, json={"id": "con_X", "token": next(tokens)})

    provider, recorder = rest(handler)
    assert await provider.get_token() == TOKEN
    assert await provider.get_token() == TOKEN2  # a fresh token every call
    first, second = recorder.requests[:2]
    assert first.method == "POST" and first.url.path == "/openvidu/api/sessions"
    assert json.loads(first.content) == {"customSessionId": "KioskRoom"}
    expected = "Basic " + base64.b64encode(f"OPENVIDUAPP:{SECRET}".encode()).decode()
    assert first.headers["authorization"] == expected
    assert second.url.path == "/openvidu/api/sessions/KioskRoom2/connection"
    assert json.loads(second.content) == {"role": "PUBLISHER", "data": ""}
    assert second.headers["authorization"] == expected
    for record in caplog.records:
        assert SECRET not in record.getMessage() and "tok_" not in record.getMessage()


async def test_rest_flow_409_uses_configured_id_and_role() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openvidu/api/sessions":
            return httpx.Response(409)
        return httpx.Response(200, json={"token": TOKEN})

    provider, recorder = rest(handler, role="SUBSCRIBER")
    assert await provider.get_token() == TOKEN
    assert recorder.requests[1].url.path == "/openvidu/api/sessions/KioskRoom/connection"
    assert json.loads(recorder.requests[1].content)["role"] == "SUBSCRIBER"


@pytest.mark.parametrize("status", [401, 403])
async def test_wrong_secret(status: int, caplog: pytest.LogCaptureFixture) -> None:
    provider, _ = rest(lambda r: httpx.Response(status, json={"message": "Unauthorized"}))
    with pytest.raises(AuthenticationFailed) as info:
        await provider.get_token()
    assert str(info.value) == (
        f"wrong OpenVidu secret (HTTP {status} from POST /openvidu/api/sessions)"
    )
    assert info.value.retry_after_hint == "long"
    assert_clean(info.value, caplog)


async def test_rejected_with_server_message(caplog: pytest.LogCaptureFixture) -> None:
    body = {
        "status": 400,
        "message": f"Parameter 'customSessionId' is wrong; token {TOKEN} secret={SECRET}",
    }
    provider, _ = rest(lambda r: httpx.Response(400, json=body))
    with pytest.raises(ServerRejected) as info:
        await provider.get_token()
    assert info.value.status == 400
    assert "HTTP 400 from POST /openvidu/api/sessions" in str(info.value)
    assert "Parameter 'customSessionId' is wrong" in str(info.value)
    assert_clean(info.value, caplog)


async def test_rejected_connection_404_without_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openvidu/api/sessions":
            return httpx.Response(409)
        return httpx.Response(404)

    provider, _ = rest(handler)
    with pytest.raises(ServerRejected) as info:
        await provider.get_token()
    assert info.value.status == 404 and info.value.retry_after_hint == "short"
    assert str(info.value) == "HTTP 404 from POST /openvidu/api/sessions/KioskRoom/connection"


async def test_server_error_500() -> None:
    provider, _ = rest(lambda r: httpx.Response(500, text="<html>oops</html>"))
    with pytest.raises(ServerRejected) as info:
        await provider.get_token()
    assert info.value.status == 500


@pytest.mark.parametrize(
    ("session_response", "connection_response"),
    [
        (httpx.Response(200, text="not json"), None),
        (httpx.Response(200, json=["x"]), None),
        (httpx.Response(200, json={"object": "session"}), None),
        (httpx.Response(409), httpx.Response(200, json={"id": "con_X"})),
        (httpx.Response(409), httpx.Response(200, json={"token": 5})),
        (httpx.Response(409), httpx.Response(200, json={"token": "https://not-a-token"})),
        (httpx.Response(409), httpx.Response(200, text="<html>")),
        (httpx.Response(409), httpx.Response(204)),
    ],
)
async def test_malformed_bodies(
    session_response: httpx.Response,
    connection_response: httpx.Response | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openvidu/api/sessions":
            return session_response
        assert connection_response is not None
        return connection_response

    provider, _ = rest(handler)
    with pytest.raises(MalformedResponse) as info:
        await provider.get_token()
    assert "POST /openvidu/api/sessions" in str(info.value)
    assert_clean(info.value, caplog)


async def test_transport_errors_are_converted(caplog: pytest.LogCaptureFixture) -> None:
    def raising(exc: Exception) -> Handler:
        def handler(request: httpx.Request) -> httpx.Response:
            raise exc

        return handler

    cases: list[tuple[Exception, type[KioskError], str]] = [
        (httpx.ConnectError("[Errno -2] Name or service not known"), ServerUnreachable, ""),
        (httpx.ConnectError("[Errno 111] Connection refused"), ServerUnreachable, ""),
        (httpx.ReadTimeout("timed out"), ServerTimeout, ""),
        (httpx.ConnectTimeout("timed out"), ServerTimeout, ""),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            TlsUntrusted,
            "set server.ca_file or server.verify_tls: false",
        ),
        (httpx.RemoteProtocolError("peer closed connection"), ServerUnreachable, ""),
    ]
    for exc, expected, text in cases:
        provider, _ = rest(raising(exc))
        with pytest.raises(expected) as info:
            await provider.get_token()
        assert "openvidu.test:4443" in str(info.value)
        assert text in str(info.value)
        assert_clean(info.value, caplog)


def test_bad_base_url_is_a_config_error() -> None:
    for url in ("ftp://x", "openvidu.test", "https://user:pw@host", "https://"):
        with pytest.raises(ConfigError):
            RestTokenProvider(url, SECRET, "KioskRoom")


def test_fixed_token_provider() -> None:
    assert asyncio.run(FixedTokenProvider(TOKEN).get_token()) == TOKEN
    with pytest.raises(InvalidToken) as info:
        FixedTokenProvider("tok_Ab1Cd2Ef3Gh4Ij5K")
    assert "tok_" not in str(info.value)


# --- application server ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("session_body", "token_body"),
    [
        (json.dumps("KioskRoom"), json.dumps(TOKEN)),
        ("KioskRoom", TOKEN),
        ("KioskRoom\n", TOKEN + "\n"),
    ],
)
async def test_app_server_flow(session_body: str, token_body: str) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/api/sessions":
            return httpx.Response(200, text=session_body)
        return httpx.Response(200, text=token_body)

    provider = AppServerTokenProvider(
        "http://app.test:5000", "KioskRoom", transport=httpx.MockTransport(handler)
    )
    assert await provider.get_token() == TOKEN
    assert json.loads(requests[0].content) == {"customSessionId": "KioskRoom"}
    assert requests[1].url.path == "/api/sessions/KioskRoom/connections"
    assert json.loads(requests[1].content) == {}
    assert "authorization" not in requests[0].headers


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, "", AuthenticationFailed),
        (500, '{"message":"db down"}', ServerRejected),
        (200, '{"id":"KioskRoom"}', MalformedResponse),
        (200, "", MalformedResponse),
        (200, '"unterminated', MalformedResponse),
    ],
)
async def test_app_server_errors(status: int, body: str, expected: type[KioskError]) -> None:
    provider = AppServerTokenProvider(
        "http://app.test:5000",
        "KioskRoom",
        transport=httpx.MockTransport(lambda r: httpx.Response(status, text=body)),
    )
    with pytest.raises(expected) as info:
        await provider.get_token()
    assert "POST /api/sessions" in str(info.value)


async def test_app_server_token_not_an_openvidu_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/sessions":
            return httpx.Response(200, text="KioskRoom")
        return httpx.Response(200, text="tok_Ab1Cd2Ef3Gh4Ij5K")

    provider = AppServerTokenProvider(
        "http://app.test:5000", "KioskRoom", transport=httpx.MockTransport(handler)
    )
    with pytest.raises(MalformedResponse) as info:
        await provider.get_token()
    assert "not an OpenVidu token" in str(info.value) and "tok_" not in str(info.value)


# --- real sockets: refused, silent, untrusted certificate ------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_names_host_and_port() -> None:
    port = free_port()
    provider = RestTokenProvider(f"http://127.0.0.1:{port}", SECRET, "KioskRoom", timeout=5)
    with pytest.raises(ServerUnreachable) as info:
        await provider.get_token()
    assert f"127.0.0.1:{port}" in str(info.value)
    assert info.value.retry_after_hint == "short"


async def test_silent_server_times_out() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # accept, read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        provider = RestTokenProvider(f"http://127.0.0.1:{port}", SECRET, "R", timeout=0.3)
        with pytest.raises(ServerTimeout) as info:
            await asyncio.wait_for(provider.get_token(), 5)
        assert "0.3 s" in str(info.value)
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    cert, key = write_self_signed(tmp_path)

    async def sessions(request: web.Request) -> web.Response:
        return web.Response(status=409)

    async def connection(request: web.Request) -> web.Response:
        return web.json_response({"token": TOKEN})

    app = web.Application()
    app.router.add_post("/openvidu/api/sessions", sessions)
    app.router.add_post("/openvidu/api/sessions/{sid}/connection", connection)
    runner = web.AppRunner(app)
    await runner.setup()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}", cert
    finally:
        await runner.cleanup()


async def test_untrusted_certificate_then_verify_off_then_ca_file(
    tls_server: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    url, cert = tls_server
    provider = RestTokenProvider(url, SECRET, "R", ssl_context=make_ssl_context(True), timeout=5)
    with pytest.raises(TlsUntrusted) as info:
        await provider.get_token()
    assert "set server.ca_file or server.verify_tls: false" in str(info.value)
    assert info.value.retry_after_hint == "long"
    assert_clean(info.value, caplog)

    insecure = RestTokenProvider(url, SECRET, "R", ssl_context=make_ssl_context(False), timeout=5)
    assert await insecure.get_token() == TOKEN

    trusted = make_ssl_context(True, str(cert))
    assert await RestTokenProvider(url, SECRET, "R", ssl_context=trusted).get_token() == TOKEN


def test_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        make_ssl_context(True, str(tmp_path / "nope.pem"))
    assert "server.ca_file" in str(info.value)


def test_secret_is_not_sent_in_clear_text_to_another_machine() -> None:
    for url in ("http://openvidu.lan:4443", "http://192.168.1.10", "http://[2001:db8::1]:80"):
        with pytest.raises(ConfigError) as info:
            RestTokenProvider(url, SECRET, "KioskRoom")
        assert "allow_http_secret" in info.value.problems[0]
        assert SECRET not in info.value.problems[0]
        RestTokenProvider(url, SECRET, "KioskRoom", allow_http_secret=True)  # the admin's choice
    for url in ("http://127.0.0.1:4443", "http://localhost", "http://[::1]:1", "https://h.lan"):
        RestTokenProvider(url, SECRET, "KioskRoom")


_FIRST_REQUEST = """
import asyncio, ssl, sys
import kiosk.openvidu.tokens
import httpx

async def main():
    async def answer(reader, writer):
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\n{}")
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient(verify=ssl.create_default_context(), trust_env=False) as c:
        before = set(sys.modules)
        await asyncio.wait_for(c.post(f"http://127.0.0.1:{port}/t", json={}), 10)
        print(sorted(set(sys.modules) - before))
    server.close()

asyncio.run(main())
"""


@pytest.mark.integration
def test_the_first_token_request_imports_nothing_on_the_event_loop() -> None:
    # httpx imported ~70 modules (h11, anyio) at the first request, on the loop: 0.5-0.9 s
    # before the kiosk's first token on a loaded machine. A fresh interpreter, as at start.
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUEST], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
