"""The call state machine: what the kiosk should do next, decided without doing it.

Pure: no I/O, no asyncio, no clock reads. The runner feeds it :data:`Event` objects together with
the current time (``now``, any monotonic clock in seconds, e.g. ``loop.time()``) and executes the
:data:`Command` objects it returns, **in list order**. Events that make no sense in the current
state are ignored: :meth:`CallMachine.handle` returns ``[]`` and sets
:attr:`CallMachine.ignored` so that the runner can log one line. It never raises for an event.

States (:class:`CallState`): ``idle`` → ``joining`` → ``in_call`` ⇄ ``reconnecting``;
``leaving`` while a user leave (or a long-press rejoin, or shutdown) is under way; ``error``
while waiting out a *long* backoff after a fault a human must fix (wrong secret, rejected
token, untrusted certificate).

Contract with the runner (one command at a time, in order):

* ``FetchToken`` → get a new token; report :class:`TokenObtained` (keep the token yourself: it
  never passes through the machine) or :class:`TokenFailed`.
* ``JoinWithToken`` → drop any stale call client, open signaling, ``joinRoom``, publish,
  subscribe; report :class:`Joined` or :class:`JoinFailed`.
* ``ResumeSocket(timeout_s)`` → new WebSocket + ``connect`` within ``timeout_s``; report
  :class:`Resumed` or :class:`ResumeGaveUp` (also when the time is up).
* ``LeaveCall`` → abort any in-flight token/join/resume, ``leaveRoom`` if joined, close signaling
  and peer connections; bounded in time; **always** report :class:`Left` when done (even on
  failure). A later ``JoinWithToken`` must wait until that leave is finished.
* ``ScheduleRetry(delay_s, reason, seq)`` → report :class:`RetryDue` (``seq`` copied) after
  ``delay_s``. There is at most one retry timer: a new ``ScheduleRetry`` replaces the pending one.
  ``CancelRetry`` cancels it.
* ``Resubscribe(stream_id)`` / ``Republish`` → rebuild that one peer connection (§4.13), the call
  stays up.
* ``ReleaseMedia`` → stop camera and microphone capture (the kiosk is not in a call).
* ``Exit(code)`` → stop the program with that exit status.

Decisions: see the docstring of :meth:`CallMachine.handle` and docs/architecture.md.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from kiosk import errors
from kiosk.app.backoff import Backoff
from kiosk.errors import KioskError
from kiosk.redact import redact

__all__ = [
    "CallMachine",
    "CallState",
    "CancelRetry",
    "Command",
    "Event",
    "EvictedFromSession",
    "Exit",
    "FetchToken",
    "JoinAction",
    "JoinFailed",
    "JoinWithToken",
    "Joined",
    "LeaveAction",
    "LeaveCall",
    "Left",
    "MachineConfig",
    "MediaStalled",
    "PeerFailed",
    "RejoinAction",
    "ReleaseMedia",
    "Republish",
    "Resubscribe",
    "ResumeGaveUp",
    "ResumeSocket",
    "Resumed",
    "RetryDue",
    "ScheduleRetry",
    "SessionClosed",
    "Shutdown",
    "SocketLost",
    "Start",
    "TokenFailed",
    "TokenObtained",
    "describe_error",
    "server_label",
]


class CallState(StrEnum):
    IDLE = "idle"
    JOINING = "joining"
    IN_CALL = "in_call"
    RECONNECTING = "reconnecting"
    LEAVING = "leaving"
    ERROR = "error"


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """The program has started (config loaded, screen up)."""


@dataclass(frozen=True, slots=True)
class JoinAction:
    """The join/leave control: join when idle, leave when in a call, cancel an attempt."""


@dataclass(frozen=True, slots=True)
class LeaveAction:
    """Leave the call (or cancel an attempt); no automatic rejoin afterwards."""


@dataclass(frozen=True, slots=True)
class RejoinAction:
    """Long press: leave (if in a call) and join again at once."""


@dataclass(frozen=True, slots=True)
class TokenObtained:
    """``FetchToken`` succeeded. The token stays with the operations (kiosk.app.operations)."""


@dataclass(frozen=True, slots=True)
class TokenFailed:
    error: KioskError


@dataclass(frozen=True, slots=True)
class Joined:
    """``JoinWithToken`` succeeded: joinRoom answered and our media is set up."""


@dataclass(frozen=True, slots=True)
class JoinFailed:
    error: KioskError


@dataclass(frozen=True, slots=True)
class SocketLost:
    """The signaling WebSocket dropped or stopped answering pings."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Resumed:
    """``connect`` on a new socket succeeded: same RPC session, same call."""


