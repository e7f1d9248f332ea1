"""Fixtures of the dev server tests (helpers live in ds_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.devserver.ds_harness import Harness, running


@pytest.fixture
async def dev() -> AsyncIterator[Harness]:
    async with running(grace_seconds=0.3, close_after_leave_seconds=0.5) as harness:
        yield harness
