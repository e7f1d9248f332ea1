"""Background tasks an object starts and nobody awaits: held so that they are not collected
mid-flight, forgotten when done, and a task that dies says so in the log (nobody else would)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

__all__ = ["OwnedTasks"]

log = logging.getLogger(__name__)


class OwnedTasks:
    """The running tasks of one owner. ``label`` names them in the log line of a task that died
    ("task", "media task"); ``traceback`` adds the exception's traceback to that line."""

    def __init__(self, label: str = "task", *, traceback: bool = False) -> None:
        self._label = label
        self._traceback = traceback
        self._running: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._running.add(task)
        task.add_done_callback(self._done)
        return task

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        """The tasks still running (a copy: cancelling while iterating is safe)."""
        return iter(list(self._running))

    def __len__(self) -> int:
        return len(self._running)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "%s %s died: %s: %s",
                self._label,
                task.get_name(),
                type(exc).__name__,
                exc,
                exc_info=exc if self._traceback else None,
            )