@dataclass(frozen=True, slots=True)
class ResumeGaveUp:
    """``connect`` failed or could not be sent in time: the server dropped our RPC session."""

    error: KioskError | None = None


@dataclass(frozen=True, slots=True)
class EvictedFromSession:
    """``participantEvicted`` for ourselves."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """The session was closed by the server (e.g. ``sessionClosedByServer``)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class PeerFailed:
    """One peer connection failed: a subscription (``stream_id``) or our publisher (``None``)."""

    stream_id: str | None


@dataclass(frozen=True, slots=True)
class MediaStalled:
    """A subscribed stream stopped delivering frames."""

    stream_id: str


@dataclass(frozen=True, slots=True)
class RetryDue:
    """The timer of a ``ScheduleRetry`` fired. ``seq`` (if given) must match that command's."""

    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Shutdown:
    """SIGTERM / SIGINT / quit key."""


@dataclass(frozen=True, slots=True)
class Left:
    """``LeaveCall`` is done (successfully or not)."""


Event = (
    Start
    | JoinAction
    | LeaveAction
    | RejoinAction
    | TokenObtained
    | TokenFailed
    | Joined
    | JoinFailed
    | SocketLost
    | Resumed
    | ResumeGaveUp
    | EvictedFromSession
    | SessionClosed
    | PeerFailed
    | MediaStalled
    | RetryDue
    | Shutdown
    | Left
)

# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchToken:
    pass


@dataclass(frozen=True, slots=True)
class JoinWithToken:
    pass


@dataclass(frozen=True, slots=True)
class ResumeSocket:
    timeout_s: float


@dataclass(frozen=True, slots=True)
class LeaveCall:
    pass


@dataclass(frozen=True, slots=True)
class Resubscribe:
    stream_id: str


@dataclass(frozen=True, slots=True)
class Republish:
    pass


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    delay_s: float
    reason: str
    seq: int = 0


@dataclass(frozen=True, slots=True)
class CancelRetry:
    pass


@dataclass(frozen=True, slots=True)
class ReleaseMedia:
    pass


@dataclass(frozen=True, slots=True)
class Exit:
    code: int


Command = (
    FetchToken
    | JoinWithToken
    | ResumeSocket
    | LeaveCall
    | Resubscribe
    | Republish
    | ScheduleRetry
    | CancelRetry
    | ReleaseMedia
    | Exit
)


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """Plain settings of the state machine (mapped from the YAML config by the runner).

    ``server`` names the server in status lines: ``host:port`` or the server URL (only its
    ``host:port`` is shown; scheme, credentials and path are dropped).
    ``resume_grace_s`` is the server's reconnection grace period (§7.2: 10 s).
    ``stable_after_s``: a call that lasted this long resets the backoffs.
    """

    auto_join: bool = True
    server: str = ""
    resume_grace_s: float = 10.0
    stable_after_s: float = 30.0
    short_initial_s: float = 1.0
    short_factor: float = 2.0
    short_cap_s: float = 30.0
    long_initial_s: float = 60.0
    long_factor: float = 2.0
    long_cap_s: float = 600.0
    jitter: float = 0.2


# --- error descriptions for status lines ----------------------------------------------------


def describe_error(error: KioskError | None) -> str:
    """A few words for the screen saying what went wrong (no secrets, no URLs)."""
    if error is None:
        return "connection lost"
    if isinstance(error, errors.AuthenticationFailed):
        return "wrong secret or credentials"
    if isinstance(error, errors.TlsUntrusted):
        return "server certificate not trusted"
    if isinstance(error, errors.ServerUnreachable):
        return "server unreachable"
    if isinstance(error, errors.ServerTimeout | errors.RpcTimeout):
        return "server not answering"
    if isinstance(error, errors.ServerRejected):
        return f"server answered HTTP {error.status}"
    if isinstance(error, errors.MalformedResponse):
        return "unexpected answer from the server"
    if isinstance(error, errors.RpcError):
        if error.code == 401:
            return "token rejected"
        return f"server error {error.code}"
    if isinstance(error, errors.ResumeFailed):
        return "session expired on the server"
    if isinstance(error, errors.Evicted):
        return f"removed by the server ({error.reason or 'no reason given'})"
    if isinstance(error, errors.SignalingLost):
        return "connection lost"
    if isinstance(error, errors.DeviceUnavailable):
        return f"{error.kind} unavailable"
    if isinstance(error, errors.MediaError):
        return "media setup failed"
    text = redact(error.message)
    return text if len(text) <= 80 else text[:79] + "…"


