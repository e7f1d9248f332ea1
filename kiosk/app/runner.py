"""``kiosk run``: the appliance. Wires config → tokens, signaling, media, screen, controls, status.

One asyncio loop owns everything. The pure :class:`~kiosk.app.machine.CallMachine` decides; this
module only executes its commands and reports what happened back to it:

* long operations (token, join, resume, leave) run one at a time as the *operation* task; its
  outcome is posted back as a machine event;
* the client's notification queue is pumped into the media session (subscriptions, ICE
  candidates), the roster (toasts) and the machine (socket lost, evicted);
* a 1 s housekeeping tick watches for stalled or failed streams, computes received fps and keeps
  the systemd watchdog honest only while the render loop runs;
* the render loop (pygame, a task of this loop) draws a :class:`~kiosk.screen.model.RoomView`
  built fresh each frame from the machine, the session model and the media session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiortc
import av
import pygame

from kiosk import __version__
from kiosk.app import machine as m
from kiosk.app.sdnotify import SystemdNotifier
from kiosk.app.status import Metrics, StatusServer
from kiosk.config import KioskConfig, load_config, resolve_secret
from kiosk.controls._gpio import resolve_pin_factory
from kiosk.controls.actions import Action
from kiosk.controls.buttons import Buttons, ButtonSpec
from kiosk.controls.keyboard import action_for_key
from kiosk.controls.leds import Leds, LedSpec
from kiosk.errors import ConfigError, KioskError, ServerTimeout, ServerUnreachable, SignalingError
from kiosk.errors import ResumeFailed as ResumeFailedError
from kiosk.logsetup import setup_logging
from kiosk.media import ice as ice_seam
from kiosk.media import jitter
from kiosk.media.audio_devices import check_all_async
from kiosk.media.devices import CameraSettings, LocalMedia, open_audio_output, open_local_media
from kiosk.media.session_media import MediaSession
from kiosk.media.sinks import AudioMixer
from kiosk.openvidu.client import (
    ConnectionLost,
    ConnectionResumed,
    EvictedSelf,
    OpenViduClient,
    RosterChanged,
)
from kiosk.openvidu.events import (
    IceCandidateReceived,
    ParticipantEvicted,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantUnpublished,
    SignalReceived,
    StreamPropertyChanged,
)
from kiosk.openvidu.tls import make_ssl_context
from kiosk.openvidu.tokens import (
    AppServerTokenProvider,
    FixedTokenProvider,
    RestTokenProvider,
    TokenProvider,
)
from kiosk.redact import register_secret
from kiosk.screen.display import Display, DisplaySettings, KeyEvent
from kiosk.screen.model import RoomView, TileInfo, Toast
from kiosk.screen.renderer import Renderer, run_render_loop, screenshot_async
from kiosk.screen.views import SELF_ID, MainViewPolicy

log = logging.getLogger(__name__)

_ROOM_STATE = {
    m.CallState.IDLE: "idle",
    m.CallState.JOINING: "joining",
    m.CallState.IN_CALL: "in_call",
    m.CallState.RECONNECTING: "reconnecting",
    m.CallState.LEAVING: "joining",
    m.CallState.ERROR: "error",
}
_SPEAKING_DBFS = -45.0
_TOAST_SECONDS = 4.0
_SHUTDOWN_SECONDS = 5.0
_PROBE_SECONDS = 1.0  # how often an unreachable server's port is tried during a backoff
_RESUME_ATTEMPT_SECONDS = 3.0  # one `connect` attempt; repeated until the grace period ends


def token_provider_from_config(
    config: KioskConfig, env: dict[str, str] | None = None
) -> TokenProvider:
    """The one way this config gets tokens: fixed token, application server, or REST + secret."""
    server, session = config.server, config.session
    ssl_context = make_ssl_context(server.verify_tls, server.ca_file)
    if server.token is not None:
        return FixedTokenProvider(server.token.get_secret_value())
    if server.application_url:
        return AppServerTokenProvider(
            server.application_url,
            session.id,
            ssl_context=ssl_context,
            timeout=server.timeout_seconds,
        )
    secret = resolve_secret(server, os.environ if env is None else env)
    if not secret:
        raise ConfigError(
            [
                "server.secret: no way to get a token: set server.secret, server.secret_file, "
                "server.application_url or server.token, or provide KIOSK_OPENVIDU_SECRET or the "
                "systemd credential 'openvidu-secret'"
            ]
        )
    register_secret(secret)
    return RestTokenProvider(
        server.url,
        secret,
        session.id,
        role=session.role,
        ssl_context=ssl_context,
        timeout=server.timeout_seconds,
    )


def ice_settings_from_config(config: KioskConfig) -> ice_seam.IceSettings:
    return ice_seam.IceSettings(
        host_addresses=tuple(config.ice.host_addresses), loopback_only=config.ice.loopback_only
    )


def display_settings_from_config(config: KioskConfig) -> DisplaySettings:
    return DisplaySettings(
        driver=config.display.driver,
        fullscreen=config.display.fullscreen,
        size=config.display.size_pixels,
        title=f"kiosk — {config.display.room_name or config.session.name}",
    )


@dataclass
class _StreamStats:
    last_count: int = 0
    last_time: float = 0.0
    fps: float = 0.0


@dataclass
class KioskSnapshot:
    """Counters the status endpoint, the metrics and the tests read."""

    started_at: float = field(default_factory=time.monotonic)
    joins: int = 0
    reconnects: int = 0
    resumes: int = 0
    join_requested_at: float | None = None  # the first token request of the current join
    first_remote_frame_at: float | None = None  # first remote frame drawn after that join

    @property
    def join_seconds(self) -> float | None:
        """Join request → first remote frame on screen (what a person in the room waits)."""
        if self.join_requested_at is None or self.first_remote_frame_at is None:
            return None
        return self.first_remote_frame_at - self.join_requested_at


class Kiosk:
    """The running appliance. ``await Kiosk(config).run()`` returns the exit code."""

    def __init__(
        self,
        config: KioskConfig,
        *,
        tokens: TokenProvider | None = None,
        ice: ice_seam.IceSettings | None = None,
        display: Display | None = None,
        notifier: SystemdNotifier | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.tokens = tokens or token_provider_from_config(config)
        self.ice = ice or ice_settings_from_config(config)
        self.display = display or Display(display_settings_from_config(config))
        self.notifier = notifier or SystemdNotifier()
        self.clock = clock
        self.machine = m.CallMachine(
            m.MachineConfig(
                auto_join=config.session.auto_join,
                server=config.server.url,
                # The server keeps a silent participant for its ping watchdog (15 s) plus the
                # grace period (10 s, §7.2); we notice a loss after 5–10 s. Keep trying to
                # resume for 20 s: a server that already dropped us says so at once (40007).
                resume_grace_s=20.0,
            )
        )
        self.view_policy = MainViewPolicy(
            config.display.main, pin_seconds=config.display.pin_seconds
        )
        self.metrics = Metrics()
        self.stats = KioskSnapshot()
        self.client: OpenViduClient | None = None
        self.media: MediaSession | None = None
        self.local_media: LocalMedia | None = None
        self.mixer: AudioMixer | None = None
        self.renderer: Renderer | None = None
        self.buttons: Buttons | None = None
        self.leds: Leds | None = None
        self.status_server: StatusServer | None = None
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()  # set once the screen is up and the status endpoint listens
        self.exit_code = 0
        self.toasts: list[Toast] = []
        self.main_id: str = SELF_ID
        self.media_problems: list[str] = []
        self._events: asyncio.Queue[m.Event] = asyncio.Queue()
        self._token: str | None = None
        self._op: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._probe: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stream_stats: dict[str, _StreamStats] = {}
        self._reported: dict[
            str, float
        ] = {}  # stream id -> when we last reported it stalled/failed
        self._muted = {"audio": False, "video": False}
        self.server_reachable: bool | None = None  # what the idle screen says about the server

    # --- plumbing ------------------------------------------------------------------------------

    def post(self, event: m.Event) -> None:
        """Hand an event to the machine (from the loop thread only)."""
        self._events.put_nowait(event)

    def post_threadsafe(self, loop: asyncio.AbstractEventLoop, event: m.Event) -> None:
        loop.call_soon_threadsafe(self.post, event)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def toast(self, text: str) -> None:
        self.toasts.append(Toast(text, self.clock() + _TOAST_SECONDS))
        del self.toasts[:-4]
        log.info("toast: %s", text)

    # --- main ----------------------------------------------------------------------------------

    async def run(self, *, duration: float | None = None) -> int:
        loop = asyncio.get_running_loop()
        ice_seam.install(self.ice)
        jitter.install()  # release video frames on the RTP marker bit (−33 ms latency)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.post, m.Shutdown())
        self.display.open()
        self.display.set_screensaver_allowed(False)
        self.renderer = Renderer(self.display.surface)
        self._start_audio()
        await self._check_audio_devices()
        self._start_controls(loop)
        if self.config.status.enabled:
            self.status_server = StatusServer(
                self.config.status.listen, self.status, self.metrics_text, self.screenshot
            )
            await self.status_server.start()
            log.info("status: %s/status", self.status_server.url)
        render_stop = asyncio.Event()
        render = self._spawn(
            run_render_loop(
                self.display,
                self.room_view,
                render_stop,
                max_fps=self.config.display.max_fps,
                on_frame=self._on_frame,
                on_key=self._on_key,
                on_quit=self._on_quit,
                renderer=self.renderer,
                clock=self.clock,
                strip=self.config.display.strip,
            ),
            "render",
        )
        self.notifier.ready(status="screen up")
        self.ready.set()
        machine_task = self._spawn(self._machine_loop(), "machine")
        tick = self._spawn(self._housekeeping(), "housekeeping")
        if duration is not None:
            loop.call_later(duration, self.post, m.Shutdown())
        self.post(m.Start())
        try:
            await self.stop.wait()
        finally:
            self.notifier.stopping()
            render_stop.set()
            tick.cancel()
            machine_task.cancel()
            await self._teardown()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(render, 2)
            self.display.close()
            self.notifier.close()
        return self.exit_code

    def _start_controls(self, loop: asyncio.AbstractEventLoop) -> None:
        """GPIO buttons and LEDs; where GPIO is unavailable they log one warning and do nothing."""
        b, leds = self.config.buttons, self.config.leds
        specs = {
            Action(name): ButtonSpec(c.pin, c.pull_up, c.bounce_time, c.hold_seconds)
            for name in ("join_leave", "next", "mute_mic", "camera")
            if (c := getattr(b, name)) is not None
        }
        if not specs and not any(getattr(leds, n) for n in ("call", "muted", "camera_off")):
            return
        # One factory for buttons and LEDs (a name would make each build its own).
        factory: Any = b.pin_factory
        try:
            factory = resolve_pin_factory(b.pin_factory)
        except Exception:  # Buttons/Leds report it as their one warning
            factory = b.pin_factory
        if specs:
            self.buttons = Buttons(specs, self.on_action, loop, pin_factory=factory)
        led_specs = {
            name: LedSpec(c.pin, c.active_high, c.pwm) if (c := getattr(leds, name)) else None
            for name in ("call", "muted", "camera_off")
        }
        if any(led_specs.values()):
            self.leds = Leds(
                led_specs["call"],
                led_specs["muted"],
                led_specs["camera_off"],
                pin_factory=b.pin_factory,
            )
            self._show_leds()

    def _show_leds(self) -> None:
        if self.leds is not None:
            self.leds.show(self.machine.state, self._muted["audio"], self._muted["video"])

    async def _check_audio_devices(self) -> None:
        """Say at start, once and clearly, when a configured microphone or speaker is missing."""
        media = self.config.media
        for problem in await check_all_async(media.microphone.device, media.speaker.device):
            log.warning("%s", problem)
            if problem not in self.media_problems:
                self.media_problems.append(problem)

    def _start_audio(self) -> None:
        output, problem = open_audio_output(self.config.media.speaker.device)
        if problem:
            self.media_problems.append(problem)
            log.warning("%s", problem)
        self.mixer = AudioMixer(48000, 2, max_buffer_ms=self.config.media.audio_buffer_ms)
        self.mixer.start(output)

    async def _teardown(self) -> None:
        self._cancel_retry()
        if self._op is not None and not self._op.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._op), 1.0)
            self._op.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._leave(), _SHUTDOWN_SECONDS)
        self._release_local_media()
        if self.buttons is not None:
            await asyncio.to_thread(self.buttons.close)
        if self.leds is not None:
            self.leds.close()
        if self.mixer is not None:
            await self.mixer.close()
        if self.status_server is not None:
            await self.status_server.stop()
        for task in list(self._tasks):
            if task.get_name() != "render":
                task.cancel()

    # --- the machine -----------------------------------------------------------------------------

    async def _machine_loop(self) -> None:
        while True:
            event = await self._events.get()
            now = self.clock()
            before = self.machine.state
            commands = self.machine.handle(event, now)
            if self.machine.ignored:
                log.debug("ignored %s in state %s", type(event).__name__, before)
            if self.machine.state != before:
                log.info("state %s → %s (%s)", before, self.machine.state, type(event).__name__)
                self.metrics.inc("kiosk_state_changes_total", state=str(self.machine.state))
                self.notifier.status(self.machine.status_line or str(self.machine.state))
                self._show_leds()
            for command in commands:
                self._execute(command)

    def _execute(self, command: m.Command) -> None:
        if isinstance(command, m.FetchToken):
            self._run_op(self._fetch_token(), "fetch-token")
        elif isinstance(command, m.JoinWithToken):
            self._run_op(self._join(), "join")
        elif isinstance(command, m.ResumeSocket):
            self._run_op(self._resume(command.timeout_s), "resume")
        elif isinstance(command, m.LeaveCall):
            if self._op is not None and not self._op.done():
                self._op.cancel()
            self._op = self._spawn(self._leave_and_report(), "leave")
        elif isinstance(command, m.Resubscribe):
            if self.media is not None:
                self._spawn(self.media.resubscribe(command.stream_id), "resubscribe")
        elif isinstance(command, m.Republish):
            if self.media is not None:
                self._spawn(self.media.republish(), "republish")
        elif isinstance(command, m.ScheduleRetry):
            self._cancel_retry()
            loop = asyncio.get_running_loop()
            self._retry = loop.call_later(command.delay_s, self.post, m.RetryDue(command.seq))
            if self.server_reachable is False and command.delay_s > _PROBE_SECONDS:
                self._probe = self._spawn(self._retry_when_server_answers(command.seq), "probe")
        elif isinstance(command, m.CancelRetry):
            self._cancel_retry()
        elif isinstance(command, m.ReleaseMedia):
            self._release_local_media()
        elif isinstance(command, m.Exit):
            self.exit_code = command.code
            self._spawn(self._exit_after_current_op(), "exit")

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None

    async def _retry_when_server_answers(self, seq: int) -> None:
        """While waiting out a backoff because the server was unreachable, knock on its port
        once a second and retry at once when it answers: after an outage the room should not
        stay dark for the rest of a 30 s backoff (measured: 23 s after quick restarts)."""
        host, port = _host_port(self.config.server.url)
        while True:
            await asyncio.sleep(_PROBE_SECONDS)
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), _PROBE_SECONDS
                )
            except (OSError, TimeoutError):
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            log.info("server %s:%s answers again: retrying now", host, port)
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None
            self._probe = None
            self.post(m.RetryDue(seq))
            return

    async def _exit_after_current_op(self) -> None:
        """Exit comes right after LeaveCall: let that leave finish (bounded), then stop."""
        op = self._op
        if op is not None and not op.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(op), _SHUTDOWN_SECONDS)
        self.stop.set()

    def _run_op(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        previous = self._op

        async def after_previous() -> None:
            if previous is not None and not previous.done():
                with contextlib.suppress(BaseException):
                    await previous
            await coro

        self._op = self._spawn(after_previous(), name)

    # --- operations ------------------------------------------------------------------------------

    async def _fetch_token(self) -> None:
        if self.client is None and self.stats.first_remote_frame_at is None:
            self.stats.join_requested_at = self.stats.join_requested_at or self.clock()
        try:
            self._token = await self.tokens.get_token()
        except KioskError as exc:
            log.warning("token: %s", exc)
            # It answered (wrong secret, 5xx …) unless the error is about reaching it at all.
            self.server_reachable = not isinstance(exc, ServerUnreachable | ServerTimeout)
            self.post(m.TokenFailed(exc))
            return
        self.server_reachable = True
        self.post(m.TokenObtained())

    async def _join(self) -> None:
        token, self._token = self._token, None
        if token is None:
            self.post(m.JoinFailed(SignalingError("joinRoom: no token")))
            return
        await self._leave()  # drop any stale call first
        cfg = self.config
        ssl_context = make_ssl_context(cfg.server.verify_tls, cfg.server.ca_file)
        client = OpenViduClient(
            cfg.session.name,
            ssl_context=ssl_context,
            ws_host_override=cfg.server.websocket_host,
            platform=f"kiosk {__version__} (Python aiortc; Linux)",
            request_timeout=cfg.server.timeout_seconds,
        )
        try:
            join = await client.join(token)
        except KioskError as exc:
            log.warning("join: %s", exc)
            self.post(m.JoinFailed(exc))
            return
        except asyncio.CancelledError:
            await client.close()
            raise
        self.client = client
        self.stats.joins += 1
        if self.stats.joins > 1:  # a rejoin: measure its own join time
            self.stats.join_requested_at = self.clock()
            self.stats.first_remote_frame_at = None
        publish = cfg.session.role != "SUBSCRIBER"
        if publish and self.local_media is None:
            self.local_media = await asyncio.to_thread(self._open_local_media)
        media = MediaSession(
            client.rpc,
            join.connection_id,
            join.media_server,
            self.local_media if publish else None,
            self.ice,
            ice_seam.rtc_ice_servers(join.ice_servers, self.ice),
            self.mixer,
        )
        self.media = media
        for name, muted in self._muted.items():
            if muted:
                await media.set_muted(name, True)  # type: ignore[arg-type]
        for participant in list(client.model.participants.values()):
            if participant.stream is not None:
                media.handle(ParticipantPublished(participant.connection_id, participant.stream))
        self._pump = self._spawn(self._pump_events(client, media), "events")
        try:
            await media.start((), publish=publish)
        except KioskError as exc:
            log.warning("publish: %s", exc)
        if media.publish_error:
            self.media_problems.append(f"not sending video: {media.publish_error}")
        self.post(m.Joined())

    def _open_local_media(self) -> LocalMedia:
        cam = self.config.media.camera
        media = open_local_media(
            cam.device,
            self.config.media.microphone.device,
            self.config.session.name,
            CameraSettings(cam.width, cam.height, cam.fps, cam.input_format),
        )
        self.media_problems = list(media.problems)
        return media

    async def _resume(self, timeout_s: float) -> None:
        """Resume the same participant (``connect``) until the server's grace period is over.

        Short attempts, again and again: one long attempt would be stuck in the very outage
        that caused the loss and expire just when the network comes back (measured: a 20 s
        outage never resumed). Stops at once when the server answers "no" (it dropped us).
        """
        client = self.client
        if client is None:
            self.post(m.ResumeFailed(None))
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        error: KioskError = SignalingError(f"connect: no resume within {timeout_s:g} s")
        while (left := deadline - loop.time()) > 0.2:
            attempt = min(_RESUME_ATTEMPT_SECONDS, left)
            try:
                await asyncio.wait_for(client.resume(open_timeout=attempt), attempt + 2.0)
            except ResumeFailedError as exc:
                error = exc
                if exc.definitive:
                    break
            except (KioskError, TimeoutError) as exc:
                error = exc if isinstance(exc, KioskError) else error
            else:
                self.stats.resumes += 1
                self.post(m.Resumed())
                return
            await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))
        log.warning("resume: %s", error)
        self.post(m.ResumeFailed(error))

    async def _leave_and_report(self) -> None:
        try:
            await asyncio.wait_for(self._leave(), _SHUTDOWN_SECONDS - 1)
        except (TimeoutError, KioskError) as exc:
            log.warning("leave: %s", exc or "timed out")
        finally:
            self.post(m.Left())

    async def _leave(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
        media, self.media = self.media, None
        client, self.client = self.client, None
        try:
            if media is not None:
                await media.close()
        finally:
            if client is not None:
                await client.leave()
        self._stream_stats.clear()
        self._reported.clear()

    def _release_local_media(self) -> None:
        if self.local_media is not None:
            self.local_media.close()
            self.local_media = None

    async def _pump_events(self, client: OpenViduClient, media: MediaSession) -> None:
        while True:
            item = await client.events.get()
            if isinstance(
                item,
                IceCandidateReceived
                | ParticipantPublished
                | ParticipantUnpublished
                | ParticipantLeft
                | ParticipantEvicted
                | StreamPropertyChanged,
            ):
                media.handle(item)
            if isinstance(item, RosterChanged):
                for change in item.changes:
                    self._roster_toast(change)
            elif isinstance(item, SignalReceived):
                if item.type in ("signal:chat", "chat"):
                    sender = (
                        client.model.name_of(item.from_connection_id)
                        if item.from_connection_id
                        else "Server"
                    )
                    self.toast(f"{sender}: {item.data[:80]}")
            elif isinstance(item, ConnectionLost):
                self.stats.reconnects += 1
                self.metrics.inc("kiosk_reconnects_total")
                self.post(m.SocketLost(item.reason))
            elif isinstance(item, ConnectionResumed):
                pass
            elif isinstance(item, EvictedSelf):
                if item.reason == "sessionClosedByServer":
                    self.post(m.SessionClosed(item.reason))
                else:
                    self.post(m.Evicted(item.reason))

    def _roster_toast(self, change: Any) -> None:
        kind = getattr(change, "kind", "")
        name = getattr(change, "display_name", "") or getattr(change, "name", "") or "Someone"
        if kind == "joined":
            self.toast(f"{name} joined")
        elif kind == "left":
            self.toast(f"{name} left")

    # --- housekeeping ----------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self.clock()
            self.toasts = [t for t in self.toasts if t.expires_at > now]
            media = self.media
            if media is None or self.machine.state != m.CallState.IN_CALL:
                continue
            for stream_id in media.stalled(now, self.config.media.stall_seconds):
                if now - self._reported.get(stream_id, -1e9) >= self.config.media.stall_seconds:
                    self._reported[stream_id] = now
                    log.warning("media stalled on %s: re-subscribing", stream_id)
                    self.post(m.MediaStalled(stream_id))
            for stream_id in list(media.errors):
                if now - self._reported.get(stream_id, -1e9) >= self.config.media.stall_seconds:
                    self._reported[stream_id] = now
                    self.post(m.PeerFailed(stream_id))
            for cid, frames in media.frames.items():
                st = self._stream_stats.setdefault(cid, _StreamStats(frames.frame_count, now))
                dt = now - st.last_time
                if dt >= 1.0:
                    st.fps = (frames.frame_count - st.last_count) / dt
                    st.last_count, st.last_time = frames.frame_count, now

    # --- screen ----------------------------------------------------------------------------------

    def _on_frame(self) -> None:
        now = self.clock()
        self.notifier.watchdog()
        media = self.media
        if (
            self.stats.first_remote_frame_at is None
            and media is not None
            and any(f.frame_count for f in media.frames.values())
        ):
            self.stats.first_remote_frame_at = now  # drawn in the iteration that just ended
            log.info(
                "first remote frame on screen %.2f s after start (join request → frame %.2f s)",
                now - self.stats.started_at,
                self.stats.join_seconds or 0.0,
            )

    def _on_key(self, key: KeyEvent) -> None:
        if not key.down:
            return
        action = action_for_key(key.key, allow_quit=self.config.display.allow_quit)
        if action is not None:
            self.on_action(action)

    def _on_quit(self) -> None:
        if self.config.display.allow_quit:
            self.post(m.Shutdown())

    def on_action(self, action: Any) -> None:
        """A button or key press (always called on the loop thread)."""
        name = getattr(action, "value", str(action))
        log.info("action: %s", name)
        now = self.clock()
        if name == "join_leave":
            if self.machine.state == m.CallState.IN_CALL:
                self.post(m.LeaveAction())
                self.toast("Leaving the call")
            else:
                self.post(m.JoinAction())
                self.toast("Joining…" if self.machine.state == m.CallState.IDLE else "Cancelled")
        elif name == "rejoin":
            self.post(m.RejoinAction())
            self.toast("Rejoining the call")
        elif name == "next":
            self.main_id = self.view_policy.next(now)
            self.toast(f"Main view: {self._name_of(self.main_id)}")
        elif name in ("mute_mic", "camera"):
            kind = "audio" if name == "mute_mic" else "video"
            self._muted[kind] = not self._muted[kind]
            if self.media is not None:
                self._spawn(self.media.set_muted(kind, self._muted[kind]), f"mute-{kind}")  # type: ignore[arg-type]
            self._show_leds()
            if kind == "audio":
                self.toast("Microphone muted" if self._muted[kind] else "Microphone on")
            else:
                self.toast("Camera off" if self._muted[kind] else "Camera on")
        elif name == "fullscreen":
            self._toggle_fullscreen()
        elif name == "quit" and self.config.display.allow_quit:
            self.post(m.Shutdown())

    def _toggle_fullscreen(self) -> None:
        try:
            pygame.display.toggle_fullscreen()
        except pygame.error as exc:
            log.info("fullscreen toggle: not supported by this display driver (%s)", exc)
            return
        surface = pygame.display.get_surface()
        if self.renderer is not None and surface is not None:
            self.renderer.surface = surface
            self.renderer.invalidate()

    def _name_of(self, cid: str) -> str:
        if cid == SELF_ID:
            return "You"
        return self.client.model.name_of(cid) if self.client else cid

    def room_view(self) -> RoomView:
        now = self.clock()
        state = self.machine.state
        tiles: list[TileInfo] = []
        remote: list[str] = []
        levels = self.media.levels() if self.media is not None else {}
        if self.client is not None and self.media is not None:
            media = self.media
            tiles.append(
                TileInfo(
                    id=SELF_ID,
                    name="You",
                    is_self=True,
                    mic_muted=self._muted["audio"],
                    video_active=not self._muted["video"],
                    frames=media.local_frame,
                )
            )
            for cid, p in self.client.model.participants.items():
                if cid == self.client.connection_id:
                    continue
                stream = media.streams.get(cid) or p.stream
                remote.append(cid)
                tiles.append(
                    TileInfo(
                        id=cid,
                        name=p.display_name or "Guest",
                        mic_muted=bool(stream and stream.has_audio and not stream.audio_active),
                        video_active=bool(stream and stream.has_video and stream.video_active),
                        speaking=levels.get(cid, -math.inf) > _SPEAKING_DBFS,
                        frames=media.frames.get(cid),
                    )
                )
        self.main_id = self.view_policy.update(now, remote, levels)
        return RoomView(
            state=_ROOM_STATE.get(state, "idle"),  # type: ignore[arg-type]
            room_name=self.config.display.room_name or self.config.session.name,
            status_line=self.machine.status_line_at(now),
            banner="; ".join(self.media_problems),
            server_reachable=self.server_reachable,
            clock_text=time.strftime("%H:%M") if self.config.display.show_clock else "",
            tiles=tuple(tiles),
            main_id=self.main_id,
            toasts=tuple(self.toasts),
        )

    async def screenshot(self) -> bytes | None:
        if not self.display.is_open:
            return None
        return await screenshot_async(self.display.surface)

    # --- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        client, media = self.client, self.media
        participants = []
        if client is not None:
            for cid, p in client.model.participants.items():
                if cid == client.connection_id:
                    continue
                stream = media.streams.get(cid) if media else None
                frames = media.frames.get(cid) if media else None
                participants.append(
                    {
                        "connection_id": cid,
                        "name": p.display_name,
                        "stream_id": stream.stream_id if stream else None,
                        "audio_active": stream.audio_active if stream else None,
                        "video_active": stream.video_active if stream else None,
                        "frames_received": frames.frame_count if frames else 0,
                        "fps": round(self._stream_stats.get(cid, _StreamStats()).fps, 1),
                    }
                )
        return {
            "state": str(self.machine.state),
            "status_line": self.machine.status_line_at(self.clock()),
            "session_id": self.config.session.id,
            "display_name": self.config.session.name,
            "connection_id": client.connection_id if client else None,
            "participants": participants,
            "main_view": self.main_id,
            "muted": dict(self._muted),
            "publishing": media.publish_state if media else "off",
            "media_problems": self.media_problems,
            "last_error": self.machine.status_line
            if self.machine.state == m.CallState.ERROR
            else None,
            "joins": self.stats.joins,
            "reconnects": self.stats.reconnects,
            "resumes": self.stats.resumes,
            "uptime_seconds": round(self.clock() - self.stats.started_at, 1),
            "versions": {
                "kiosk": __version__,
                "aiortc": aiortc.__version__,
                "av": av.__version__,
                "pygame-ce": pygame.version.ver,
            },
        }

    def metrics_text(self) -> str:
        mt = self.metrics
        mt.describe("kiosk_frames_received_total", "Video frames decoded per remote stream")
        mt.describe("kiosk_reconnects_total", "Signaling connections lost")
        mt.describe("kiosk_in_call", "1 while in a call")
        mt.set("kiosk_in_call", 1.0 if self.machine.state == m.CallState.IN_CALL else 0.0)
        for state in m.CallState:
            mt.set("kiosk_state", 1.0 if self.machine.state == state else 0.0, state=str(state))
        if self.media is not None:
            for cid, frames in self.media.frames.items():
                stream = self.media.streams.get(cid)
                label = stream.stream_id if stream else cid
                mt.set("kiosk_frames_received_total", float(frames.frame_count), stream=label)
                mt.set(
                    "kiosk_stream_fps",
                    self._stream_stats.get(cid, _StreamStats()).fps,
                    stream=label,
                )
        if self.renderer is not None:
            st = self.renderer.stats
            for key, value in dataclasses.asdict(st).items():
                mt.set(f"kiosk_render_{key}", float(value))
        return mt.render()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "127.0.0.1", port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        default="/etc/kiosk/config.yaml",
        help="configuration file (default /etc/kiosk/config.yaml)",
    )
    parser.add_argument("--duration", type=float, help="leave and exit after S seconds")


def main_from_args(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    setup_logging(config.logging.level, config.logging.format)
    kiosk = Kiosk(config)
    return asyncio.run(kiosk.run(duration=args.duration))
