"""wait_event never swallows a cancellation (asyncio.wait_for on Python 3.11 does)."""

from __future__ import annotations

import asyncio

import pytest

from kiosk.timeouts import wait_event

pytestmark = pytest.mark.unit


async def test_set_or_timeout() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True
    assert await wait_event(event, 0) is True  # already set


async def test_a_cancel_as_the_event_is_set_ends_the_waiting_loop() -> None:
    """The race that hung the fleet link's stop: a loop waiting on 'changed' is cancelled in the
    same loop iteration that sets 'changed'. The loop must end, not go round again."""
    changed = asyncio.Event()
    rounds = 0

    async def state_loop() -> None:
        nonlocal rounds
        while rounds < 1000:
            rounds += 1
            changed.clear()
            await wait_event(changed, 10)

    for _ in range(20):
        rounds = 0
        task = asyncio.ensure_future(state_loop())
        await asyncio.sleep(0)  # it waits
        changed.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        assert rounds == 1
