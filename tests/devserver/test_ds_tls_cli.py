"""HTTPS/WSS with the self-signed certificate, and the `kiosk devserver` entry points."""

from __future__ import annotations

import argparse
import asyncio
import glob
import io
import os
import socket
import ssl
import tempfile
from pathlib import Path

import httpx
import pytest

from kiosk.devserver.server import (
    DevServer,
    DevServerError,
    DevServerOptions,
    add_arguments,
    run_devserver,
)
from kiosk.secret_input import secret_from_args
from tests.devserver.ds_harness import SECRET, join_params, running


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


def test_cli_arguments(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.secret_file, args.tls) == ("127.0.0.1", 4443, None, True)
    assert args.media_server == "kurento" and args.public_url is None
    secret_file = tmp_path / "secret"
    secret_file.write_text("S3cr3tValue\n", encoding="utf-8")
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--no-tls",
            "--secret-file",
            str(secret_file),
            "--media-server",
            "mediasoup",
        ]
    )
    assert (args.port, args.tls, args.media_server) == (0, False, "mediasoup")
    assert secret_from_args(args, env_var="OPENVIDU_SECRET", env={}) == "S3cr3tValue"
    env_args = parser.parse_args([])
    assert (
        secret_from_args(env_args, env_var="OPENVIDU_SECRET", env={"OPENVIDU_SECRET": "E"}) == "E"
    )
    stdin_args = parser.parse_args(["--secret-file", "-"])
    assert secret_from_args(stdin_args, env_var="X", stdin=io.StringIO("From-Stdin\n")) == (
        "From-Stdin"
    )


def test_secret_on_the_command_line_is_refused_without_echo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="kiosk devserver")
    add_arguments(parser)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--secret", "Typed-In-Clear-1234"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--secret-file" in err and "Typed-In-Clear-1234" not in err


async def test_default_secret_beyond_loopback_is_refused_before_binding() -> None:
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        server = DevServer(DevServerOptions(host=host, port=0, tls=False))
        with pytest.raises(DevServerError, match="--allow-default-secret"):
            await server.start()
        assert server.port == 0  # nothing was bound
    loopback = DevServer(DevServerOptions(host="127.0.0.1", port=0, tls=False))
    await loopback.start()  # the default secret is fine on this machine
    await loopback.stop()


async def test_certificate_is_a_server_leaf_not_a_ca() -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    async with running(tls=True) as dev:
        assert dev.server.certificate is not None
        cert = x509.load_pem_x509_certificate(dev.server.certificate.cert_pem)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign is False and usage.digital_signature is True
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


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