def _advice(error: KioskError | None) -> str:
    if isinstance(error, errors.AuthenticationFailed):
        return "check the secret in the configuration"
    if isinstance(error, errors.TlsUntrusted):
        return "check the server certificate settings"
    if isinstance(error, errors.RpcError) and error.code == 401:
        return "check the session and token settings"
    return "check the configuration"


def server_label(server: str) -> str:
    """``host:port`` for status lines, from a label or a URL (scheme, credentials, path dropped).

    >>> server_label("https://admin:pw@openvidu.example.org:4443/openvidu?x=1")
    'openvidu.example.org:4443'
    """
    text = server.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    return redact(text)


_Step = Literal["none", "token", "join", "resume", "wait"]


@dataclass(slots=True)
class _Status:
    """A status line, maybe with a countdown to ``retry_at`` rendered at read time."""

    text: str
    retry_at: float | None = None
    suffix: str = ""

    def render(self, now: float | None) -> str:
        if self.retry_at is None or now is None:
            return self.text
        remaining = max(0.0, self.retry_at - now)
        when = "retrying now" if remaining < 0.5 else f"next try in {math.ceil(remaining)} s"
        return f"{self.text} — {self.suffix}{when}"


@dataclass(slots=True)
class _Flags:
    started: bool = False
    shut_down: bool = False
    was_in_call: bool = False  # this attempt is getting back into a call we had
    join_after_leave: bool = False
    retry_pending: bool = False
    pending_repairs: list[str | None] = field(default_factory=list)


