"""The call state machine: every transition, and random event sequences (hypothesis)."""

from __future__ import annotations

import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kiosk import errors
from kiosk.app.machine import (
    CallMachine,
    CallState,
    CancelRetry,
    Command,
    Event,
    EvictedFromSession,
    Exit,
    FetchToken,
    JoinAction,
    Joined,
    JoinFailed,
    JoinWithToken,
    LeaveAction,
    LeaveCall,
    Left,
    MachineConfig,
    MediaStalled,
    PeerFailed,
    RejoinAction,
    ReleaseMedia,
    Republish,
    Resubscribe,
    Resumed,
    ResumeGaveUp,
    ResumeSocket,
    RetryDue,
    ScheduleRetry,
    SessionClosed,
    Shutdown,
    SocketLost,
    Start,
    TokenFailed,
    TokenObtained,
    describe_error,
    server_label,
)

SERVER = "127.0.0.1:4443"
UNREACHABLE = errors.ServerUnreachable("127.0.0.1:4443: connection refused")
WRONG_SECRET = errors.AuthenticationFailed("POST /openvidu/api/sessions: HTTP 401")


def machine(*, auto_join: bool = True, jitter: float = 0.0) -> CallMachine:
    return CallMachine(
        MachineConfig(auto_join=auto_join, server=SERVER, jitter=jitter), random.Random(0)
    )


def state(m: CallMachine) -> CallState:
    """The state (a call, so that mypy does not narrow it across handle())."""
    return m.state


def in_call(m: CallMachine, at: float = 0.0) -> CallMachine:
    assert m.handle(Start(), at) == [FetchToken()]
    assert m.handle(TokenObtained(), at) == [JoinWithToken()]
    assert m.handle(Joined(), at) == []
    assert state(m) is CallState.IN_CALL
    return m


def retries(commands: list[Command]) -> list[ScheduleRetry]:
    return [c for c in commands if isinstance(c, ScheduleRetry)]


# --- start and joining -------------------------------------------------------------------------


def test_auto_join_joins_at_start() -> None:
    m = machine()
    assert m.handle(Start(), 0) == [FetchToken()]
    assert state(m) is CallState.JOINING
    assert SERVER in m.status_line
    assert m.handle(TokenObtained(), 0.1) == [JoinWithToken()]
    assert state(m) is CallState.JOINING
    assert m.handle(Joined(), 0.5) == []
    assert state(m) is CallState.IN_CALL
    assert m.status_line == "In call"
    assert m.last_error is None


def test_without_auto_join_start_waits_idle_for_the_user() -> None:
    m = machine(auto_join=False)
    assert m.handle(Start(), 0) == []
    assert state(m) is CallState.IDLE
    assert "press Join" in m.status_line
    assert m.handle(JoinAction(), 1) == [FetchToken()]
    assert state(m) is CallState.JOINING


def test_a_second_start_is_ignored() -> None:
    m = machine()
    m.handle(Start(), 0)
    assert m.handle(Start(), 1) == []
    assert m.ignored


def test_unreachable_server_retries_with_doubling_capped_backoff_and_says_so() -> None:
    m = machine()
    m.handle(Start(), 0)
    delays = []
    now = 0.0
    for _ in range(8):
        out = m.handle(TokenFailed(UNREACHABLE), now)
        (retry,) = retries(out)
        assert state(m) is CallState.RECONNECTING
        assert m.status_line == (
            f"Joining failed: server unreachable ({SERVER}) — next try in {retry.delay_s:g} s"
        )
        delays.append(retry.delay_s)
        now += retry.delay_s
        assert m.handle(RetryDue(retry.seq), now) == [FetchToken()]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert m.last_error is UNREACHABLE


