"""Microphone capture from PulseAudio/PipeWire through ``parec`` (or ``pw-record``).

The FFmpeg inside the pip-installed PyAV has no PulseAudio input (docs/audio.md), so a
``pulse:<source>`` / ``pipewire:<node>`` microphone is read from a recorder subprocess that
writes raw s16le, 48 kHz, mono to its stdout::

    parec --raw --format=s16le --rate=48000 --channels=1 --device=<source>
    pw-record --raw --format=s16 --rate=48000 --channels=1 --target=<node> -   (fallback)

:func:`open_pulse_microphone` starts the tool and waits briefly for the first audio, so a
missing tool or an unknown source becomes :class:`DeviceUnavailable` with the tool's own
one-line reason. :class:`PulseMicrophoneTrack` then hands out 20 ms frames as the data arrives
(paced by the sound server, not by a timer); at most ``max_delay_ms`` of audio is kept, older
audio is dropped rather than delayed. ``stop()`` kills the tool and closes its pipes.

``open_pulse_microphone`` is synchronous (the runner opens devices in a worker thread); the
pipes are attached to the running asyncio loop on the first ``recv()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import os
import select
import shutil
import subprocess
import time
from collections.abc import Sequence
from typing import Literal

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.errors import DeviceUnavailable
from kiosk.timeouts import wait_event

log = logging.getLogger(__name__)

SAMPLE_RATE = 48000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000
BYTES_PER_FRAME = SAMPLES_PER_FRAME * 2  # s16 mono

Tool = Literal["parec", "pw-record"]


def recorder_command(tool: Tool, executable: str, source: str) -> list[str]:
    """The argv that records ``source`` as raw s16le/48 kHz/mono to stdout.

    ``default`` means the server's default source.
    """
    default = source in ("", "default")
    if tool == "parec":
        device = "@DEFAULT_SOURCE@" if default else source
        return [
            executable,
            "--raw",
            "--format=s16le",
            f"--rate={SAMPLE_RATE}",
            "--channels=1",
            f"--device={device}",
        ]
    target = [] if default else [f"--target={source}"]
    return [
        executable,
        "--raw",
        "--format=s16",
        f"--rate={SAMPLE_RATE}",
        "--channels=1",
        *target,
        "-",
    ]


def find_recorder(prefer: Sequence[Tool] = ("parec", "pw-record")) -> tuple[Tool, str] | None:
    """The first recorder tool found on PATH, with its full path."""
    for tool in prefer:
        path = shutil.which(tool)
        if path is not None:
            return tool, path
    return None


def _last_line(data: bytes) -> str:
    lines = [" ".join(line.split()) for line in data.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:200] if lines else ""


class _PipeCollector(asyncio.Protocol):
    """Collects the recorder's stdout, keeping at most ``limit`` bytes (the newest)."""

    def __init__(self, limit: int) -> None:
        self.buffer = bytearray()
        self.limit = limit
        self.dropped = 0  # bytes dropped to bound the delay
        self.delivered = 0  # bytes handed out as frames
        self.eof = False
        self.changed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        excess = len(self.buffer) - self.limit
        if excess > 0:
            excess += excess % 2  # keep whole samples
            del self.buffer[:excess]
            self.dropped += excess
        self.changed.set()

    def eof_received(self) -> bool | None:
        self.eof = True
        self.changed.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.changed.set()


class _StderrTail(asyncio.Protocol):
    """Keeps the last line the recorder wrote to stderr (its reason when it ends)."""

    def __init__(self) -> None:
        self.tail = b""
        self.closed = False

    def data_received(self, data: bytes) -> None:
        self.tail = (self.tail + data)[-4096:]

    def eof_received(self) -> bool | None:
        self.closed = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


def _spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
    )


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


