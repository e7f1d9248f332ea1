"""Server crash: kill -9 the dev server mid-call, restart it; the kiosk is back each time."""

from __future__ import annotations

from pathlib import Path

from kiosk.testing.scenarios import server_crash


async def test_kiosk_rejoins_after_server_kill9_twice(tmp_path: Path) -> None:
    out = await server_crash(2, tmp_path)
    print(out.summary())
    assert out.failures == []
    assert out.recovered == out.injected == 2
    assert (
        out.extra["joins"] == 3
    )  # the first join and one new join per crash (no session to resume)
    # Generous bound on a loaded 2-core box; typical is reported in docs/reliability.md.
    assert max(out.recover_s) < 20.0