def test_status_line_counts_down_to_the_next_try() -> None:
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenFailed(UNREACHABLE), 100.0)
    m.handle(RetryDue(), 101.0)
    m.handle(TokenFailed(UNREACHABLE), 101.0)  # 2 s
    m.handle(RetryDue(), 103.0)
    m.handle(TokenFailed(UNREACHABLE), 103.0)  # 4 s
    m.handle(RetryDue(), 107.0)
    (retry,) = retries(m.handle(TokenFailed(UNREACHABLE), 107.0))
    assert retry.delay_s == 8
    assert m.status_line.endswith("next try in 8 s")
    assert m.status_line_at(110.2).endswith("next try in 5 s")
    assert m.status_line_at(115.0).endswith("retrying now")


def test_wrong_secret_gives_a_long_backoff_and_a_clear_error() -> None:
    m = machine()
    m.handle(Start(), 0)
    (retry,) = retries(m.handle(TokenFailed(WRONG_SECRET), 0.2))
    assert retry.delay_s == 60
    assert state(m) is CallState.ERROR
    assert "wrong secret" in m.status_line
    assert "check the secret" in m.status_line
    assert SERVER in m.status_line
    assert m.handle(RetryDue(retry.seq), 60.2) == [FetchToken()]
    assert state(m) is CallState.ERROR
    (retry,) = retries(m.handle(TokenFailed(WRONG_SECRET), 60.5))
    assert retry.delay_s == 120
    delays = []
    for i in range(6):
        m.handle(RetryDue(retry.seq), 1000.0 * (i + 1))
        (retry,) = retries(m.handle(TokenFailed(WRONG_SECRET), 1000.0 * (i + 1)))
        delays.append(retry.delay_s)
    assert delays == [240, 480, 600, 600, 600, 600]


@pytest.mark.parametrize(
    ("error", "state", "delay"),
    [
        (errors.RpcError("joinRoom", 401, "Token invalid"), CallState.ERROR, 60),
        (errors.RpcError("joinRoom", 500, "boom"), CallState.RECONNECTING, 1),
        (errors.RpcTimeout("joinRoom", 10), CallState.RECONNECTING, 1),
        (errors.SignalingLost("wss://127.0.0.1:4443/openvidu: refused"), CallState.RECONNECTING, 1),
        (errors.TlsUntrusted("127.0.0.1:4443: self-signed"), CallState.ERROR, 60),
        (errors.MediaError("publishVideo: no answer"), CallState.RECONNECTING, 1),
    ],
)
def test_join_failures_back_off_by_their_retry_hint(
    error: errors.KioskError, state: CallState, delay: float
) -> None:
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenObtained(), 0)
    (retry,) = retries(m.handle(JoinFailed(error), 1))
    assert (m.state, retry.delay_s) == (state, delay)
    assert m.last_error is error


@pytest.mark.parametrize(("status", "delay"), [(503, 1), (500, 1), (404, 1), (400, 60), (403, 60)])
def test_http_status_decides_short_or_long_backoff(status: int, delay: float) -> None:
    m = machine()
    m.handle(Start(), 0)
    err = errors.ServerRejected(f"POST /openvidu/api/sessions: HTTP {status}", status=status)
    (retry,) = retries(m.handle(TokenFailed(err), 0))
    assert retry.delay_s == delay
    assert f"HTTP {status}" in m.status_line


def test_stale_or_unexpected_retry_timers_are_ignored() -> None:
    m = machine()
    m.handle(Start(), 0)
    assert m.handle(RetryDue(), 0.5) == []  # nothing scheduled
    assert m.ignored
    (first,) = retries(m.handle(TokenFailed(UNREACHABLE), 1))
    assert m.handle(RetryDue(first.seq + 7), 2) == []
    assert m.ignored
    assert m.handle(RetryDue(first.seq), 2) == [FetchToken()]
    assert m.handle(RetryDue(first.seq), 2.1) == []  # fired once


