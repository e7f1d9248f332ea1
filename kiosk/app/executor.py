"""Carries out the call machine's commands: an operation (one at a time) or a timer.

Long operations (token, join, resume, leave) run as *the* operation task, each after the
previous one finished; their outcome comes back to the machine as an event — always: an
operation that ends with an error outside the KioskError tree (a bug, an unmapped library error)
or runs past its deadline is reported as a failure (``OperationFailed``, short backoff), the
first time of each kind with its traceback in the log. Retries are timers;
while a retry waits because the server was unreachable, a probe knocks on its port once a second
and retries at once when it answers (the application server's port in that mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING

from kiosk.app import machine as m
from kiosk.app.operations import Operations
from kiosk.config import ServerConfig
from kiosk.errors import KioskError, OperationFailed
from kiosk.openvidu.urls import host_port

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk

log = logging.getLogger(__name__)

PROBE_SECONDS = 1.0  # how often an unreachable server's port is tried during a backoff
EXIT_WAIT_SECONDS = 5.0
TOKEN_DEADLINE_SECONDS = 30.0  # the token request, whatever its own timeouts say
JOIN_DEADLINE_SECONDS = 45.0  # socket open + joinRoom + local media + publishing
RESUME_EXTRA_SECONDS = 10.0  # a resume may take its grace period plus this

Failure = Callable[[KioskError], m.Event]


def probe_url(server: ServerConfig) -> str:
    """The server whose answer the token depends on: the application server in that mode
    (``server.url`` may answer while it is down), else the OpenVidu server."""
    if server.token_mode == "application" and server.application_url:
        return server.application_url
    return server.url


class Executor:
    def __init__(self, kiosk: Kiosk, operations: Operations) -> None:
        self.kiosk = kiosk
        self.operations = operations
        self._op: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._probe: asyncio.Task[None] | None = None
        self._logged: set[tuple[str, str]] = set()  # (operation, error type) logged in full

    def execute(self, command: m.Command) -> None:
        k, ops = self.kiosk, self.operations
        if isinstance(command, m.FetchToken):
            self._run_op(ops.fetch_token(), "fetch-token", m.TokenFailed, TOKEN_DEADLINE_SECONDS)
        elif isinstance(command, m.JoinWithToken):
            self._run_op(ops.join(), "join", m.JoinFailed, JOIN_DEADLINE_SECONDS)
        elif isinstance(command, m.ResumeSocket):
            self._run_op(
                ops.resume(command.timeout_s),
                "resume",
                m.ResumeGaveUp,
                command.timeout_s + RESUME_EXTRA_SECONDS,
            )
        elif isinstance(command, m.LeaveCall):
            if self._op is not None and not self._op.done():
                self._op.cancel()
            self._op = k.spawn(ops.leave_and_report(), "leave")
        elif isinstance(command, m.Resubscribe):
            if k.media is not None:
                k.spawn(k.media.resubscribe(command.stream_id), "resubscribe")
        elif isinstance(command, m.Republish):
            if k.media is not None:
                k.spawn(k.media.republish(), "republish")
        elif isinstance(command, m.ScheduleRetry):
            self.cancel_retry()
            loop = asyncio.get_running_loop()
            self._retry = loop.call_later(command.delay_s, k.post, m.RetryDue(command.seq))
            if k.server_reachable is False and command.delay_s > PROBE_SECONDS:
                self._probe = k.spawn(self._retry_when_server_answers(command.seq), "probe")
        elif isinstance(command, m.CancelRetry):
            self.cancel_retry()
        elif isinstance(command, m.ReleaseMedia):
            ops.release_local_media()
        elif isinstance(command, m.Exit):
            k.exit_code = command.code
            k.spawn(self._exit_after_current_op(), "exit")

    def cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None

    async def wind_down(self) -> None:
        """At shutdown: no more retries; let the current operation finish briefly, then stop it."""
        self.cancel_retry()
        if self._op is not None and not self._op.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._op), 1.0)
            self._op.cancel()

    async def _retry_when_server_answers(self, seq: int) -> None:
        """While waiting out a backoff because the server was unreachable, knock on its port
        once a second and retry at once when it answers: after an outage the room should not
        stay dark for the rest of a 30 s backoff (measured: 23 s after quick restarts)."""
        host, port = host_port(probe_url(self.kiosk.config.server))
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), PROBE_SECONDS
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
            self.kiosk.post(m.RetryDue(seq))
            return

    async def _exit_after_current_op(self) -> None:
        """Exit comes right after LeaveCall: let that leave finish (bounded), then stop."""
        op = self._op
        if op is not None and not op.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(op), EXIT_WAIT_SECONDS)
        self.kiosk.stop.set()

    def _run_op(
        self,
        coro: Coroutine[object, object, None],
        name: str,
        failure: Failure,
        deadline_s: float,
    ) -> None:
        previous = self._op

        async def after_previous() -> None:
            if previous is not None and not previous.done():
                with contextlib.suppress(BaseException):
                    await previous
            await self._guarded(coro, name, failure, deadline_s)

        self._op = self.kiosk.spawn(after_previous(), name)

    async def _guarded(
        self,
        coro: Coroutine[object, object, None],
        name: str,
        failure: Failure,
        deadline_s: float,
    ) -> None:
        """Run one operation; whatever happens, the machine hears about it."""
        try:
            await asyncio.wait_for(coro, deadline_s)
            return
        except TimeoutError:
            error: KioskError = OperationFailed(f"{name}: no result within {deadline_s:g} s")
            log.warning("%s", error)
        except KioskError as exc:  # operations report their own; one that escaped still counts
            error = exc
            log.warning("%s: %s", name, exc)
        except Exception as exc:  # anything outside KioskError: a bug or an unmapped fault
            kind = type(exc).__name__
            error = OperationFailed(f"{name}: unexpected {kind}: {exc}")
            if (name, kind) in self._logged:
                log.error("%s", error)
            else:
                self._logged.add((name, kind))
                log.error("%s", error, exc_info=exc)
        if name == "join":  # a half-made call (client, media) must not stay behind
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.operations.leave(), EXIT_WAIT_SECONDS)
        self.kiosk.post(failure(error))
