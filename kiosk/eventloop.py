"""The event loop the entry points run on: uvloop where it is installed, else asyncio's own.

uvloop's UDP path costs a fraction of the standard loop's per datagram (~8 µs instead of
~34 µs per RTP packet measured on x86, docs/benchmarks.md), and a kiosk receiving eight
streams handles a couple of thousand packets a second on its one loop thread. Everything else
is the same asyncio API. ``KIOSK_EVENT_LOOP=asyncio`` forces the standard loop (to compare, or
to rule the loop out when chasing a fault).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def loop_factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]:
    """(name, factory) of the loop to use; factory ``None`` = asyncio's default."""
    if os.environ.get("KIOSK_EVENT_LOOP", "").strip().lower() == "asyncio":
        return "asyncio", None
    try:
        import uvloop
    except ImportError:  # not installed (or no wheel for this platform): the standard loop
        return "asyncio", None
    return "uvloop", uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on :func:`loop_factory`'s loop."""
    name, factory = loop_factory()
    log.debug("event loop: %s", name)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