class CallMachine:
    """The pure state machine. See the module docstring for the runner's side of the contract."""

    def __init__(
        self, config: MachineConfig | None = None, rng: random.Random | None = None
    ) -> None:
        self.config = c = config if config is not None else MachineConfig()
        rng = rng if rng is not None else random.Random()
        self.short_backoff = Backoff(
            c.short_initial_s, c.short_factor, c.short_cap_s, c.jitter, rng
        )
        self.long_backoff = Backoff(c.long_initial_s, c.long_factor, c.long_cap_s, c.jitter, rng)
        self._label = server_label(c.server)
        self._state = CallState.IDLE
        self._step: _Step = "none"
        self._flags = _Flags()
        self._joined_at: float | None = None
        self._resume_deadline: float | None = None
        self._retry_seq = 0
        self._now: float | None = None
        self._status = _Status("Starting")
        self.last_error: KioskError | None = None
        self.ignored = False

    # --- read-only views -----------------------------------------------------------------

    @property
    def state(self) -> CallState:
        return self._state

    @property
    def step(self) -> str:
        """What an attempt is doing: none, token, join, resume or wait (for a retry)."""
        return self._step

    @property
    def status_line(self) -> str:
        """One line for the screen, as of the last event handled."""
        return self._status.render(self._now)

    def status_line_at(self, now: float) -> str:
        """The status line with the retry countdown computed for ``now``."""
        return self._status.render(now)

    @property
    def retry_pending(self) -> bool:
        return self._flags.retry_pending

    @property
    def finished(self) -> bool:
        """True once Shutdown was handled: every later event except Shutdown is ignored."""
        return self._flags.shut_down

    def _server(self) -> str:
        return f" ({self._label})" if self._label else ""

    def _on_server(self) -> str:
        return f" {self._label}" if self._label else " the server"

    # --- the one entry point ---------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Command]:
        """Return the commands for ``event`` at time ``now``; ``[]`` (and ``ignored``) if none.

        * ``auto_join`` true: join at Start and whenever the call is lost for a reason other
          than the user leaving; false: Start → idle, a lost call → idle.
        * Socket lost → ResumeSocket within the grace period; ResumeGaveUp / EvictedFromSession /
          SessionClosed / Resumed too late → new token, new join (after a backoff delay when the
          call lasted less than ``stable_after_s``, so a flapping call never loops tightly).
        * PeerFailed / MediaStalled → Resubscribe (Republish for our own publisher) alone.
        * Token or join failures → ScheduleRetry with the short backoff, or the long one (state
          ``error``) when the error's ``retry_after_hint`` is ``"long"``. Backoffs reset after
          a call that lasted ``stable_after_s``.
        * JoinAction toggles: join when idle, leave when in a call, cancel an attempt (back to
          idle); LeaveAction leaves or cancels; RejoinAction leaves then joins at once.
        * Shutdown → LeaveCall, ReleaseMedia, Exit(0).
        """
        self._now = now
        self.ignored = False
        commands = self._dispatch(event, now)
        if commands is None:
            self.ignored = True
            return []
        return commands

    # --- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, event: Event, now: float) -> list[Command] | None:
        if isinstance(event, Shutdown):
            return self._shutdown()
        if self._flags.shut_down:
            return None
        if self._state is CallState.IN_CALL:
            self._maybe_reset_backoff(now)

        match event:
            case Start():
                return self._start()
            case JoinAction():
                return self._join_action(now)
            case LeaveAction():
                return self._leave_action()
            case RejoinAction():
                return self._rejoin_action()
            case TokenObtained():
                return self._token_obtained()
            case TokenFailed(error=err):
                return self._attempt_failed(err, now, expected_step="token")
            case Joined():
                return self._joined(now)
            case JoinFailed(error=err):
                return self._attempt_failed(err, now, expected_step="join")
            case SocketLost(reason=reason):
                return self._socket_lost(reason, now)
            case Resumed():
                return self._resumed(now)
            case ResumeGaveUp(error=err):
                return self._resume_failed(err, now)
            case EvictedFromSession(reason=reason):
                return self._removed(errors.Evicted(reason), now)
            case SessionClosed(reason=reason):
                return self._removed(errors.Evicted(reason or "session closed"), now)
            case PeerFailed(stream_id=stream_id):
                return self._repair(stream_id)
            case MediaStalled(stream_id=stream_id):
                return self._repair(stream_id)
            case RetryDue(seq=seq):
                return self._retry_due(seq)
            case Left():
                return self._left()
        return None

    # --- helpers -----------------------------------------------------------------------------

    def _set(self, state: CallState, step: _Step, status: _Status) -> None:
        self._state = state
        self._step = step
        self._status = status

    def _cancel_retry(self) -> list[Command]:
        if self._flags.retry_pending:
            self._flags.retry_pending = False
            return [CancelRetry()]
        return []

    def _maybe_reset_backoff(self, now: float) -> None:
        if self._joined_at is not None and now - self._joined_at >= self.config.stable_after_s:
            self.short_backoff.reset()
            self.long_backoff.reset()

    def _idle_status(self, prefix: str = "Not in a call") -> _Status:
        return _Status(f"{prefix} — press Join to join")

    def _begin_attempt(self, *, getting_back: bool) -> list[Command]:
        """Start a fresh token + join attempt now."""
        self._flags.was_in_call = getting_back
        self._flags.pending_repairs.clear()
        self._joined_at = None
        self._resume_deadline = None
        commands = self._cancel_retry()
        if getting_back:
            self._set(
                CallState.RECONNECTING,
                "token",
                _Status(f"Reconnecting: joining{self._on_server()} again"),
            )
        else:
            self._set(
                CallState.JOINING, "token", _Status(f"Joining: contacting{self._on_server()}")
            )
        commands.append(FetchToken())
        return commands

    def _schedule(self, delay: float, reason: str, now: float) -> ScheduleRetry:
        self._retry_seq += 1
        self._flags.retry_pending = True
        self._status.retry_at = now + delay
        return ScheduleRetry(delay_s=delay, reason=reason, seq=self._retry_seq)

    def _in_flight(self) -> bool:
        return self._state is CallState.IN_CALL or self._step in ("token", "join", "resume")

    # --- user actions ------------------------------------------------------------------------

    def _start(self) -> list[Command] | None:
        if self._flags.started:
            return None
        self._flags.started = True
        if self.config.auto_join:
            return self._begin_attempt(getting_back=False)
        self._set(CallState.IDLE, "none", self._idle_status())
        return []

    def _join_action(self, now: float) -> list[Command] | None:
        if self._state is CallState.IDLE:
            self._flags.started = True
            return self._begin_attempt(getting_back=False)
        if self._state is CallState.IN_CALL:
            return self._leave_action()
        if self._state is CallState.LEAVING:
            self._flags.join_after_leave = True
            return []
        # joining / reconnecting / error: cancel the attempt
        return self._cancel_attempt()

    def _leave_action(self) -> list[Command] | None:
        if self._state is CallState.IDLE:
            return None
        if self._state is CallState.LEAVING:
            if not self._flags.join_after_leave:
                return None
            self._flags.join_after_leave = False
            return []
        if self._state is CallState.IN_CALL:
            self._flags.join_after_leave = False
            self._set(CallState.LEAVING, "none", _Status("Leaving the call"))
            return [LeaveCall()]
        return self._cancel_attempt()

    def _cancel_attempt(self) -> list[Command]:
        commands = self._cancel_retry()
        if self._in_flight():
            commands.append(LeaveCall())
        commands.append(ReleaseMedia())
        self._joined_at = None
        self._flags.pending_repairs.clear()
        self._set(CallState.IDLE, "none", self._idle_status("Cancelled"))
        return commands

    def _rejoin_action(self) -> list[Command]:
        self._flags.started = True
        if self._state is CallState.LEAVING:
            self._flags.join_after_leave = True
            return []
        if self._in_flight():
            commands = self._cancel_retry()
            self._flags.join_after_leave = True
            self._joined_at = None
            self._set(CallState.LEAVING, "none", _Status("Rejoining: leaving the call first"))
            commands.append(LeaveCall())
            return commands
        # idle, or waiting for a retry: join at once
        return self._begin_attempt(getting_back=False)

    # --- attempt results ---------------------------------------------------------------------

    def _attempting(self) -> bool:
        return self._state in (CallState.JOINING, CallState.RECONNECTING, CallState.ERROR)

    def _token_obtained(self) -> list[Command] | None:
        if not (self._attempting() and self._step == "token"):
            return None
        self._step = "join"
        verb = "Reconnecting" if self._flags.was_in_call else "Joining"
        self._status = _Status(f"{verb}: entering the call on{self._on_server()}")
        return [JoinWithToken()]

    def _joined(self, now: float) -> list[Command] | None:
        if self._attempting() and self._step == "join":
            self.last_error = None
            self._joined_at = now
            self._flags.was_in_call = True
            self._set(CallState.IN_CALL, "none", _Status("In call"))
            return []
        if self._state is CallState.IDLE and self._flags.started:
            # A join that finished after the user cancelled it: do not stay in a call nobody
            # asked for (the runner should have aborted it; this is the safety net).
            return [LeaveCall()]
        return None

    def _attempt_failed(
        self, error: KioskError, now: float, *, expected_step: _Step
    ) -> list[Command] | None:
        if not (self._attempting() and self._step == expected_step):
            return None
        self.last_error = error
        what = describe_error(error)
        reason = f"{what}{self._server()}"
        if error.retry_after_hint == "long":
            delay = self.long_backoff.next()
            self._set(
                CallState.ERROR,
                "wait",
                _Status(f"Cannot join: {reason}", suffix=f"{_advice(error)}; "),
            )
        else:
            delay = self.short_backoff.next()
            verb = "Reconnecting" if self._flags.was_in_call else "Joining failed"
            self._set(CallState.RECONNECTING, "wait", _Status(f"{verb}: {reason}"))
        return [self._schedule(delay, what, now)]

    def _retry_due(self, seq: int | None) -> list[Command] | None:
        if not self._flags.retry_pending or self._step != "wait":
            return None
        if seq is not None and seq != self._retry_seq:
            return None  # a stale timer that was replaced or cancelled
        self._flags.retry_pending = False
        state = self._state
        self._step = "token"
        attempt = max(self.short_backoff.attempts, self.long_backoff.attempts) + 1
        if state is CallState.ERROR:
            self._status = _Status(
                f"Cannot join: {describe_error(self.last_error)}{self._server()} — trying again"
            )
        else:
            verb = "Reconnecting" if self._flags.was_in_call else "Joining"
            self._status = _Status(f"{verb}: trying{self._on_server()} again (attempt {attempt})")
        return [FetchToken()]

    # --- losing and repairing the call ------------------------------------------------------

    def _socket_lost(self, reason: str, now: float) -> list[Command] | None:
        if self._state is CallState.IN_CALL:
            self.last_error = errors.SignalingLost(
                f"connection to{self._on_server()} lost" + (f": {reason}" if reason else "")
            )
            self._resume_deadline = now + self.config.resume_grace_s
            self._set(
                CallState.RECONNECTING,
                "resume",
                _Status(f"Reconnecting: connection to{self._on_server()} lost — resuming"),
            )
            return [ResumeSocket(timeout_s=self.config.resume_grace_s)]
        if self._attempting() and self._step == "join":
            # The socket of a join in progress dropped: the join failed.
            return self._attempt_failed(
                errors.SignalingLost(f"connection to{self._on_server()} lost during join"),
                now,
                expected_step="join",
            )
        return None

    def _resumed(self, now: float) -> list[Command] | None:
        if not (self._state is CallState.RECONNECTING and self._step == "resume"):
            return None
        deadline = self._resume_deadline
        if deadline is not None and now > deadline:
            # Too late: the server's grace period is over; leave what is left and join anew.
            return self._call_lost(
                errors.ResumeFailed("resumed after the server's reconnection grace period"), now
            )
        self._resume_deadline = None
        self.last_error = None
        self._set(CallState.IN_CALL, "none", _Status("In call"))
        repairs: list[Command] = [
            Republish() if sid is None else Resubscribe(sid)
            for sid in dict.fromkeys(self._flags.pending_repairs)
        ]
        self._flags.pending_repairs.clear()
        return repairs

    def _resume_failed(self, error: KioskError | None, now: float) -> list[Command] | None:
        if not (self._state is CallState.RECONNECTING and self._step == "resume"):
            return None
        return self._call_lost(error or errors.ResumeFailed("the server dropped our session"), now)

    def _removed(self, error: KioskError, now: float) -> list[Command] | None:
        if self._state is CallState.IN_CALL or (
            self._state is CallState.RECONNECTING and self._step == "resume"
        ):
            return self._call_lost(error, now)
        if self._attempting() and self._step == "join":
            return self._attempt_failed(error, now, expected_step="join")
        return None

    def _call_lost(self, error: KioskError, now: float) -> list[Command]:
        """The call is gone (not by the user's wish): rejoin if auto_join, else go idle."""
        self.last_error = error
        lasted = (now - self._joined_at) if self._joined_at is not None else 0.0
        self._joined_at = None
        self._resume_deadline = None
        self._flags.pending_repairs.clear()
        commands: list[Command] = [*self._cancel_retry(), LeaveCall()]
        what = describe_error(error)
        if not self.config.auto_join:
            self._set(CallState.IDLE, "none", self._idle_status(f"Call ended: {what}"))
            commands.append(ReleaseMedia())
            return commands
        if lasted >= self.config.stable_after_s:
            self.short_backoff.reset()
            self.long_backoff.reset()
            commands.extend(self._begin_attempt(getting_back=True))
            self._status = _Status(f"Reconnecting: {what} — joining{self._on_server()} again")
            return commands
        # A call that did not last: wait a backoff delay so a flapping call never loops tightly.
        self._flags.was_in_call = True
        if error.retry_after_hint == "long":
            delay = self.long_backoff.next()
            self._set(
                CallState.ERROR,
                "wait",
                _Status(f"Cannot join: {what}{self._server()}", suffix=f"{_advice(error)}; "),
            )
        else:
            delay = self.short_backoff.next()
            status = _Status(f"Reconnecting: {what}{self._server()}")
            self._set(CallState.RECONNECTING, "wait", status)
        commands.append(self._schedule(delay, what, now))
        return commands

    def _repair(self, stream_id: str | None) -> list[Command] | None:
        if self._state is CallState.IN_CALL:
            return [Republish() if stream_id is None else Resubscribe(stream_id)]
        if self._state is CallState.RECONNECTING and self._step == "resume":
            self._flags.pending_repairs.append(stream_id)
            return []
        return None

    # --- leaving and shutting down ---------------------------------------------------------

    def _left(self) -> list[Command] | None:
        if self._state is not CallState.LEAVING:
            return None
        if self._flags.join_after_leave:
            self._flags.join_after_leave = False
            return self._begin_attempt(getting_back=False)
        self._set(CallState.IDLE, "none", self._idle_status())
        return [ReleaseMedia()]

    def _shutdown(self) -> list[Command]:
        if self._flags.shut_down:
            return [Exit(0)]
        commands = self._cancel_retry()
        if self._state is not CallState.IDLE or self._in_flight():
            commands.append(LeaveCall())
        commands += [ReleaseMedia(), Exit(0)]
        self._flags.shut_down = True
        self._flags.join_after_leave = False
        self._set(CallState.LEAVING, "none", _Status("Shutting down"))
        return commands
