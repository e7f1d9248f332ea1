"""``Kiosk``: the running appliance — owns the lifecycle and the call's live objects.

One asyncio loop owns everything. The pure :class:`~kiosk.app.machine.CallMachine` decides;
the pieces around it only carry out its commands and report back:

* :mod:`kiosk.app.executor` — a machine command → an operation or a timer;
* :mod:`kiosk.app.operations` — token, join, resume, leave (one at a time);
* :mod:`kiosk.app.event_pump` — the client's notifications → media, toasts, machine events;
* :mod:`kiosk.app.housekeeping` — the 1 s tick: stalled streams, received fps, toast expiry;
* :mod:`kiosk.app.actions` — a button or key press → machine event, main view, mute;
* :mod:`kiosk.app.roomview_builder` — the :class:`~kiosk.screen.roomview.RoomView` drawn each
  frame; :mod:`kiosk.app.telemetry` — /status and /metrics;
* :mod:`kiosk.app.wiring` — the one place that maps config onto settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiosk.app import actions, housekeeping, room_task, roomview_builder, telemetry
from kiosk.app import machine as m
from kiosk.app.executor import Executor
from kiosk.app.fleet import KioskFleetPort
from kiosk.app.indicators import call_pattern
from kiosk.app.liveness import CALL, RENDER, Liveness
from kiosk.app.metrics import KioskMetrics
from kiosk.app.operations import Operations
from kiosk.app.room_settings import build_room, pir_spec
from kiosk.app.sdnotify import SystemdNotifier
from kiosk.app.stalls import LoopStallReporter
from kiosk.app.status import StatusServer
from kiosk.app.telemetry import KioskSnapshot, StreamStats
from kiosk.app.wiring import (
    button_specs_from_config,
    can_switch_sessions,
    display_settings_from_config,
    fleet_settings_from_config,
    ice_settings_from_config,
    led_specs_from_config,
    machine_config_from_config,
    security_warnings_from_config,
    ssl_context_from_config,
    status_options_from_config,
    token_provider_for_session,
    token_provider_from_config,
    view_policy_from_config,
    worker_settings_from_config,
)
from kiosk.config import KioskConfig
from kiosk.controls._gpio import resolve_pin_factory
from kiosk.controls.actions import Action
from kiosk.controls.buttons import Buttons
from kiosk.controls.leds import Leds
from kiosk.fleet.client import FleetClient
from kiosk.heap import HeapKeeper, find_trimmer
from kiosk.logsetup import install_loop_exception_handler
from kiosk.media import ice as ice_seam
from kiosk.media.audio_devices import check_all_async
from kiosk.media.devices import LocalMedia, open_audio_output
from kiosk.media.publisher import MediaKind
from kiosk.media.session_media import MediaSession
from kiosk.media.sinks import AudioMixer
from kiosk.openvidu.client import OpenViduClient
from kiosk.openvidu.tokens import TokenProvider
from kiosk.owned_tasks import OwnedTasks
from kiosk.room.occupancy import PirSensor
from kiosk.screen.display import Display
from kiosk.screen.mainview import SELF_ID
from kiosk.screen.renderer import Renderer, encode_png, run_render_loop
from kiosk.screen.roomview import RoomView, Toast

if TYPE_CHECKING:
    from kiosk.media.workers.pool import WorkerPool

log = logging.getLogger(__name__)

_TOAST_SECONDS = 4.0
SHUTDOWN_SECONDS = 5.0
# WATCHDOG=1 goes out only while the render loop drew and the call loop drained its queue
# within this many seconds (the unit's WatchdogSec= is 20 s: a stuck kiosk restarts in ≤ 25 s).
LIVENESS_SECONDS = 5.0


class _CallBeat:
    """Put on the call loop's queue by the 1 s tick; the loop taking it is its heartbeat."""