def test_results_for_another_step_are_ignored() -> None:
    m = machine()
    m.handle(Start(), 0)
    assert m.handle(Joined(), 0) == []  # no token yet
    assert m.ignored
    assert m.handle(JoinFailed(UNREACHABLE), 0) == []
    assert state(m) is CallState.JOINING
    m.handle(TokenObtained(), 0)
    assert m.handle(TokenFailed(UNREACHABLE), 0) == []
    assert m.handle(TokenObtained(), 0) == []
    assert state(m) is CallState.JOINING


def test_backoff_resets_after_a_call_that_lasted() -> None:
    m = machine()
    m.handle(Start(), 0)
    for t in (0, 1, 3):
        m.handle(TokenFailed(UNREACHABLE), t)
        m.handle(RetryDue(), t + 1)
    m.handle(TokenObtained(), 8)
    m.handle(Joined(), 8)
    # call lasts 40 s, then the session is lost: rejoin at once, and the next failure is 1 s
    assert m.handle(SocketLost("ping timeout"), 48) == [ResumeSocket(10.0)]
    out = m.handle(ResumeGaveUp(), 50)
    assert out == [LeaveCall(), FetchToken()]
    (retry,) = retries(m.handle(TokenFailed(UNREACHABLE), 51))
    assert retry.delay_s == 1


def test_backoff_continues_when_the_call_did_not_last() -> None:
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenFailed(UNREACHABLE), 0)  # 1
    m.handle(RetryDue(), 1)
    m.handle(TokenFailed(UNREACHABLE), 1)  # 2
    m.handle(RetryDue(), 3)
    m.handle(TokenObtained(), 3)
    m.handle(Joined(), 3)
    out = m.handle(EvictedFromSession("networkDisconnect"), 8)  # lasted 5 s
    assert out[0] == LeaveCall()
    (retry,) = retries(out)
    assert retry.delay_s == 4
    assert state(m) is CallState.RECONNECTING
    assert "removed by the server (networkDisconnect)" in m.status_line


@pytest.mark.parametrize(
    "loss", [[EvictedFromSession("networkDisconnect")], [SocketLost(""), ResumeGaveUp()]]
)
def test_a_flapping_call_never_rejoins_in_a_tight_loop(loss: list[Event]) -> None:
    m = in_call(machine(), at=0)
    now = 0.0
    delays = []
    for _ in range(8):
        now += 0.5  # the call drops half a second after each join
        out: list[Command] = []
        for e in loss:
            out = m.handle(e, now)
        assert FetchToken() not in out
        (retry,) = retries(out)
        delays.append(retry.delay_s)
        now += retry.delay_s
        assert m.handle(RetryDue(retry.seq), now) == [FetchToken()]
        m.handle(TokenObtained(), now)
        m.handle(Joined(), now)
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


# --- socket loss, resume, eviction -------------------------------------------------------------


def test_socket_loss_resumes_the_same_call() -> None:
    m = in_call(machine())
    assert m.handle(SocketLost("ping timeout"), 5) == [ResumeSocket(timeout_s=10.0)]
    assert state(m) is CallState.RECONNECTING
    assert "resuming" in m.status_line
    assert m.handle(SocketLost("again"), 6) == []  # already resuming
    assert m.handle(Resumed(), 8) == []
    assert state(m) is CallState.IN_CALL
    assert m.last_error is None


def test_resume_after_the_grace_period_is_too_late_and_joins_anew() -> None:
    m = in_call(machine(), at=0)
    m.handle(SocketLost(""), 100)
    out = m.handle(Resumed(), 111)
    assert out == [LeaveCall(), FetchToken()]
    assert state(m) is CallState.RECONNECTING
    assert isinstance(m.last_error, errors.ResumeFailed)


