"""The subscription plan: cap, concurrent negotiations, no re-subscribe while pending, backoff."""

from __future__ import annotations

from kiosk.media.subscriptions import SubscriptionPlan


def _start_due(plan: SubscriptionPlan, now: float) -> list[str]:
    due = plan.due(now)
    for cid in due:
        plan.started(cid)
    return due


def test_1000_announced_streams_hold_only_the_cap_and_negotiate_a_few_at_once() -> None:
    plan = SubscriptionPlan(max_streams=8, max_negotiations=3)
    for i in range(1000):
        plan.want(f"con_{i}", f"str_{i}")
    assert plan.waiting == 992
    started: list[str] = []
    for step in range(20):
        now = float(step)
        started += _start_due(plan, now)
        assert plan.pending <= 3
        for cid in started:
            if plan.phase(cid) == "pending":
                plan.succeeded(cid)
    assert started == [f"con_{i}" for i in range(8)]  # first announced, first held
    assert plan.due(100.0) == []


def test_a_held_stream_that_leaves_lets_the_longest_waiting_one_in() -> None:
    plan = SubscriptionPlan(max_streams=2, max_negotiations=2)
    for cid in ("a", "b", "c", "d"):
        plan.want(cid, f"s_{cid}")
    assert _start_due(plan, 0) == ["a", "b"]
    plan.succeeded("a")
    plan.succeeded("b")
    plan.drop("a")
    assert plan.due(0) == ["c"] and plan.held("c") and not plan.held("d")
    assert plan.waiting == 1


def test_no_resubscribe_while_pending_and_backoff_doubles_after_failures() -> None:
    plan = SubscriptionPlan(max_streams=8, max_negotiations=3, backoff_first_s=2, backoff_max_s=7)
    plan.want("a", "s1")
    assert _start_due(plan, 0) == ["a"]
    assert not plan.may_resubscribe("a")  # pending: a stall must not start another one
    assert plan.due(0) == []
    delays = []
    now = 0.0
    for _ in range(4):
        delays.append(plan.failed("a", now))
        assert plan.due(now + delays[-1] - 0.01) == []
        now += delays[-1]
        assert _start_due(plan, now) == ["a"]
    assert delays == [2, 4, 7, 7]
    plan.succeeded("a")
    assert plan.may_resubscribe("a")
    assert plan.failed("a", now) == 2  # success reset the backoff


def test_a_new_stream_id_of_a_known_connection_starts_over_in_its_place() -> None:
    plan = SubscriptionPlan(max_streams=1, max_negotiations=1)
    plan.want("a", "s1")
    plan.want("b", "s2")
    _start_due(plan, 0)
    plan.succeeded("a")
    plan.want("a", "s1")  # the same announcement again: nothing changes
    assert plan.phase("a") == "active"
    plan.want("a", "s3")  # republished: negotiate anew, still ahead of b
    assert plan.phase("a") == "waiting" and plan.due(0) == ["a"]
