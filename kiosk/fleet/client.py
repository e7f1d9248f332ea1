"""The fleet link: one task that keeps this room visible and controllable over MQTT.

It owns its reconnection (backoff; the phases are :class:`Phase`) and never makes the call wait:
facts are read from :class:`~kiosk.fleet.facts.KioskPort` synchronously, commands are handed to
it synchronously, and every network wait happens here, bounded by a timeout. A dead broker
changes nothing on screen. ``aiomqtt`` (paho-mqtt 2 underneath) is used only in this module; its
errors become :class:`~kiosk.errors.FleetError` lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import aiomqtt

from kiosk import __version__
from kiosk.app.backoff import Backoff
from kiosk.errors import FleetError
from kiosk.fleet.commands import (
    Command,
    CommandName,
    RateLimiter,
    Rejected,
    authorize,
    parse_command,
    result_payload,
)
from kiosk.fleet.discovery import build_discovery, encode_discovery
from kiosk.fleet.facts import KioskPort
from kiosk.fleet.settings import FleetSettings
from kiosk.fleet.state import build_state, encode_state, significant
from kiosk.fleet.topics import OFFLINE, ONLINE, Topics
from kiosk.redact import redact, register_secret
from kiosk.timeouts import wait_event

__all__ = ["FleetClient", "Phase"]

_CLOSE_SECONDS = 3.0  # DISCONNECT and the broker closing the socket, on a slow Pi
log = logging.getLogger(__name__)
# paho's own chatter (and aiomqtt's "queue is full" per message) stays out of the journal.
_LIBRARY_LOG = logging.getLogger("kiosk.fleet.mqtt")
_LIBRARY_LOG.setLevel(logging.ERROR)

_DROP_REPORT_SECONDS = 10.0


class Phase(StrEnum):
    """Where the link is in its connect / back off cycle."""

    STARTING = "starting"  # not tried yet
    CONNECTING = "connecting"  # TCP/TLS/CONNECT under way
    CONNECTED = "connected"  # online published, commands subscribed
    BACKING_OFF = "backing_off"  # waiting before the next attempt
    STOPPED = "stopped"


def _failed_code(code: object) -> bool:
    """A SUBACK entry that refuses (0x80 and up, as an int in 3.1.1 or a ReasonCode in 5)."""
    value = getattr(code, "value", code)
    return isinstance(value, int) and value >= 0x80


def _force_close(client: aiomqtt.Client) -> None:
    """Close the socket of a client whose connect or disconnect did not finish. paho's own close
    runs aiomqtt's socket-close callback, which takes the socket out of the event loop first."""
    paho = getattr(client, "_client", None)
    close = getattr(paho, "_sock_close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact(" ".join(text.split()))


class FleetClient:
    """``await FleetClient(settings, kiosk).run()`` until :meth:`stop` (or cancel)."""

    def __init__(
        self,
        settings: FleetSettings,
        kiosk: KioskPort,
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        version: str = __version__,
    ) -> None:
        self.settings = settings
        self.kiosk = kiosk
        self.clock = clock
        self.version = version
        self.topics = Topics(settings.topic_prefix, settings.discovery_prefix, settings.room_id)
        self.backoff = backoff or Backoff(
            initial=settings.backoff_initial, factor=2.0, cap=settings.backoff_cap
        )
        self.limiter = RateLimiter(settings.commands_per_second, settings.command_burst)
        self.phase = Phase.STARTING
        self.last_error: str | None = None
        self.connects = 0
        self.commands_handled = 0
        self.commands_rejected = 0
        self.states_published = 0
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._screenshot: asyncio.Task[None] | None = None
        self._last_drop_report = -1e9
        register_secret(settings.password)

    # --- what the kiosk may call ------------------------------------------------------------

    def notify_changed(self) -> None:
        """Something a console shows changed: publish the state soon instead of at the next poll."""
        self._changed.set()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def connected(self) -> bool:
        return self.phase == Phase.CONNECTED

    def status(self) -> dict[str, Any]:
        """The link's own facts for /status (never the password)."""
        return {
            "phase": str(self.phase),
            "broker": str(self.settings.broker),
            "topic_prefix": self.settings.topic_prefix,
            "last_error": self.last_error,
            "connects": self.connects,
            "commands_handled": self.commands_handled,
            "commands_rejected": self.commands_rejected,
        }

    # --- the task ----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.phase = Phase.CONNECTING
                try:
                    await self._connected_session()
                except FleetError as exc:
                    self._failed(str(exc))
                except aiomqtt.MqttError as exc:
                    self._failed(f"mqtt {self.settings.broker}: {_describe(exc)}")
                except (OSError, ssl.SSLError, TimeoutError) as exc:
                    self._failed(f"mqtt {self.settings.broker}: {_describe(exc)}")
                if self._stopping.is_set():
                    break
                self.phase = Phase.BACKING_OFF
                delay = self.backoff.next()
                await wait_event(self._stopping, delay)
        finally:
            self.phase = Phase.STOPPED
            if self._screenshot is not None:
                self._screenshot.cancel()

    def _failed(self, line: str) -> None:
        if line != self.last_error:
            log.warning("%s; retrying with backoff", line)  # once per distinct failure
        self.last_error = line

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.settings.broker.tls:
            return None
        try:
            return ssl.create_default_context(cafile=self.settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise FleetError(f"mqtt.ca_file: cannot use {self.settings.ca_file!r}: {exc}") from None

    def _new_client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.broker.host,
            s.broker.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id,
            logger=_LIBRARY_LOG,
            will=aiomqtt.Will(self.topics.availability, OFFLINE, qos=1, retain=True),
            clean_session=True,
            timeout=s.timeout,
            keepalive=s.keepalive,
            max_queued_incoming_messages=s.max_queued_messages,
            max_queued_outgoing_messages=s.max_queued_messages,
            tls_context=self._tls_context(),
        )

    async def _connected_session(self) -> None:
        client = self._new_client()
        try:
            await asyncio.wait_for(client.__aenter__(), self.settings.timeout + 5)
        except TimeoutError:
            _force_close(client)
            raise FleetError(
                f"mqtt {self.settings.broker}: no answer within {self.settings.timeout:g} s"
            ) from None
        except aiomqtt.MqttCodeError as exc:
            raise FleetError(f"mqtt {self.settings.broker}: refused: {_describe(exc)}") from None
        try:
            self._client = client
            try:
                await self._online(client)
                await self._serve(client)
            except asyncio.CancelledError:
                self._stopping.set()  # cancelled is stopped: say offline before DISCONNECT
                raise
            finally:
                self._client = None
                if self._stopping.is_set():
                    await self._say_offline(client)
        finally:
            await self._close(client)

    async def _close(self, client: aiomqtt.Client) -> None:
        """DISCONNECT, bounded: aiomqtt waits for the broker to close the socket without a limit
        (seen hanging over TLS), and a stop must end the link within seconds."""
        try:
            await asyncio.wait_for(client.__aexit__(None, None, None), _CLOSE_SECONDS)
        except TimeoutError:
            log.warning(
                "mqtt %s: no clean disconnect within %g s; closing the socket",
                self.settings.broker,
                _CLOSE_SECONDS,
            )
            _force_close(client)
        except aiomqtt.MqttError:
            _force_close(client)

    async def _online(self, client: aiomqtt.Client) -> None:
        topics, timeout = self.topics, self.settings.timeout
        wanted = [topics.commands] + ([topics.ha_status] if self.settings.discovery else [])
        for topic in wanted:
            granted = await client.subscribe(topic, qos=1, timeout=timeout)
            if any(_failed_code(code) for code in granted):
                raise FleetError(
                    f"mqtt {self.settings.broker}: not allowed to subscribe to {topic} "
                    "(check the broker's ACL for this user)"
                )
        await client.publish(topics.availability, ONLINE, qos=1, retain=True, timeout=timeout)
        if self.settings.discovery:
            await self._publish_discovery(client)
        self.phase = Phase.CONNECTED
        self.connects += 1
        self.backoff.reset()
        if self.last_error is not None or self.connects == 1:
            log.info("fleet: connected to %s as %s", self.settings.broker, topics.prefix)
        self.last_error = None

    async def _publish_discovery(self, client: aiomqtt.Client) -> None:
        payload = encode_discovery(build_discovery(self.settings, self.topics, self.version))
        await client.publish(
            self.topics.discovery, payload, qos=1, retain=True, timeout=self.settings.timeout
        )

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        # A clean DISCONNECT makes the broker drop the Will: say offline ourselves.
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await client.publish(self.topics.availability, OFFLINE, qos=1, retain=True, timeout=2)

    async def _serve(self, client: aiomqtt.Client) -> None:
        states = asyncio.ensure_future(self._state_loop(client))
        messages = asyncio.ensure_future(self._message_loop(client))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait(
                (states, messages, stopping), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (states, messages, stopping):
                task.cancel()
            await asyncio.gather(states, messages, stopping, return_exceptions=True)
        for task in (states, messages):
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    # --- state ---------------------------------------------------------------------------------

    async def _state_loop(self, client: aiomqtt.Client) -> None:
        last: dict[str, Any] | None = None
        last_at = -1e9
        while True:
            state = self._state_now()
            now = self.clock()
            if state is not None:
                sig = significant(state)
                if sig != last or now - last_at >= self.settings.state_interval:
                    await client.publish(
                        self.topics.state,
                        encode_state(state),
                        qos=1,
                        retain=True,
                        timeout=self.settings.timeout,
                    )
                    self.states_published += 1
                    last, last_at = sig, now
            self._changed.clear()
            await wait_event(self._changed, self.settings.poll_interval)
            await asyncio.sleep(0.05)  # a burst of changes is one message

    def _state_now(self) -> dict[str, Any] | None:
        try:
            return build_state(self.kiosk.facts())
        except Exception as exc:  # a bug on the kiosk side must not end the link
            log.warning("fleet: cannot read the kiosk's facts: %s", _describe(exc))
            return None

    # --- commands ------------------------------------------------------------------------------

    async def _message_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic == self.topics.ha_status:
                # Rate limited like commands: a chatty status topic cannot make us spin.
                if (
                    payload.strip() == ONLINE
                    and self.settings.discovery
                    and self.limiter.allow(self.clock())
                ):
                    log.info("fleet: Home Assistant is online: publishing discovery again")
                    await self._publish_discovery(client)
                    self.notify_changed()
                continue
            name = self.topics.command_name(topic)
            if name is None:
                continue
            if not self.limiter.allow(self.clock()):
                self._report_drops()
                continue
            await self._handle_command(client, name, payload)

    def _report_drops(self) -> None:
        now = self.clock()
        if now - self._last_drop_report >= _DROP_REPORT_SECONDS:
            self._last_drop_report = now
            dropped = self.limiter.take_dropped()
            log.warning(
                "fleet: commands over the rate limit (%g/s): %d dropped without reply",
                self.settings.commands_per_second,
                dropped,
            )

    async def _handle_command(self, client: aiomqtt.Client, name: str, payload: bytes) -> None:
        outcome = parse_command(name, payload, max_payload=self.settings.max_payload)
        if isinstance(outcome, Command):
            facts = self.kiosk.facts()
            outcome = authorize(outcome, facts, self.settings.control)
        detail: dict[str, Any] | None = None
        if isinstance(outcome, Command) and outcome.name == CommandName.SCREENSHOT:
            if self._screenshot is not None and not self._screenshot.done():
                outcome = Rejected(
                    str(outcome.name), "busy: a screenshot is on its way", outcome.request_id
                )
            else:
                self._screenshot = asyncio.ensure_future(self._send_screenshot(client, outcome))
                return  # its reply follows the picture
        if isinstance(outcome, Rejected):
            self.commands_rejected += 1
            log.warning("fleet: command %s rejected: %s", outcome.command, outcome.reason)
        else:
            self.commands_handled += 1
            log.info("fleet: command %s", outcome.name)
            try:
                self.kiosk.perform(outcome)
            except Exception as exc:  # the kiosk's bug, not the sender's
                log.warning("fleet: command %s failed: %s", outcome.name, _describe(exc))
                outcome = Rejected(
                    str(outcome.name), f"failed: {_describe(exc)}", outcome.request_id
                )
        await self._reply(client, outcome, detail)

    async def _reply(
        self, client: aiomqtt.Client, outcome: Command | Rejected, detail: dict[str, Any] | None
    ) -> None:
        await client.publish(
            self.topics.result,
            result_payload(outcome, detail=detail),
            qos=1,
            timeout=self.settings.timeout,
        )

    async def _send_screenshot(self, client: aiomqtt.Client, command: Command) -> None:
        outcome: Command | Rejected = command
        detail: dict[str, Any] | None = None
        try:
            png = await asyncio.wait_for(self.kiosk.screenshot(), 10)
            if png is None:
                outcome = Rejected(str(command.name), "no screen yet", command.request_id)
            else:
                await client.publish(
                    self.topics.screenshot, png, qos=1, timeout=self.settings.timeout
                )
                detail = {"bytes": len(png), "topic": self.topics.screenshot}
        except TimeoutError:
            outcome = Rejected(
                str(command.name), "screen busy: no picture within 10 s", command.request_id
            )
        if isinstance(outcome, Rejected):
            self.commands_rejected += 1
            log.warning("fleet: command screenshot rejected: %s", outcome.reason)
        else:
            self.commands_handled += 1
            log.info("fleet: screenshot sent (%d bytes)", detail["bytes"] if detail else 0)
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await self._reply(client, outcome, detail)