def test_failed_resume_takes_a_new_token_and_joins_again() -> None:
    m = in_call(machine(), at=0)
    m.handle(SocketLost("closed"), 60)
    assert m.handle(ResumeGaveUp(errors.ResumeFailed("connect: 40007")), 61) == [
        LeaveCall(),
        FetchToken(),
    ]
    assert state(m) is CallState.RECONNECTING
    assert m.handle(TokenObtained(), 62) == [JoinWithToken()]
    assert "Reconnecting" in m.status_line
    assert m.handle(Joined(), 63) == []
    assert state(m) is CallState.IN_CALL


@pytest.mark.parametrize(
    "event", [EvictedFromSession("forceDisconnectByServer"), SessionClosed("sessionClosedByServer")]
)
def test_server_removing_us_rejoins_with_auto_join(event: Event) -> None:
    m = in_call(machine(), at=0)
    assert m.handle(event, 100) == [LeaveCall(), FetchToken()]
    assert state(m) is CallState.RECONNECTING
    assert isinstance(m.last_error, errors.Evicted)


@pytest.mark.parametrize(
    "events",
    [
        [EvictedFromSession("forceDisconnectByUser")],
        [SessionClosed("")],
        [SocketLost(""), ResumeGaveUp()],
        [SocketLost(""), EvictedFromSession("networkDisconnect")],
    ],
)
def test_lost_call_without_auto_join_goes_idle(events: list[Event]) -> None:
    m = machine(auto_join=False)
    m.handle(JoinAction(), 0)
    m.handle(TokenObtained(), 0)
    m.handle(Joined(), 0)
    out: list[Command] = []
    for e in events:
        out = m.handle(e, 100)
    assert out == [LeaveCall(), ReleaseMedia()]
    assert state(m) is CallState.IDLE
    assert m.status_line.startswith("Call ended")
    assert m.handle(RetryDue(), 200) == []


def test_one_failed_peer_is_repaired_alone_without_leaving() -> None:
    m = in_call(machine())
    assert m.handle(PeerFailed("str_CAM_abc"), 1) == [Resubscribe("str_CAM_abc")]
    assert m.handle(PeerFailed(None), 2) == [Republish()]
    assert m.handle(MediaStalled("str_CAM_def"), 3) == [Resubscribe("str_CAM_def")]
    assert state(m) is CallState.IN_CALL


def test_peers_failing_while_resuming_are_repaired_after_resume() -> None:
    m = in_call(machine())
    m.handle(SocketLost(""), 1)
    assert m.handle(PeerFailed("s1"), 2) == []
    assert m.handle(MediaStalled("s1"), 2) == []
    assert m.handle(PeerFailed(None), 3) == []
    assert m.handle(Resumed(), 4) == [Resubscribe("s1"), Republish()]


def test_socket_lost_during_join_is_a_failed_join() -> None:
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenObtained(), 0)
    (retry,) = retries(m.handle(SocketLost("reset"), 1))
    assert retry.delay_s == 1
    assert state(m) is CallState.RECONNECTING


def test_peer_events_outside_a_call_are_ignored() -> None:
    m = machine(auto_join=False)
    m.handle(Start(), 0)
    for e in (
        PeerFailed("x"),
        MediaStalled("x"),
        SocketLost(""),
        Resumed(),
        ResumeGaveUp(),
        EvictedFromSession(""),
    ):
        assert m.handle(e, 1) == []
        assert m.ignored
        assert state(m) is CallState.IDLE


# --- user actions ------------------------------------------------------------------------------


def test_user_leave_goes_idle_and_stays_there() -> None:
    m = in_call(machine())
    assert m.handle(LeaveAction(), 50) == [LeaveCall()]
    assert state(m) is CallState.LEAVING
    assert m.handle(Left(), 51) == [ReleaseMedia()]
    assert state(m) is CallState.IDLE
    assert "press Join" in m.status_line
    for e in (
        RetryDue(),
        EvictedFromSession(""),
        SessionClosed(""),
        SocketLost(""),
        Left(),
        LeaveAction(),
    ):
        assert m.handle(e, 200) == []
    assert state(m) is CallState.IDLE


