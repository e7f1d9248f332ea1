"""Main side of the media workers: start, assign, supervise, restart, stop.

:class:`WorkerPool` starts ``count`` worker processes (``python -m kiosk.media.workers.worker``,
spawned — never forked: the main process has threads), each with one end of a Unix socket pair
(passed as an inherited descriptor; nothing secret on a command line). Their sockets are read by
the main loop itself (asyncio streams, one reader task per worker) and each message is handed to
its subscription (:class:`~.remote.RemoteSubscriber`) on the loop.

Supervision: one task per worker waits for its process. A worker that ends while the pool is
open fails every subscription on it (``on_failed`` → the media session re-subscribes them with
its backoff, on the workers that are up) and is restarted after
:func:`~.assign.restart_delay` (its consecutive crashes; reset after a minute of uptime).
A subscription goes to the least-loaded live worker (:func:`~.assign.least_loaded`).

:meth:`WorkerPool.close` ends every worker: end of file on its socket (it closes its peer
connections and exits) → wait → SIGTERM → wait → SIGKILL; then unlinks every video slot still
held. Slots are created and unlinked only here (main process); names carry the kiosk's pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import kiosk
from kiosk.errors import MediaError
from kiosk.heap import resident_bytes
from kiosk.media import patches
from kiosk.media.ice import IceSettings
from kiosk.media.workers import assign
from kiosk.media.workers import messages as msg
from kiosk.media.workers.assign import WorkerSettings
from kiosk.media.workers.remote import RemoteSubscriber
from kiosk.media.workers.slots import VideoSlot
from kiosk.timeouts import wait_event

__all__ = ["WorkerHandle", "WorkerPool", "WorkerSettings"]

log = logging.getLogger(__name__)

READY_SECONDS = 30.0  # a worker's start (imports aiortc/PyAV) until it answers hello
STOP_SECONDS = 3.0  # per step of close(): EOF, then SIGTERM, then SIGKILL
STABLE_SECONDS = 60.0  # a worker up this long has its crash count reset
# The directory kiosk is imported from: the worker imports the same code.
_ROOT = str(Path(kiosk.__file__).resolve().parent.parent)


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    """One worker as /status and /metrics show it."""

    index: int
    pid: int
    ready: bool  # it answered hello
    subscriptions: int
    rss_bytes: int | None  # None: unknown (no /proc, or just gone)
    restarted: bool  # started again after it stopped


class WorkerHandle:
    """One worker process as the pool sees it."""

    def __init__(
        self, index: int, process: asyncio.subprocess.Process, *, restarted: bool = False
    ) -> None:
        self.index = index
        self.restarted = restarted  # started again after a crash
        self.process = process
        self.pid = process.pid
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.Event()  # it answered hello
        self.started_at = time.monotonic()
        self.subs: dict[int, RemoteSubscriber] = {}
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and self.writer is not None

    def send(self, message: msg.Message) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(msg.encode(message))


class WorkerPool:
    def __init__(
        self,
        settings: WorkerSettings,
        *,
        ice: IceSettings | None = None,
        marker_jitter: bool | None = None,
    ) -> None:
        current = patches.current()
        self.settings = settings
        # The worker installs what this process has installed (the entry point's patches).
        self.ice = ice if ice is not None else current.ice
        self.marker_jitter = current.marker_jitter if marker_jitter is None else marker_jitter
        self.workers: dict[int, WorkerHandle] = {}
        self.crashes: dict[int, int] = {}
        self.restarts = 0
        self._sub_ids = itertools.count(1)
        self._slots: set[VideoSlot] = set()
        self._restarts: dict[int, asyncio.TimerHandle] = {}
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def count(self) -> int:
        return self.settings.count

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers.values() if w.process.returncode is None]

    def facts(self) -> list[WorkerFacts]:
        """The live workers, by index (a stopped one is absent until it is started again)."""
        return [
            WorkerFacts(
                index=i,
                pid=w.pid,
                ready=w.ready.is_set(),
                subscriptions=len(w.subs),
                rss_bytes=resident_bytes(w.pid),
                restarted=w.restarted,
            )
            for i, w in sorted(self.workers.items())
            if w.alive
        ]

    def load(self) -> dict[int, int]:
        """Subscriptions per live worker (by index), ready or still starting."""
        return {i: len(w.subs) for i, w in self.workers.items() if w.alive}

    # --- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Launch every worker (returns once launched; each becomes ready in the background)."""
        for index in range(self.settings.count):
            await self._launch(index)

    async def _launch(self, index: int) -> None:
        if self._closed:
            return
        ours, theirs = socket.socketpair()
        fd = theirs.fileno()
        path = os.environ.get("PYTHONPATH", "")
        env = {**os.environ, "PYTHONPATH": _ROOT + (os.pathsep + path if path else "")}
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "kiosk.media.workers.worker",
                str(fd),
                pass_fds=(fd,),
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            ours.close()
            log.warning("media worker %d could not start: %s", index, exc)
            self._schedule_restart(index)
            return
        finally:
            theirs.close()
        handle = WorkerHandle(index, process, restarted=index in self.crashes)
        self.workers[index] = handle
        reader, writer = await asyncio.open_connection(sock=ours, limit=msg.MAX_FRAME + 16)
        handle.writer = writer
        handle.send(
            msg.Hello(
                index,
                list(self.ice.host_addresses),
                self.ice.loopback_only,
                self.marker_jitter,
                self.settings.max_width,
                self.settings.max_height,
            )
        )
        loop = asyncio.get_running_loop()
        handle.tasks = [
            loop.create_task(self._read(handle, reader), name=f"media-worker-{index}-read"),
            loop.create_task(self._supervise(handle), name=f"media-worker-{index}-wait"),
        ]
        log.info("media worker %d started (pid %d)", index, handle.pid)

    # --- reading ----------------------------------------------------------------------------

    async def _read(self, handle: WorkerHandle, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                body = await msg.read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # it exited (the supervisor reports it)
            except msg.BadMessage as exc:  # the framing is lost: the worker cannot be trusted
                log.warning("media worker %d: %s; stopping it", handle.index, exc)
                with contextlib.suppress(ProcessLookupError):
                    handle.process.kill()
                return
            try:
                message = msg.decode(body)
            except msg.BadMessage as exc:
                log.warning("media worker %d: %s", handle.index, exc)
                continue
            if isinstance(message, msg.Ready):
                handle.ready.set()
                self._changed.set()
                continue
            sub_id = getattr(message, "sub", None)
            sub = handle.subs.get(sub_id) if isinstance(sub_id, int) else None
            if sub is not None:
                try:
                    sub.handle(message)
                except Exception as exc:  # a callback's fault must not stop the reader
                    log.warning(
                        "media worker %d: handling %s failed: %s",
                        handle.index,
                        type(message).__name__,
                        exc,
                    )

    # --- supervision ------------------------------------------------------------------------

    async def _supervise(self, handle: WorkerHandle) -> None:
        code = await handle.process.wait()
        handle.ready.set()  # wake whoever waits for it to start: it is not alive now
        if handle.writer is not None:
            handle.writer.close()
        if self.workers.get(handle.index) is handle and not self._closed:
            del self.workers[handle.index]
        if self._closed:
            return
        why = f"media worker {handle.index} (pid {handle.pid}) stopped (exit status {code})"
        log.warning("%s; its %d subscriptions fail over", why, len(handle.subs))
        subs, handle.subs = list(handle.subs.values()), {}
        for sub in subs:
            try:
                sub.worker_stopped(why)
            except Exception as exc:
                log.warning("failing over a subscription: %s", exc)
        uptime = time.monotonic() - handle.started_at
        crashes = 1 if uptime > STABLE_SECONDS else self.crashes.get(handle.index, 0) + 1
        self.crashes[handle.index] = crashes
        self._schedule_restart(handle.index)
        self._changed.set()

    def _schedule_restart(self, index: int) -> None:
        if self._closed or index in self._restarts:
            return
        delay = assign.restart_delay(max(1, self.crashes.get(index, 1)))
        loop = asyncio.get_running_loop()

        def due() -> None:
            self._restarts.pop(index, None)
            if self._closed:
                return
            self.restarts += 1
            task = loop.create_task(self._launch(index), name=f"media-worker-{index}-start")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._restarts[index] = loop.call_later(delay, due)

    # --- subscriptions ----------------------------------------------------------------------

    def new_sub_id(self) -> int:
        return next(self._sub_ids)

    def new_slot(self) -> VideoSlot:
        slot = VideoSlot(self.settings.max_width, self.settings.max_height)
        self._slots.add(slot)
        return slot

    def release_slot(self, slot: VideoSlot) -> None:
        self._slots.discard(slot)
        slot.close()

    def subscriber(self, *args: object, **kwargs: object) -> RemoteSubscriber:
        """A :class:`RemoteSubscriber` on this pool (same arguments after ``pool``)."""
        if self._closed:
            raise MediaError("the media workers are stopped")
        return RemoteSubscriber(self, *args, **kwargs)  # type: ignore[arg-type]

    async def attach(self, sub: RemoteSubscriber) -> WorkerHandle:
        """The least-loaded live worker, with ``sub`` registered on it; waits (bounded) for
        it to be ready. A worker still starting counts: its share of the subscriptions waits
        for it rather than piling onto the first one up."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if self._closed:
                raise MediaError("the media workers are stopped")
            ready = {i for i, w in self.workers.items() if w.ready.is_set()}
            restarting = {i for i, w in self.workers.items() if w.restarted}
            index = assign.least_loaded(self.load(), ready=ready, restarting=restarting)
            if index is not None:
                handle = self.workers[index]
                handle.subs[sub.sub_id] = sub
                if not handle.ready.is_set():
                    try:
                        await asyncio.wait_for(
                            handle.ready.wait(), max(0.1, deadline - time.monotonic())
                        )
                    except TimeoutError:
                        handle.subs.pop(sub.sub_id, None)
                        raise MediaError(
                            f"media worker {index} not ready within {READY_SECONDS:g} s"
                        ) from None
                if not handle.alive:  # it died while starting (the subscription was failed)
                    raise MediaError(f"media worker {index} stopped while starting")
                return handle
            left = deadline - time.monotonic()
            if left <= 0:
                raise MediaError(f"no media worker ready within {READY_SECONDS:g} s")
            self._changed.clear()
            await wait_event(self._changed, min(left, 1.0))

    def detach(self, sub: RemoteSubscriber) -> None:
        for handle in self.workers.values():
            handle.subs.pop(sub.sub_id, None)

    # --- close ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop every worker (EOF → SIGTERM → SIGKILL, each bounded) and unlink every slot."""
        if self._closed:
            return
        self._closed = True
        self._changed.set()
        for timer in self._restarts.values():
            timer.cancel()
        self._restarts.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        handles = list(self.workers.values())
        for handle in handles:
            if handle.writer is not None:
                handle.writer.close()  # EOF: the worker closes its PCs and exits
        await asyncio.gather(*(self._stop(handle) for handle in handles))  # at once: bounded
        for handle in handles:
            for task in handle.tasks:
                task.cancel()
            for task in handle.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if handle.writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(handle.writer.wait_closed(), 1)
        self.workers.clear()
        for slot in list(self._slots):
            slot.close()
        self._slots.clear()

    async def _stop(self, handle: WorkerHandle) -> None:
        process = handle.process
        for step in ("eof", "terminate", "kill"):
            if step == "terminate":
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
            elif step == "kill":
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
                return
        log.warning("media worker %d (pid %d) did not exit", handle.index, handle.pid)
