"""The received frame rate /status and /metrics show per participant (kiosk.app.telemetry)."""

from __future__ import annotations

from kiosk.app.telemetry import StreamStats


def test_rate_over_each_second() -> None:
    st = StreamStats(0, 0.0)
    st.update(15, 0.5)  # under a second: not yet
    assert st.fps == 0.0
    st.update(30, 1.0)
    assert st.fps == 30.0
    st.update(45, 2.0)
    assert st.fps == 15.0


def test_a_new_subscription_counting_from_zero_is_never_a_negative_rate() -> None:
    st = StreamStats(0, 0.0)
    st.update(3000, 100.0)
    st.update(12, 101.0)  # re-subscribed: the new sink has received 12 frames
    assert st.fps == 12.0
    st.update(42, 102.0)
    assert st.fps == 30.0