def test_join_leave_toggles_in_a_call_and_joins_from_idle() -> None:
    m = in_call(machine())
    assert m.handle(JoinAction(), 1) == [LeaveCall()]
    m.handle(Left(), 2)
    assert m.handle(JoinAction(), 3) == [FetchToken()]
    assert state(m) is CallState.JOINING


@pytest.mark.parametrize("action", [JoinAction(), LeaveAction()])
def test_join_leave_cancels_an_attempt_in_flight(action: Event) -> None:
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenObtained(), 0)
    assert m.handle(action, 1) == [LeaveCall(), ReleaseMedia()]
    assert state(m) is CallState.IDLE
    assert m.status_line.startswith("Cancelled")
    # a late result of the cancelled join: do not stay in a call nobody wants
    assert m.handle(Joined(), 2) == [LeaveCall()]
    assert state(m) is CallState.IDLE
    assert m.handle(Left(), 3) == []


def test_join_leave_cancels_a_pending_retry_and_a_resume() -> None:
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenFailed(UNREACHABLE), 0)
    assert m.handle(JoinAction(), 0.5) == [CancelRetry(), ReleaseMedia()]
    assert state(m) is CallState.IDLE
    assert m.handle(RetryDue(), 1) == []

    m = in_call(machine())
    m.handle(SocketLost(""), 1)
    assert m.handle(JoinAction(), 2) == [LeaveCall(), ReleaseMedia()]
    assert state(m) is CallState.IDLE
    assert m.handle(Resumed(), 3) == []


def test_join_leave_in_error_state_stops_retrying() -> None:
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenFailed(WRONG_SECRET), 0)
    assert state(m) is CallState.ERROR
    assert m.handle(JoinAction(), 5) == [CancelRetry(), ReleaseMedia()]
    assert state(m) is CallState.IDLE


def test_rejoin_in_a_call_leaves_then_joins_at_once() -> None:
    m = in_call(machine())
    assert m.handle(RejoinAction(), 5) == [LeaveCall()]
    assert state(m) is CallState.LEAVING
    assert m.handle(Left(), 6) == [FetchToken()]
    assert state(m) is CallState.JOINING


def test_rejoin_while_waiting_or_idle_tries_at_once() -> None:
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenFailed(WRONG_SECRET), 0)
    assert m.handle(RejoinAction(), 3) == [CancelRetry(), FetchToken()]
    assert state(m) is CallState.JOINING
    m = machine(auto_join=False)
    m.handle(Start(), 0)
    assert m.handle(RejoinAction(), 1) == [FetchToken()]


def test_join_pressed_while_leaving_joins_after_the_leave() -> None:
    m = in_call(machine())
    m.handle(LeaveAction(), 1)
    assert m.handle(JoinAction(), 1.5) == []
    assert m.handle(Left(), 2) == [FetchToken()]
    m = in_call(machine())
    m.handle(RejoinAction(), 1)
    assert m.handle(LeaveAction(), 1.5) == []  # changed their mind: just leave
    assert m.handle(Left(), 2) == [ReleaseMedia()]
    assert state(m) is CallState.IDLE


# --- shutdown ----------------------------------------------------------------------------------


def test_shutdown_in_a_call_leaves_releases_and_exits() -> None:
    m = in_call(machine())
    assert m.handle(Shutdown(), 1) == [LeaveCall(), ReleaseMedia(), Exit(0)]
    assert m.finished
    assert m.status_line == "Shutting down"
    assert m.handle(EvictedFromSession(""), 2) == []
    assert m.handle(JoinAction(), 2) == []
    assert m.handle(Shutdown(), 3) == [Exit(0)]


def test_shutdown_when_idle_or_waiting() -> None:
    m = machine(auto_join=False)
    m.handle(Start(), 0)
    assert m.handle(Shutdown(), 1) == [ReleaseMedia(), Exit(0)]
    m = machine()
    m.handle(Start(), 0)
    m.handle(TokenFailed(UNREACHABLE), 0)
    assert m.handle(Shutdown(), 0.5) == [CancelRetry(), LeaveCall(), ReleaseMedia(), Exit(0)]