class PulseMicrophoneTrack(MediaStreamTrack):
    """Audio track fed by a running recorder process (see :func:`open_pulse_microphone`).

    When the recorder ends by itself (the sound server restarted, the source went away) the
    reason is logged and, with ``restart_delays`` (the default), it is started again after
    1 s, 2 s, 4 s … up to 10 s between attempts; ``recv()`` waits meanwhile. Only
    :meth:`stop` ends the track. With ``restart_delays=()`` the track ends with the recorder.
    """

    kind = "audio"

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        source: str,
        tool: str,
        argv: Sequence[str] = (),
        *,
        initial: bytes = b"",
        max_delay_ms: int = 200,
        restart_delays: Sequence[float] = (1.0, 2.0, 4.0, 8.0, 10.0),
    ) -> None:
        super().__init__()
        self.process = process
        self.source = source
        self.tool = tool
        self.argv = list(argv)
        self.max_delay_ms = max_delay_ms
        self.restart_delays = tuple(restart_delays) if argv else ()
        self.restarts = 0  # recorder processes started after the first
        self._initial = bytes(initial)
        self._time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sent = 0  # samples handed out
        self._stdout: _PipeCollector | None = None
        self._stderr: _StderrTail | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._attaching: asyncio.Task[None] | None = None
        self._dropped_before = 0  # bytes dropped by earlier recorder processes
        self._failures = 0  # consecutive recorder runs that ended without (much) audio
        self._dead = False  # the recorder was released and must be started again
        self._stopping = asyncio.Event()  # wakes a restart wait on stop()

    @property
    def pid(self) -> int:
        """Process id of the current recorder."""
        return self.process.pid

    @property
    def dropped_ms(self) -> float:
        """Audio dropped so far because nobody read it in time."""
        dropped = self._dropped_before + (self._stdout.dropped if self._stdout else 0)
        return dropped / 2 * 1000 / SAMPLE_RATE

    async def _attach(self) -> None:
        loop = asyncio.get_running_loop()
        process = self.process
        limit = max(BYTES_PER_FRAME, SAMPLE_RATE * 2 * self.max_delay_ms // 1000)
        collector = _PipeCollector(limit)
        if self._initial:
            collector.data_received(self._initial)
            self._initial = b""
        assert process.stdout is not None and process.stderr is not None
        transport, _ = await loop.connect_read_pipe(lambda: collector, process.stdout)
        self._transports.append(transport)
        tail = _StderrTail()
        err_transport, _ = await loop.connect_read_pipe(lambda: tail, process.stderr)
        self._transports.append(err_transport)
        self._stdout, self._stderr = collector, tail

    async def _attached(self) -> _PipeCollector:
        if self._stdout is None:
            if self._attaching is None or self._attaching.done():
                self._attaching = asyncio.ensure_future(self._attach())
            await asyncio.shield(self._attaching)
        assert self._stdout is not None
        return self._stdout

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._dead:  # a restart was interrupted (recv cancelled): go on with it
            await self._restart()
        collector = await self._attached()
        while len(collector.buffer) < BYTES_PER_FRAME:
            if self.readyState != "live":
                raise MediaStreamError
            if collector.eof:
                await self._reap(1.0)
                if self.readyState != "live":
                    raise MediaStreamError
                self._log_end(collector)
                if not self.restart_delays:
                    self.stop()
                    raise MediaStreamError
                await self._restart()
                collector = await self._attached()
                continue
            collector.changed.clear()
            await collector.changed.wait()
        chunk = bytes(collector.buffer[:BYTES_PER_FRAME])
        del collector.buffer[:BYTES_PER_FRAME]
        collector.delivered += BYTES_PER_FRAME
        samples = np.frombuffer(chunk, dtype="<i2").astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sent
        frame.time_base = self._time_base
        self._sent += SAMPLES_PER_FRAME
        return frame

    async def _reap(self, limit: float) -> None:
        """After stdout's end: wait (bounded) for the exit code and the rest of stderr."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self.readyState == "live":
            stderr_done = self._stderr is None or self._stderr.closed
            if self.process.poll() is not None and stderr_done:
                return
            await asyncio.sleep(0.02)

    def _log_end(self, collector: _PipeCollector) -> None:
        code = self.process.poll()
        reason = _last_line(self._stderr.tail) if self._stderr is not None else ""
        # a run with at least a second of audio was a working one: start the delays anew
        if collector.delivered >= SAMPLE_RATE * 2:
            self._failures = 0
        else:
            self._failures += 1
        again = ""
        if self.restart_delays:
            again = f"; starting it again in {self._next_delay():g} s"
        log.warning(
            "microphone '%s': %s ended%s%s%s",
            self.source,
            self.tool,
            f" (exit code {code})" if code is not None else "",
            f": {reason}" if reason else "",
            again,
        )

    def _next_delay(self) -> float:
        index = min(max(self._failures - 1, 0), len(self.restart_delays) - 1)
        return self.restart_delays[index]

    def _release_process(self) -> None:
        """Kill and reap the current recorder; close its pipes and transports."""
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=2.0)
        for transport in self._transports:
            transport.close()
        self._transports.clear()
        _close_pipes(process)
        if self._stdout is not None:
            self._dropped_before += self._stdout.dropped
            self._stdout.changed.set()  # wake a waiting recv()
        self._stdout = self._stderr = None
        if self._attaching is not None and not self._attaching.done():
            self._attaching.cancel()
        self._attaching = None

    async def _restart(self) -> None:
        """Start the recorder again after the next delay; retry until it starts or stop()."""
        while self.readyState == "live":
            self._release_process()
            self._dead = True
            await wait_event(self._stopping, self._next_delay())
            if self.readyState != "live":
                break
            try:
                self.process = _spawn(self.argv)
            except OSError as exc:
                self._failures += 1
                log.warning(
                    "microphone '%s': cannot start %s again: %s",
                    self.source,
                    self.tool,
                    exc.strerror or exc,
                )
                continue
            self._dead = False
            self.restarts += 1
            log.info("microphone '%s': %s started again", self.source, self.tool)
            return
        raise MediaStreamError

    def stop(self) -> None:
        """Kill the recorder and close its pipes (idempotent)."""
        super().stop()
        self._stopping.set()
        self._release_process()


def open_pulse_microphone(
    source: str,
    *,
    prefer: Sequence[Tool] = ("parec", "pw-record"),
    startup_timeout: float = 1.5,
    max_delay_ms: int = 200,
    restart_delays: Sequence[float] = (1.0, 2.0, 4.0, 8.0, 10.0),
) -> PulseMicrophoneTrack:
    """Start recording ``source``; raise DeviceUnavailable if that is not possible.

    Waits up to ``startup_timeout`` seconds for the first audio. A tool that exits before any
    audio (unknown source, no server) gives its last stderr line as the reason; a tool that
    neither exits nor delivers in time is accepted (a suspended source may start slowly).
    ``restart_delays``: see :class:`PulseMicrophoneTrack`.
    """
    source = source.strip() or "default"
    found = find_recorder(prefer)
    if found is None:
        names = " or ".join(prefer)
        raise DeviceUnavailable(
            "microphone",
            source,
            f"{names} not found (install pulseaudio-utils for parec, or pipewire-bin for "
            "pw-record)",
        )
    tool, executable = found
    argv = recorder_command(tool, executable, source)
    try:
        process = _spawn(argv)
    except OSError as exc:
        raise DeviceUnavailable(
            "microphone", source, f"{tool}: cannot start: {exc.strerror or exc}"
        ) from exc
    assert process.stdout is not None and process.stderr is not None
    fd = process.stdout.fileno()
    initial = b""
    deadline = time.monotonic() + startup_timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.info("microphone '%s': %s started, no audio yet", source, tool)
                break
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
            if ready:
                data = os.read(fd, 65536)
                if data:
                    initial = data
                    break
                # EOF: the tool is ending; collect why
                try:
                    _, err = process.communicate(timeout=2.0)
                except subprocess.TimeoutExpired:
                    process.kill()
                    _, err = process.communicate()
                reason = _last_line(err) or f"exited with code {process.returncode}"
                raise DeviceUnavailable("microphone", source, f"{tool}: {reason}")
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait()
        _close_pipes(process)
        raise
    log.info("microphone '%s': recording with %s (pid %d)", source, tool, process.pid)
    return PulseMicrophoneTrack(
        process,
        source,
        tool,
        argv,
        initial=initial,
        max_delay_ms=max_delay_ms,
        restart_delays=restart_delays,
    )
