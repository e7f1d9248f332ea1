"""``kiosk bot``: synthetic participants for any OpenVidu 2.x server.

Each bot gets its own token, joins with its own name, and publishes the latency-stamped test
pattern and a tone of its own pitch — for checking a real room before a meeting, and for the
benchmarks. Bots publish only; they do not subscribe (that would cost CPU and prove nothing).
They rejoin by themselves when the server drops them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from kiosk import eventloop
from kiosk.errors import (
    AuthenticationFailed,
    ConfigError,
    KioskError,
    ServerRejected,
    TlsUntrusted,
)
from kiosk.logsetup import install_loop_exception_handler, setup_logging
from kiosk.media import ice as ice_seam
from kiosk.media import patches
from kiosk.media.devices import LocalMedia
from kiosk.media.recorded import RecordedPatternTrack
from kiosk.media.session_media import MediaSession
from kiosk.media.testpattern import TestPatternTrack
from kiosk.media.tone import ToneTrack
from kiosk.openvidu.client import (
    ConnectionLost,
    EvictedSelf,
    OpenViduClient,
)
from kiosk.openvidu.events import IceCandidateReceived
from kiosk.openvidu.tls import make_ssl_context
from kiosk.openvidu.tokens import AppServerTokenProvider, RestTokenProvider, TokenProvider
from kiosk.openvidu.urls import SignalingPolicy
from kiosk.secret_input import add_secret_arguments, secret_from_args
from kiosk.timeouts import wait_event

SECRET_ENV = "KIOSK_OPENVIDU_SECRET"
# An untrusted certificate, in this command's own words (not the kiosk config's keys).
BOT_TLS_HINT = "pass --ca-file PEM (the CA that signed it) or --insecure"

log = logging.getLogger(__name__)

NAMES = (
    "Alice",
    "Bob",
    "Carol",
    "Dave",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Niaj",
    "Olivia",
    "Peggy",
    "Rupert",
    "Sybil",
)


@dataclass
class BotOptions:
    server: str
    session: str
    secret: str | None = None
    application_url: str | None = None
    name: str | None = None
    count: int = 1
    duration: float | None = None
    insecure: bool = False
    ca_file: str | None = None
    websocket_host: str | None = None
    allow_token_hosts: tuple[str, ...] = ()
    allow_http_secret: bool = False
    width: int = 640
    height: int = 480
    fps: int = 30
    audio: bool = True
    ice: ice_seam.IceSettings = field(default_factory=ice_seam.IceSettings)
    retry_seconds: float = 2.0
    recorded: bool = False  # send a pre-encoded test pattern (kiosk.media.recorded)


def bot_names(base: str | None, count: int) -> list[str]:
    if base:
        return [base] if count == 1 else [f"{base} {i + 1}" for i in range(count)]
    return [
        NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i // len(NAMES) + 1}")
        for i in range(count)
    ]


class Bot:
    """One synthetic participant: join, publish, stay until stopped, rejoin when dropped."""

    def __init__(self, name: str, index: int, options: BotOptions, tokens: TokenProvider) -> None:
        self.name = name
        self.index = index
        self.options = options
        self.tokens = tokens
        self.connection_id: str | None = None
        self.joins = 0
        self.last_error: str | None = None
        self.joined = asyncio.Event()

    def _local_media(self) -> LocalMedia:
        o = self.options
        video: MediaStreamTrack
        if o.recorded:  # encoded once per process: many 30 fps senders on one machine
            video = RecordedPatternTrack("Recorded", o.width, o.height, o.fps)
        else:
            video = TestPatternTrack(self.name, o.width, o.height, o.fps)
        # Each bot its own pitch, so the mixer and the active-speaker view can tell them apart.
        audio = ToneTrack(220.0 * (1.0 + 0.25 * self.index)) if o.audio else None
        return LocalMedia(
            audio=audio,
            video=video,
            type_of_video="CUSTOM",
            video_dimensions=(o.width, o.height),
            frame_rate=o.fps,
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._one_call(stop)
            except KioskError as exc:
                self.last_error = str(exc)
                if hopeless(exc):
                    log.error(
                        "bot %s: %s — not retrying: the same request gets the same answer",
                        self.name,
                        exc,
                    )
                    return
                log.warning(
                    "bot %s: %s — retrying in %g s", self.name, exc, self.options.retry_seconds
                )
            self.joined.clear()
            await wait_event(stop, self.options.retry_seconds)

    async def _one_call(self, stop: asyncio.Event) -> None:
        o = self.options
        ssl_context = make_ssl_context(not o.insecure, o.ca_file)
        client = OpenViduClient(
            self.name,
            ssl_context=ssl_context,
            ws_host_override=o.websocket_host,
            policy=SignalingPolicy(o.server, o.allow_token_hosts),
            platform="kiosk bot (Python aiortc)",
            tls_hint=BOT_TLS_HINT,
        )
        token = await self.tokens.get_token()
        join = await client.join(token)
        self.connection_id = join.connection_id
        self.joins += 1
        media = MediaSession(
            client.rpc,
            join.connection_id,
            join.media_server,
            self._local_media(),
            o.ice,
            ice_seam.rtc_ice_servers(join.ice_servers, o.ice),
            stream_of=client.model.stream_of,
        )
        try:
            pump = asyncio.create_task(self._pump(client, media), name=f"bot-{self.name}-events")
            await media.start(publish=True)
            if media.publish_error:
                raise KioskError(f"publishVideo: {media.publish_error}")
            self.joined.set()
            log.info("bot %s joined as %s and publishes", self.name, join.connection_id)
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({pump, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if pump.done():
                pump.result()  # re-raise why the call ended
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        finally:
            await media.close()
            await client.leave()
            if media.local_media is not None:
                media.local_media.close()

    async def _pump(self, client: OpenViduClient, media: MediaSession) -> None:
        """Feed only what a publisher needs (its own ICE candidates); end on loss."""
        while True:
            item = await client.events.get()
            if isinstance(item, IceCandidateReceived):
                media.handle(item)
            elif isinstance(item, EvictedSelf):
                raise KioskError(f"evicted by the server ({item.reason or 'no reason'})")
            elif isinstance(item, ConnectionLost):
                try:
                    await client.resume()
                except KioskError as exc:
                    raise KioskError(
                        f"signaling lost ({item.reason}); resume failed: {exc}"
                    ) from exc


def hopeless(exc: KioskError) -> bool:
    """An answer a retry cannot change: bad request, wrong secret, refused, untrusted TLS."""
    if isinstance(exc, ServerRejected):
        return exc.status in (400, 401, 403)
    return isinstance(exc, AuthenticationFailed | TlsUntrusted | ConfigError)


def token_provider(o: BotOptions) -> TokenProvider:
    ssl_context = make_ssl_context(not o.insecure, o.ca_file)
    if o.application_url:
        return AppServerTokenProvider(
            o.application_url, o.session, ssl_context=ssl_context, tls_hint=BOT_TLS_HINT
        )
    if not o.secret:
        raise ConfigError(
            ["bot: give --secret-file (or KIOSK_OPENVIDU_SECRET) or --application-url"]
        )
    return RestTokenProvider(
        o.server,
        o.secret,
        o.session,
        ssl_context=ssl_context,
        allow_http_secret=o.allow_http_secret,
        tls_hint=BOT_TLS_HINT,
    )


async def run_bots(
    options: BotOptions,
    stop: asyncio.Event | None = None,
    on_started: Callable[[list[Bot]], None] | None = None,
) -> list[Bot]:
    """Run ``options.count`` bots until ``stop`` is set or ``options.duration`` has passed.

    The caller has installed ``options.ice`` process-wide (:func:`kiosk.media.patches.install`).
    """
    stop = stop or asyncio.Event()
    tokens = token_provider(options)
    bots = [
        Bot(name, i, options, tokens)
        for i, name in enumerate(bot_names(options.name, options.count))
    ]
    tasks = [asyncio.create_task(b.run(stop), name=f"bot-{b.name}") for b in bots]
    if on_started:
        on_started(bots)
    try:
        await _until_stopped_or_all_gave_up(stop, tasks, options.duration)
        stop.set()
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()
    return bots


async def _until_stopped_or_all_gave_up(
    stop: asyncio.Event, tasks: list[asyncio.Task[None]], duration: float | None
) -> None:
    """Wait for ``stop``, ``duration`` or every bot having given up (a hopeless answer)."""
    loop = asyncio.get_running_loop()
    deadline = None if duration is None else loop.time() + duration
    waiter = asyncio.create_task(stop.wait())
    pending: set[asyncio.Task[Any]] = set(tasks)
    try:
        while pending and not stop.is_set():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            _done, pending = await asyncio.wait(
                pending | {waiter}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(waiter)
    finally:
        waiter.cancel()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, help="OpenVidu base URL, e.g. https://host:4443")
    add_secret_arguments(parser, env_var=SECRET_ENV, what="the OpenVidu secret")
    parser.add_argument("--application-url", help="application server instead of the secret")
    parser.add_argument("--session", required=True, help="session id to join")
    parser.add_argument("--name", help="display name (numbered when --count > 1)")
    parser.add_argument("--count", type=int, default=1, help="number of bots (default 1)")
    parser.add_argument("--duration", type=float, help="seconds to stay (default: until Ctrl-C)")
    parser.add_argument("--insecure", action="store_true", help="accept any TLS certificate")
    parser.add_argument("--ca-file", help="CA bundle that signs the server's certificate")
    parser.add_argument(
        "--websocket-host", help="[ws[s]://]host[:port] override for the WebSocket URL"
    )
    parser.add_argument(
        "--allow-token-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host tokens may send the call to besides --server's (repeatable)",
    )
    parser.add_argument(
        "--allow-http-secret",
        action="store_true",
        help="send the secret over http:// to another machine (clear text)",
    )
    parser.add_argument("--size", default="640x480", help="video size (default 640x480)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument(
        "--recorded",
        action="store_true",
        help="send a test pattern encoded once at start, looped (benches: no live encoding)",
    )
    parser.add_argument(
        "--loopback",
        action="store_true",
        help="ICE on 127.0.0.1 only (for a dev server on this machine)",
    )
    parser.add_argument("--log-level", default="INFO")


def main_from_args(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    if args.count < 1 or args.count > 64:
        raise ConfigError([f"--count: expected 1–64, got {args.count}"])
    try:
        width, height = (int(v) for v in str(args.size).lower().split("x"))
    except ValueError:
        raise ConfigError([f"--size: expected WIDTHxHEIGHT, got {args.size!r}"]) from None
    if not (16 <= width <= 3840 and 16 <= height <= 2160):
        raise ConfigError(
            [f"--size: expected WIDTHxHEIGHT within 16x16–3840x2160, got {args.size!r}"]
        )
    if args.fps < 1 or args.fps > 60:
        raise ConfigError([f"--fps: expected 1–60, got {args.fps}"])
    if args.duration is not None and args.duration <= 0:
        raise ConfigError([f"--duration: expected seconds > 0, got {args.duration:g}"])
    options = BotOptions(
        server=args.server,
        session=args.session,
        secret=secret_from_args(args, env_var=SECRET_ENV),
        application_url=args.application_url,
        name=args.name,
        count=args.count,
        duration=args.duration,
        insecure=args.insecure,
        ca_file=args.ca_file,
        websocket_host=args.websocket_host,
        allow_token_hosts=tuple(args.allow_token_host),
        allow_http_secret=args.allow_http_secret,
        width=width,
        height=height,
        fps=args.fps,
        ice=ice_seam.IceSettings.loopback() if args.loopback else ice_seam.IceSettings(),
        recorded=args.recorded,
    )
    patches.install(options.ice)
    return eventloop.run(_main(options))


async def _main(options: BotOptions) -> int:
    install_loop_exception_handler()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    bots = await run_bots(options, stop)
    failed = [b for b in bots if b.joins == 0]
    for b in failed:
        print(f"bot {b.name}: never joined: {b.last_error or 'stopped before joining'}")
    return 1 if failed else 0