def test_describe_error_never_shows_secrets() -> None:
    err = errors.KioskError("unexpected: tok_AbCdEfGh1234 secret=MY_SECRET")
    text = describe_error(err)
    assert "tok_AbCdEfGh1234" not in text
    assert "MY_SECRET" not in text


# --- random sequences --------------------------------------------------------------------------

ERRORS = [
    errors.ServerUnreachable("127.0.0.1:4443: refused"),
    errors.ServerTimeout("127.0.0.1:4443: no answer in 10 s"),
    errors.AuthenticationFailed("POST /openvidu/api/sessions: HTTP 401"),
    errors.TlsUntrusted("127.0.0.1:4443: certificate not trusted"),
    errors.ServerRejected("POST /openvidu/api/sessions: HTTP 503", status=503),
    errors.ServerRejected("POST /openvidu/api/sessions: HTTP 400", status=400),
    errors.RpcError("joinRoom", 401, "token invalid"),
    errors.RpcError("joinRoom", 500, "internal"),
    errors.RpcTimeout("joinRoom", 10),
    errors.SignalingLost("wss://127.0.0.1:4443/openvidu: closed"),
    errors.MediaError("publishVideo: ICE failed"),
    errors.KioskError("something else"),
]
EVENTS = st.one_of(
    st.sampled_from(
        [
            Start(),
            JoinAction(),
            LeaveAction(),
            RejoinAction(),
            TokenObtained(),
            Joined(),
            SocketLost("ping timeout"),
            Resumed(),
            ResumeGaveUp(),
            EvictedFromSession("networkDisconnect"),
            SessionClosed(""),
            PeerFailed(None),
            RetryDue(),
            Left(),
        ]
    ),
    st.builds(TokenFailed, st.sampled_from(ERRORS)),
    st.builds(JoinFailed, st.sampled_from(ERRORS)),
    st.builds(PeerFailed, st.text(min_size=1, max_size=8)),
    st.builds(MediaStalled, st.text(min_size=1, max_size=8)),
    st.builds(RetryDue, st.integers(0, 50)),
)
USER_OR_TIMER = (Start, JoinAction, RejoinAction, RetryDue, Left)
DT = st.sampled_from([0.0, 0.0, 0.0, 0.3, 2.0, 9.0, 11.0, 31.0, 120.0, 700.0])


