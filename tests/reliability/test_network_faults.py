"""Network faults on the signaling path (TCP proxy between the kiosk and the dev server).

The kiosk's REST and WebSocket go through :class:`kiosk.testing.tcpproxy.TcpProxy`; media (UDP,
ICE on 127.0.0.1) does not, so remote video must keep flowing through every signaling fault.
Ping interval and timeout are the client's defaults (5 s / 5 s); the dev server's grace period
is 10 s and its ping watchdog 3 × 5 s.
"""

from __future__ import annotations

from kiosk.app.machine import CallState
from kiosk.testing.scenarios import NetFault, inject, proxied_call


async def test_connection_reset_is_resumed_within_the_grace_period() -> None:
    async with proxied_call() as (k, proxy, _srv):
        result = await inject(k, proxy, NetFault("reset"))
        print(result)
        assert result.detected_after is not None and result.detected_after < 1.0
        assert result.recovered_after is not None and result.recovered_after < 5.0
        assert (result.resumes, result.joins) == (1, 0)  # `connect` on a new socket, no new join
        assert result.frames_kept_flowing
        assert k.machine.state == CallState.IN_CALL


async def test_blackhole_5s_keeps_the_call() -> None:
    async with proxied_call() as (k, proxy, _srv):
        result = await inject(k, proxy, NetFault("blackhole", seconds=5.0))
        print(result)
        # Shorter than ping interval + timeout: either unnoticed or resumed — never a new join.
        assert result.joins == 0
        assert result.recovered_after is not None and result.recovered_after < 12.0
        if result.detected_after is not None:
            assert result.resumes == 1
        assert result.frames_kept_flowing
        assert k.machine.state == CallState.IN_CALL


async def test_blackhole_20s_is_detected_by_ping_timeout_and_recovers() -> None:
    async with proxied_call() as (k, proxy, _srv):
        result = await inject(k, proxy, NetFault("blackhole", seconds=20.0), recover_limit=25.0)
        print(result)
        # No pong within ping interval + timeout.
        assert result.detected_after is not None and 4.0 < result.detected_after <= 11.0
        assert result.recovered_after is not None and result.recovered_after < 5.0
        assert k.machine.state == CallState.IN_CALL
        # Short `connect` attempts repeated for 20 s resume the same participant as soon as the
        # hole ends (measured 0.2 s). Only when the server's watchdog + grace ran out first
        # (last ping 5 s before the hole) is it a new join instead: exactly one, never both.
        assert result.joins + result.resumes == 1, result


async def test_slow_link_keeps_the_call_without_reconnecting() -> None:
    async with proxied_call() as (k, proxy, _srv):
        result = await inject(
            k, proxy, NetFault("slow", seconds=8.0, latency=0.3, bytes_per_second=20_000)
        )
        print(result)
        assert result.detected_after is None  # 0.6 s round trip is well inside the ping timeout
        assert (result.joins, result.resumes) == (0, 0)
        assert result.frames_kept_flowing
        assert result.recovered_after is not None and result.recovered_after < 2.0