CALL_BEAT = _CallBeat()


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
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        # One TLS context for REST and signaling, built once (not per join on the loop).
        self.tls = ssl_context_from_config(config)
        self.tokens = tokens or token_provider_from_config(config, ssl_context=self.tls)
        # The session the next token is for: session.id, or the booked meeting's (calendar).
        self.session_id = config.session.id
        self._session_tokens: dict[str, TokenProvider] = {config.session.id: self.tokens}
        self.wall_clock = wall_clock or (lambda: datetime.now(UTC))
        self.room = build_room(config, now=self.wall_clock(), clock=self.wall_clock)
        self.pir: PirSensor | None = None
        self.ice = ice or ice_settings_from_config(config)
        self.display = display or Display(display_settings_from_config(config))
        self.notifier = notifier or SystemdNotifier()
        self.clock = clock
        self.machine = m.CallMachine(machine_config_from_config(config))
        self.view_policy = view_policy_from_config(config)  # the only holder of the main view
        self.stats = KioskSnapshot()
        self.prometheus = KioskMetrics(lambda: telemetry.metrics_sample(self))
        fleet = fleet_settings_from_config(config)
        # The fleet link (MQTT), when configured: its own task, never waited on by the call.
        self.fleet = FleetClient(fleet, KioskFleetPort(self)) if fleet is not None else None
        # The live call: set by operations.join, cleared by operations.leave.
        self.client: OpenViduClient | None = None
        self.media: MediaSession | None = None
        self.local_media: LocalMedia | None = None
        self.mixer: AudioMixer | None = None
        # Media worker processes for the subscriptions (media.workers > 0): started with the
        # kiosk, used by every call's MediaSession, stopped at teardown.
        self.workers: WorkerPool | None = None
        self.renderer: Renderer | None = None
        self.buttons: Buttons | None = None
        self.leds: Leds | None = None
        self.status_server: StatusServer | None = None
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()  # set once the screen is up and the status endpoint listens
        self.exit_code = 0
        self.toasts: list[Toast] = []
        self.media_problems: list[str] = []
        self.muted: dict[MediaKind, bool] = {"audio": False, "video": False}
        self.server_reachable: bool | None = None  # what the idle screen says about the server
        self.stream_stats: dict[str, StreamStats] = {}
        self.reported: dict[str, float] = {}  # stream id -> when we last reported it stalled
        self._events: asyncio.Queue[m.Event | _CallBeat] = asyncio.Queue()
        self._tasks = OwnedTasks("task", traceback=True)
        self.liveness = Liveness(LIVENESS_SECONDS, (RENDER, CALL))
        self._watchdog_held = False  # True while WATCHDOG=1 is withheld (logged once)
        self._last_view: RoomView | None = None  # the view drawn last (who has a tile)
        self._last_tick: float | None = None
        # Logs where the loop thread is when the whole loop is blocked (counted for /metrics).
        self.stalls = LoopStallReporter()
        # Hands freed heap pages back to the OS now and then (kiosk.heap; the housekeeping tick).
        self.heap = HeapKeeper(find_trimmer(), config.media.heap_trim_seconds)
        self.operations = Operations(self)
        self.executor = Executor(self, self.operations)

    # --- plumbing ------------------------------------------------------------------------------

    @property
    def main_id(self) -> str:
        """The participant on the main view (held by the view policy)."""
        return self.view_policy.main

    def post(self, event: m.Event) -> None:
        """Hand an event to the machine (from the loop thread only)."""
        self._events.put_nowait(event)

    def post_threadsafe(self, loop: asyncio.AbstractEventLoop, event: m.Event) -> None:
        loop.call_soon_threadsafe(self.post, event)

    def post_call_beat(self) -> None:
        """Ask the call loop to show it is alive (the housekeeping tick, once a second)."""
        self._events.put_nowait(CALL_BEAT)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task of the kiosk's (:class:`~kiosk.owned_tasks.OwnedTasks`: logged if it dies)."""
        return self._tasks.spawn(coro, name)

    def keep_watchdog(self, now: float) -> None:
        """WATCHDOG=1 only while the render loop and the call loop both made progress.

        Called by the 1 s tick. A tick that comes late means the whole event loop was blocked
        (every loop looks stale then, but the call loop had no turn yet to show it runs again):
        it is judged again at the next tick. The block itself, and where the loop thread was,
        is logged by :attr:`stalls` (:mod:`kiosk.app.stalls`).
        """
        last, self._last_tick = self._last_tick, now
        if last is not None and now - last > self.liveness.interval_s:
            self.liveness.beat(CALL, now)
        stale = self.liveness.stale(now)
        if not stale:
            if self._watchdog_held:
                log.warning("watchdog: every loop makes progress again; pinging systemd")
                self._watchdog_held = False
            self.notifier.watchdog()
            return
        if not self._watchdog_held:
            self._watchdog_held = True
            log.error(
                "watchdog: no progress in the %s loop for %g s; no longer pinging systemd",
                " and ".join(stale),
                self.liveness.interval_s,
            )

    def toast(self, text: str) -> None:
        self.toasts.append(Toast(text, self.clock() + _TOAST_SECONDS))
        del self.toasts[:-4]
        log.info("toast: %s", text)

    def show_leds(self) -> None:
        if self.leds is not None:
            self.leds.show(
                call_pattern(self.machine.state), self.muted["audio"], self.muted["video"]
            )

    def on_action(self, action: Action) -> None:
        """An action from the fleet or a test (on the loop thread): :mod:`kiosk.app.actions`.
        Buttons and keys call :func:`~kiosk.app.actions.handle_action` directly."""
        actions.handle_action(self, action)

    def tokens_for_session(self) -> TokenProvider:
        """The token provider for :attr:`session_id` (made once per session)."""
        provider = self._session_tokens.get(self.session_id)
        if provider is None:
            provider = token_provider_for_session(
                self.config, self.session_id, ssl_context=self.tls
            )
            self._session_tokens[self.session_id] = provider
        return provider

    def can_join(self, session_id: str) -> bool:
        """Whether a booked meeting's session can be joined (a fixed token names one only)."""
        if session_id == self.config.session.id or can_switch_sessions(self.config):
            return True
        log.warning("calendar: cannot join session %s with a fixed server.token", session_id)
        return False

    def set_standby(self, on: bool) -> bool:
        """A remote standby (``on``) or wake; applied at the room's next step (within 1 s).
        False when this room has no standby configured."""
        if not self.room.has_standby:
            return False
        now = self.wall_clock()
        if on:
            self.room.sleep(now)
        else:
            self.room.wake(now, "remote command")
        return True

    def on_motion(self, active: bool) -> None:
        self.room.motion(active, self.wall_clock())

    def room_view(self) -> RoomView:
        """The view to draw (:mod:`kiosk.app.roomview_builder`), kept as the last one drawn:
        :meth:`_on_frame` plans which videos to receive from who has a tile in it."""
        view = roomview_builder.build_room_view(self)
        self._last_view = view
        return view

    def status(self) -> dict[str, Any]:
        return telemetry.status(self)

    def metrics_text(self) -> str:
        return telemetry.metrics_text(self)

    async def screenshot(self) -> bytes | None:
        if not self.display.is_open:
            return None
        rgb, width, height = self.display.read_rgb()  # either path: surface or SDL renderer
        return await asyncio.to_thread(encode_png, rgb, width, height)

    # --- main ----------------------------------------------------------------------------------

    def warn_weakened_security(self) -> None:
        """Weakened transport security is loud: one log line each at start, and on the screen."""
        for warning in security_warnings_from_config(self.config):
            log.warning("security: %s", warning)
            self.toast(f"Warning: {warning.split(' (')[0]}")

    async def run(self, *, duration: float | None = None) -> int:
        self.stalls.start()
        try:
            return await self._run(duration)
        finally:
            self.stalls.stop()

    async def _run(self, duration: float | None) -> int:
        loop = asyncio.get_running_loop()
        install_loop_exception_handler(loop)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.post, m.Shutdown())
        self.display.open()
        self.display.set_screensaver_allowed(False)
        self.warn_weakened_security()
        self.renderer = Renderer(
            self.display.surface, strip=self.config.display.strip, painter=self.display.painter
        )
        self._start_audio()
        await self._start_workers()
        await self._check_audio_devices()
        self._start_controls(loop)
        if self.config.status.enabled:
            self.status_server = StatusServer(
                self.config.status.listen,
                self.status,
                self.metrics_text,
                self.screenshot,
                status_options_from_config(self.config),
            )
            await self.status_server.start()  # logs where it listens, and warns when exposed
        render_stop = asyncio.Event()
        render = self.spawn(
            run_render_loop(
                self.display,
                self.room_view,
                render_stop,
                max_fps=self.config.display.max_fps,
                on_frame=self._on_frame,
                on_key=lambda key: actions.handle_key(self, key),
                on_quit=self._on_quit,
                renderer=self.renderer,
                clock=self.clock,
                strip=self.config.display.strip,
            ),
            "render",
        )
        fleet_task = self.spawn(self.fleet.run(), "fleet") if self.fleet is not None else None
        self.notifier.ready(status="screen up")
        self.ready.set()
        for loop_name in (RENDER, CALL):  # both loops start here: count from now
            self.liveness.beat(loop_name, self.clock())
        machine_task = self.spawn(self._machine_loop(), "machine")
        tick = self.spawn(housekeeping.run(self), "housekeeping")
        room = self.spawn(room_task.run(self), "room")
        if duration is not None:
            loop.call_later(duration, self.post, m.Shutdown())
        self.post(m.Start())
        try:
            await self.stop.wait()
        finally:
            self.notifier.stopping()
            render_stop.set()
            tick.cancel()
            room.cancel()
            machine_task.cancel()
            await self._stop_fleet(fleet_task)
            await self._teardown()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(render, 2)
            self.display.close()
            self.notifier.close()
        return self.exit_code

    async def _stop_fleet(self, task: asyncio.Task[None] | None) -> None:
        """Say ``offline`` on the fleet link (bounded: a dead broker does not hold the exit)."""
        if self.fleet is None or task is None:
            return
        self.fleet.stop()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 3)

    def _start_controls(self, loop: asyncio.AbstractEventLoop) -> None:
        """GPIO buttons and LEDs; where GPIO is unavailable they log one warning and do nothing."""
        specs = button_specs_from_config(self.config)
        led_specs = led_specs_from_config(self.config)
        pir = pir_spec(self.config)
        if not specs and not any(led_specs.values()) and pir is None:
            return
        # One factory for buttons and LEDs (a name would make each build its own).
        name = self.config.buttons.pin_factory
        factory: Any = name
        with contextlib.suppress(Exception):  # Buttons/Leds report it as their one warning
            factory = resolve_pin_factory(name)
        if specs:
            press = functools.partial(actions.handle_action, self)  # straight to the decision
            self.buttons = Buttons(specs, press, loop, pin_factory=factory)
        if any(led_specs.values()):
            self.leds = Leds(
                led_specs["call"],
                led_specs["muted"],
                led_specs["camera_off"],
                pin_factory=factory,
            )
            self.show_leds()
        if pir is not None:
            self.pir = PirSensor(pir, self.on_motion, loop, pin_factory=factory)

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

    async def _start_workers(self) -> None:
        settings = worker_settings_from_config(self.config)
        if settings.count > 0:
            from kiosk.media.workers.pool import WorkerPool  # only when configured (start-up)

            self.workers = WorkerPool(settings, ice=self.ice)
            await self.workers.start()

    async def _teardown(self) -> None:
        await self.executor.wind_down()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.operations.leave(), SHUTDOWN_SECONDS)
        self.operations.release_local_media()
        if self.buttons is not None:
            await asyncio.to_thread(self.buttons.close)
        if self.leds is not None:
            self.leds.close()
        if self.pir is not None:
            await asyncio.to_thread(self.pir.close)
        if self.mixer is not None:
            await self.mixer.close()
        if self.workers is not None:
            await self.workers.close()
        if self.status_server is not None:
            await self.status_server.stop()
        for task in self._tasks:
            if task.get_name() != "render":
                task.cancel()

    # --- the machine -----------------------------------------------------------------------------

    async def _machine_loop(self) -> None:
        while True:
            event = await self._events.get()
            now = self.clock()
            if isinstance(event, _CallBeat):
                self.liveness.beat(CALL, now)
                continue
            before = self.machine.state
            commands = self.machine.handle(event, now)
            if self.machine.ignored:
                log.debug("ignored %s in state %s", type(event).__name__, before)
            if self.machine.state != before:
                log.info("state %s → %s (%s)", before, self.machine.state, type(event).__name__)
                changes = self.stats.state_changes
                changes[str(self.machine.state)] = changes.get(str(self.machine.state), 0) + 1
                if self.fleet is not None:
                    self.fleet.notify_changed()
                self.notifier.status(self.machine.status_line or str(self.machine.state))
                self.show_leds()
            for command in commands:
                self.executor.execute(command)

    # --- screen callbacks ------------------------------------------------------------------------

    def _on_frame(self) -> None:
        now = self.clock()
        self.liveness.beat(RENDER, now)
        media = self.media
        view, renderer = self._last_view, self.renderer
        if media is not None and view is not None and renderer is not None and view.tiles:
            # Video only for who has a picture on screen (kiosk.media.videoplan).
            media.update_video(now, [i for i in renderer.tiled_ids(view) if i != SELF_ID])
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

    def _on_quit(self) -> None:
        if self.config.display.allow_quit:
            self.post(m.Shutdown())