class RandomEvents(RuleBasedStateMachine):
    """Any event in any order: never raises, always a valid state, never a tight retry loop."""

    @initialize(auto_join=st.sampled_from([True, True, True, False]), seed=st.integers(0, 2**32))
    def setup(self, auto_join: bool, seed: int) -> None:
        self.m = CallMachine(MachineConfig(auto_join=auto_join, server=SERVER), random.Random(seed))
        self.now = 0.0
        self.last_fetch: float | None = None
        self.pending: ScheduleRetry | None = None
        self.pending_at = 0.0
        self.shut = False

    def feed(self, event: Event) -> list[Command]:
        state_before = self.m.state
        out = self.m.handle(event, self.now)
        assert isinstance(out, list)
        for cmd in out:
            if isinstance(cmd, ScheduleRetry):
                assert 1.0 <= cmd.delay_s <= 600.0
                error = getattr(event, "error", None)
                if isinstance(error, errors.KioskError) and error.retry_after_hint == "long":
                    assert cmd.delay_s >= 60.0
                    assert self.m.state is CallState.ERROR
                self.pending, self.pending_at = cmd, self.now
            elif isinstance(cmd, CancelRetry):
                self.pending = None
            elif isinstance(cmd, FetchToken):
                if not isinstance(event, USER_OR_TIMER) and self.last_fetch is not None:
                    # automatic rejoin only after a call that lasted: never a tight loop
                    assert self.now - self.last_fetch >= 30.0, (event, state_before)
                self.last_fetch = self.now
        if isinstance(event, Shutdown):
            assert out and out[-1] == Exit(0)
            self.shut = True
        elif self.shut:
            assert out == []
        if any(isinstance(c, Exit) for c in out):
            assert isinstance(event, Shutdown)
        return out

    @rule(event=EVENTS, dt=DT)
    def any_event(self, event: Event, dt: float) -> None:
        self.now += dt
        self.feed(event)

    @rule(
        event=st.sampled_from([Start(), JoinAction(), RejoinAction(), LeaveAction(), Left()]),
        dt=DT,
    )
    def user_acts(self, event: Event, dt: float) -> None:
        self.now += dt
        self.feed(event)

    @rule(dt=DT)
    def attempt_succeeds(self, dt: float) -> None:
        """What a working server (and a user who wants a call) does next: steers into calls."""
        self.now += dt
        step, current = self.m.step, self.m.state
        successes: dict[str, Event] = {
            "token": TokenObtained(),
            "join": Joined(),
            "resume": Resumed(),
            "wait": RetryDue(),
        }
        event = successes.get(step, Left() if current is CallState.LEAVING else JoinAction())
        if current is not CallState.IN_CALL:
            self.feed(event)

    @rule(error=st.sampled_from(ERRORS), dt=DT, lost=st.booleans())
    def attempt_fails(self, error: errors.KioskError, dt: float, lost: bool) -> None:
        """What a failing server would answer next."""
        self.now += dt
        step = self.m.step
        event: Event
        if step == "token":
            event = TokenFailed(error)
        elif step == "join":
            event = JoinFailed(error)
        elif step == "resume":
            event = ResumeGaveUp(error)
        else:
            event = SocketLost("ping timeout") if lost else EvictedFromSession("networkDisconnect")
        self.feed(event)

    @precondition(lambda self: self.pending is not None)
    @rule()
    def timer_fires(self) -> None:
        assert self.pending is not None
        self.now = max(self.now, self.pending_at + self.pending.delay_s)
        seq = self.pending.seq
        self.pending = None
        self.feed(RetryDue(seq))

    @rule(dt=st.floats(0, 5), roll=st.integers(0, 9))
    def shutdown(self, dt: float, roll: int) -> None:
        # rare, since everything after it is ignored; every run also ends with one (teardown)
        if roll == 0:
            self.now += dt
            self.feed(Shutdown())

    def teardown(self) -> None:
        if hasattr(self, "m"):
            self.now += 1
            assert self.feed(Shutdown())[-1] == Exit(0)

    @invariant()
    def state_is_valid(self) -> None:
        assert self.m.state in set(CallState)
        line = self.m.status_line
        assert line and "\n" not in line
        assert "tok_" not in line


RandomEvents.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_random_event_sequences = RandomEvents.TestCase


@pytest.mark.parametrize(
    ("server", "label"),
    [
        ("https://127.0.0.1:4443", "127.0.0.1:4443"),
        ("https://OPENVIDUAPP:s3cr3t@ov.example.org:4443/openvidu/?x=1", "ov.example.org:4443"),
        ("127.0.0.1:4443", "127.0.0.1:4443"),
        ("", ""),
    ],
)
def test_status_lines_name_the_server_by_host_and_port_only(server: str, label: str) -> None:
    assert server_label(server) == label
    m = CallMachine(MachineConfig(server=server), random.Random(0))
    m.handle(Start(), 0)
    m.handle(TokenFailed(UNREACHABLE), 0)
    assert "s3cr3t" not in m.status_line
    assert "OPENVIDUAPP" not in m.status_line
    if label:
        assert f"server unreachable ({label})" in m.status_line
    else:
        assert "server unreachable —" in m.status_line
