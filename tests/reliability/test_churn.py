"""Churn: participants come and go; the kiosk leaves and joins again. Nothing may pile up.

Dev server and bots run in child processes, so the resources measured (RSS, fds, threads,
asyncio tasks, live RTCPeerConnections) are the kiosk's alone.
"""

from __future__ import annotations

from pathlib import Path

from kiosk.testing.reliability import Resources
from kiosk.testing.scenarios import churn, rejoin_cycles


def _growth(samples: list[tuple[int, Resources]]) -> Resources:
    first, last = samples[0][1], samples[-1][1]
    return Resources(
        last.rss_kb - first.rss_kb,
        last.fds - first.fds,
        last.threads - first.threads,
        last.tasks - first.tasks,
        last.peer_connections - first.peer_connections,
    )


async def test_twenty_participants_join_and_leave_without_growth(tmp_path: Path) -> None:
    out = await churn(20, tmp_path)
    samples = out.extra["samples"]
    for i, r in samples:
        print(f"cycle {i}: {r.row()}")
    assert out.failures == []
    assert out.recovered == 20
    assert out.extra["joins"] == 1 and out.extra["reconnects"] == 0
    grow = _growth(samples)  # first sample is after cycle 0 (warm): later cycles must add nothing
    assert grow.fds <= 3, grow
    assert grow.threads <= 2, grow
    assert grow.tasks <= 3, grow
    assert grow.peer_connections <= 0, grow
    assert grow.rss_kb < 40 * 1024, grow  # 40 MiB over 19 cycles would be a leak worth a look


async def test_kiosk_leaves_and_rejoins_twenty_times_leaving_nothing_behind(tmp_path: Path) -> None:
    out = await rejoin_cycles(20, tmp_path)
    samples = out.extra["samples"]
    for i, r in samples:
        print(f"cycle {i}: {r.row()}")
    assert out.failures == []
    assert out.recovered == 20 and out.extra["joins"] == 21
    before, after = samples[0][1], samples[-1][1]
    # After the final leave no peer connection may be alive; threads and fds back to the
    # in-call level or below (the call's own are gone).
    assert after.peer_connections == 0, after
    assert after.threads <= before.threads, (before, after)
    assert after.fds <= before.fds, (before, after)
    assert after.tasks <= before.tasks, (before, after)
