"""The dev server: REST (§1) and JSON-RPC at ``/openvidu`` (§3–§5) on one aiohttp port.

``kiosk devserver`` runs it from the command line (see :func:`add_arguments` and
:func:`main_from_args`); tests use :class:`DevServer` with ``port=0``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from urllib.parse import urlsplit

from aiohttp import web

from kiosk import eventloop
from kiosk.devserver.media_api import MediaBackend, NoMediaBackend
from kiosk.devserver.options import DevServerOptions
from kiosk.devserver.rest import PublicInfo, add_routes, make_auth_middleware, make_cors_middleware
from kiosk.devserver.rpc import RpcHub
from kiosk.devserver.state import ServerState
from kiosk.devserver.tls import SelfSignedCertificate, make_self_signed, server_ssl_context
from kiosk.errors import KioskError
from kiosk.logsetup import install_loop_exception_handler, setup_logging
from kiosk.net import is_loopback_host
from kiosk.redact import register_secret
from kiosk.secret_input import add_secret_arguments, secret_from_args

__all__ = [
    "DevServer",
    "DevServerError",
    "DevServerOptions",
    "add_arguments",
    "main_from_args",
    "run_devserver",
]

log = logging.getLogger("kiosk.devserver")


class DevServerError(KioskError):
    """The dev server could not start (port in use, bad address, bad public URL)."""


def _display_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "localhost"
    return f"[{host}]" if ":" in host else host


DEFAULT_SECRET = "MY_SECRET"
SECRET_ENV = "OPENVIDU_SECRET"


def _ws_base(public_url: str) -> str:
    parts = urlsplit(public_url)
    scheme = "ws" if parts.scheme == "http" else "wss"
    return f"{scheme}://{parts.netloc}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class DevServer:
    """One dev server instance. ``start()`` binds, ``stop()`` releases everything."""

    def __init__(self, options: DevServerOptions, media: MediaBackend | None = None) -> None:
        self.options = options
        self.media: MediaBackend = media if media is not None else NoMediaBackend()
        self.state = ServerState(ws_base="", default_codec=options.forced_video_codec)
        self.hub = RpcHub(self.state, options, self.media)
        self.certificate: SelfSignedCertificate | None = None
        self._public = PublicInfo()
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL actually bound, e.g. ``https://127.0.0.1:4443``."""
        scheme = "https" if self.options.tls else "http"
        return f"{scheme}://{_display_host(self.options.host)}:{self._port}"

    @property
    def public_url(self) -> str:
        """The URL written into tokens (``--public-url`` or :attr:`url`)."""
        return self._public.public_url

    async def start(self) -> None:
        if self._runner is not None:
            return
        opts = self.options
        if (
            opts.secret == DEFAULT_SECRET
            and not is_loopback_host(opts.host)
            and not opts.allow_default_secret
        ):
            raise DevServerError(
                f"refusing to listen on {opts.host} with the published default secret "
                f"{DEFAULT_SECRET}: anyone on the network could create sessions and join them; "
                f"give a secret (--secret-file or ${SECRET_ENV}) or --allow-default-secret"
            )
        register_secret(opts.secret)
        if opts.public_url is not None:
            parts = urlsplit(opts.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise DevServerError(
                    f"--public-url: expected http(s)://host[:port], got {opts.public_url!r}"
                )
        ssl_ctx = None
        if opts.tls:
            self.certificate = make_self_signed([opts.host])
            ssl_ctx = server_ssl_context(self.certificate)
        cors = make_cors_middleware(
            [*opts.cors_origins, *([_origin(opts.public_url)] if opts.public_url else [])]
        )
        app = web.Application(middlewares=[cors, make_auth_middleware(opts.secret)])
        app.router.add_get("/openvidu", self.hub.handle_ws)
        add_routes(app, state=self.state, room=self.hub.room, options=opts, public=self._public)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, opts.host, opts.port, ssl_context=ssl_ctx)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise DevServerError(
                f"cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}"
            ) from exc
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
        public = (opts.public_url or self.url).rstrip("/")
        self._public.public_url = public
        self.state.ws_base = _ws_base(public)
        log.info("dev server listening on %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.hub.close()
        try:
            await self.media.close()
        except Exception:
            log.exception("media backend failed to close")
        await runner.cleanup()
        log.info("dev server stopped")


async def run_devserver(
    options: DevServerOptions,
    *,
    stop: asyncio.Event | None = None,
    media: MediaBackend | None = None,
) -> int:
    """Run until ``stop`` is set or Ctrl-C/SIGTERM; print the base URL (never a token)."""
    install_loop_exception_handler()
    stop = stop or asyncio.Event()
    server = DevServer(options, media=media)
    try:
        await server.start()
    except DevServerError as exc:
        print(f"kiosk devserver: {exc}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    secret_hint = (
        f"{DEFAULT_SECRET} (the default)"
        if options.secret == DEFAULT_SECRET
        else f"the one from --secret-file or ${SECRET_ENV}"
    )
    print(f"kiosk devserver: listening on {server.url}", flush=True)
    print(f"  tokens point at {server.public_url}", flush=True)
    print(f"  REST: Basic auth OPENVIDUAPP:<secret>, secret = {secret_hint}", flush=True)
    if options.tls:
        print(
            "  self-signed certificate: accept it once at "
            f"{server.url}/openvidu/accept-certificate",
            flush=True,
        )
    else:
        print("  plain HTTP: tokens use ws:// (openvidu-browser >= 2.23 only)", flush=True)
    print("  Ctrl-C to stop", flush=True)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop()
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kiosk devserver``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4443, help="port to bind (default 4443)")
    add_secret_arguments(
        parser, env_var=SECRET_ENV, what=f"the OPENVIDU_SECRET for REST (default {DEFAULT_SECRET})"
    )
    parser.add_argument(
        "--allow-default-secret",
        action="store_true",
        help=f"listen beyond this machine with the default secret {DEFAULT_SECRET} anyway",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin (scheme://host[:port]) allowed to call the REST API besides "
        "this machine's (repeatable)",
    )
    parser.add_argument(
        "--no-tls", dest="tls", action="store_false", help="plain HTTP/WS instead of HTTPS/WSS"
    )
    parser.add_argument(
        "--media-server",
        choices=["kurento", "mediasoup"],
        default="kurento",
        help="mediaServer announced in joinRoom (default kurento)",
    )
    parser.add_argument(
        "--public-url", default=None, help="base URL written into tokens (default: bound host:port)"
    )
    parser.add_argument(
        "--no-media",
        dest="media",
        action="store_false",
        help="signaling only: publish/subscribe answer error 204 (no aiortc media relay)",
    )
    parser.add_argument(
        "--loopback",
        action="store_true",
        help="media ICE on 127.0.0.1 only (clients on this machine; checks from other "
        "addresses are dropped)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="what to log: sessions, connections, publishes at INFO (default INFO)",
    )


def main_from_args(args: argparse.Namespace) -> int:
    """Entry point used by ``kiosk devserver``."""
    setup_logging(getattr(args, "log_level", "INFO"))
    options = DevServerOptions(
        host=args.host,
        port=args.port,
        secret=secret_from_args(args, env_var=SECRET_ENV) or DEFAULT_SECRET,
        allow_default_secret=args.allow_default_secret,
        cors_origins=tuple(args.cors_origin),
        tls=args.tls,
        public_url=args.public_url,
        media_server=args.media_server,
    )
    media: MediaBackend | None = None
    if getattr(args, "media", True):
        from kiosk.devserver.media import AiortcMediaBackend
        from kiosk.media import ice, patches

        loopback = bool(getattr(args, "loopback", False))
        settings = ice.IceSettings.loopback() if loopback else ice.IceSettings()
        # The dev server's own receivers release video frames on the RTP marker bit, like the
        # kiosk: one fewer jitter-buffer wait on the path (Chromium included).
        patches.install(settings)
        media = AiortcMediaBackend(settings)
    try:
        return eventloop.run(run_devserver(options, media=media))
    except KeyboardInterrupt:
        return 0
