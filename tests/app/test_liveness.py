"""WATCHDOG=1 only while both the render loop and the call loop make progress."""

from __future__ import annotations

from kiosk.app.liveness import CALL, RENDER, Liveness


def test_alive_only_while_both_loops_beat_within_the_interval() -> None:
    live = Liveness(5.0)
    assert not live.alive(0.0)  # nobody beat yet
    live.beat(RENDER, 0.0)
    assert live.stale(0.0) == [CALL]
    live.beat(CALL, 1.0)
    assert live.alive(4.0)
    for t in range(2, 20):  # the render loop keeps drawing, the call loop is stuck at t=1
        live.beat(RENDER, float(t))
    assert live.stale(6.5) == [CALL] and not live.alive(19.0)
    live.beat(CALL, 19.5)
    assert live.alive(19.5)


def test_unknown_loop_names_are_ignored() -> None:
    live = Liveness(1.0, loops=(RENDER,))
    live.beat("other", 0.0)
    live.beat(RENDER, 0.0)
    assert live.alive(0.5) and not live.alive(1.5)
