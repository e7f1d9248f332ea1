"""HTTPS/WSS with the self-signed certificate, and the `kiosk devserver` entry points."""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import socket
import ssl
import tempfile

import httpx
import pytest
from ds_harness import SECRET, join_params, running

from kiosk.devserver.server import DevServerOptions, add_arguments, run_devserver


async def test_https_and_wss_work_with_the_self_signed_certificate() -> None:
    async with running(tls=True) as dev:
        assert dev.server.url.startswith("https://127.0.0.1:")
        # leaves no PEM files behind
        assert not glob.glob(os.path.join(tempfile.gettempdir(), "kiosk-devserver-*"))
        sid = await dev.session("Secure")
        conn = await dev.token(sid)
        assert conn["token"].startswith(f"wss://127.0.0.1:{dev.server.port}?sessionId=Secure&")
        rpc = await dev.client()  # wss:// verified against the server's certificate
        result = await rpc.result("joinRoom", join_params(conn["token"], sid))
        assert result["id"] == conn["id"]
        # a client that does not trust the certificate is refused
        async with httpx.AsyncClient(base_url=dev.server.url, verify=True) as strict:
            with pytest.raises(httpx.ConnectError):
                await strict.get("/openvidu/api/config", auth=("OPENVIDUAPP", SECRET))
        # and "localhost" is in the certificate too
        assert dev.server.certificate is not None
        ctx = ssl.create_default_context(cadata=dev.server.certificate.cert_pem.decode())
        async with httpx.AsyncClient(verify=ctx) as client:
            r = await client.get(f"https://localhost:{dev.server.port}/openvidu/accept-certificate")
        assert r.status_code == 200


async def test_public_url_goes_into_tokens_and_config() -> None:
    async with running(public_url="https://kiosk.example:4443/") as dev:
        sid = await dev.session("Public")
        conn = await dev.token(sid)
        assert conn["token"].startswith("wss://kiosk.example:4443?sessionId=Public&token=tok_")
        r = await dev.http.get("/openvidu/api/config/openvidu-publicurl")
        assert r.text == "https://kiosk.example:4443/"


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.secret, args.tls) == ("127.0.0.1", 4443, "MY_SECRET", True)
    assert args.media_server == "kurento" and args.public_url is None
    args = parser.parse_args(
        ["--port", "0", "--no-tls", "--secret", "S3cr3tValue", "--media-server", "mediasoup"]
    )
    assert (args.port, args.tls, args.secret, args.media_server) == (
        0,
        False,
        "S3cr3tValue",
        "mediasoup",
    )


async def test_run_devserver_prints_url_without_secret_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stop = asyncio.Event()
    options = DevServerOptions(port=0, tls=False, secret="S3cr3tValue")
    task = asyncio.ensure_future(run_devserver(options, stop=stop))
    printed = ""
    for _ in range(100):
        await asyncio.sleep(0.02)
        out = capsys.readouterr()
        printed += out.out + out.err
        if "Ctrl-C" in printed or task.done():
            break
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    out = capsys.readouterr()
    printed += out.out + out.err
    assert "listening on http://127.0.0.1:" in printed
    assert "ws://" in printed  # tells that tokens use ws:// without TLS
    assert "S3cr3tValue" not in printed


async def test_run_devserver_reports_a_busy_port_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = await run_devserver(DevServerOptions(port=port, tls=False))
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(port) in err
