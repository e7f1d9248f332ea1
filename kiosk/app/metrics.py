"""``/metrics`` in the Prometheus text format, written by ``prometheus_client``.

The kiosk's own :class:`~prometheus_client.CollectorRegistry` (never the library's global one)
holds one collector that reads a :class:`KioskSample` at scrape time, plus the library's
process collector (``process_resident_memory_bytes``, CPU seconds, ``process_open_fds``) and
``process_threads`` (threads of this process; the library's collector leaves it out). Building
the series from the sample at each scrape means a participant's series exist exactly while the
participant does: when they leave, their series are gone from the next scrape. Every series has
HELP and TYPE; counters end in ``_total`` (the library adds it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:  # the pool is imported only where media workers are configured
    from kiosk.media.workers.pool import WorkerFacts

__all__ = ["CALL_STATES", "KioskMetrics", "KioskSample", "StreamSample"]

CALL_STATES = ("idle", "joining", "in_call", "reconnecting", "leaving", "error")
_MAX_LABEL = 64


@dataclass(frozen=True, slots=True)
class StreamSample:
    """One remote participant as the room receives them."""

    connection_id: str
    participant: str  # display name
    frames_received: int = 0
    fps: float = 0.0
    level_dbfs: float | None = None  # None: no audio from them
    speaking: bool = False


@dataclass(frozen=True, slots=True)
class KioskSample:
    state: str
    uptime_seconds: float = 0.0
    joins: int = 0
    reconnects: int = 0
    resumes: int = 0
    join_seconds: float | None = None  # join request → first remote frame, last join
    streams: tuple[StreamSample, ...] = ()
    render: Mapping[str, int] = field(default_factory=dict)  # RenderStats: counts since start
    state_changes: Mapping[str, int] = field(default_factory=dict)  # entered state → times
    fleet_connected: bool | None = None  # None: the fleet link is off
    display_on: bool = True  # False in standby
    calendar_ok: bool | None = None  # None: no calendar configured
    loop_stalls: int = 0  # times the event loop was blocked > 1 s (kiosk.app.stalls)
    loop_stall_longest_seconds: float = 0.0
    heap_trims: int = 0  # kiosk.heap: malloc_trim calls, and RSS they gave back
    heap_trim_released_bytes: int = 0
    workers_configured: int = 0  # media.workers (0: none)
    worker_restarts: int = 0
    workers: tuple[WorkerFacts, ...] = ()  # the live ones


def _worker_metrics(s: KioskSample) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "kiosk_media_workers_configured", "Media worker processes configured", s.workers_configured
    )
    yield GaugeMetricFamily(
        "kiosk_media_workers_alive", "Media worker processes running", value=len(s.workers)
    )
    yield CounterMetricFamily(
        "kiosk_media_worker_restarts",
        "Media worker processes started again after one stopped",
        value=s.worker_restarts,
    )
    subs = GaugeMetricFamily(
        "kiosk_media_worker_subscriptions",
        "Subscriptions a media worker holds",
        labels=["worker"],
    )
    rss = GaugeMetricFamily(
        "kiosk_media_worker_resident_memory_bytes",
        "Resident memory of a media worker process",
        labels=["worker"],
    )
    for w in s.workers:
        subs.add_metric([str(w.index)], float(w.subscriptions))
        if w.rss_bytes is not None:
            rss.add_metric([str(w.index)], float(w.rss_bytes))
    yield subs
    yield rss


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text[:_MAX_LABEL]


class _KioskCollector(Collector):
    def __init__(self, sample: Callable[[], KioskSample]) -> None:
        self._sample = sample

    def collect(self) -> Iterator[Metric]:
        s = self._sample()
        yield GaugeMetricFamily(
            "kiosk_in_call", "1 while the kiosk is in a call", value=float(s.state == "in_call")
        )
        state = GaugeMetricFamily(
            "kiosk_state",
            "1 for the call state the kiosk is in, 0 for the others",
            labels=["state"],
        )
        for name in CALL_STATES:
            state.add_metric([name], float(s.state == name))
        yield state
        yield GaugeMetricFamily(
            "kiosk_uptime_seconds", "Seconds since the kiosk started", value=s.uptime_seconds
        )
        yield CounterMetricFamily("kiosk_joins", "Calls joined since start", value=s.joins)
        yield CounterMetricFamily(
            "kiosk_reconnects", "Signaling connections lost since start", value=s.reconnects
        )
        yield CounterMetricFamily(
            "kiosk_resumes", "Calls resumed after a lost connection", value=s.resumes
        )
        yield CounterMetricFamily(
            "kiosk_loop_stalls",
            "Times the event loop was blocked for more than 1 s",
            value=s.loop_stalls,
        )
        yield GaugeMetricFamily(
            "kiosk_loop_stall_longest_seconds",
            "Longest time the event loop was blocked since start",
            value=s.loop_stall_longest_seconds,
        )
        yield CounterMetricFamily(
            "kiosk_heap_trims",
            "Times freed heap memory was handed back to the OS",
            value=s.heap_trims,
        )
        yield CounterMetricFamily(
            "kiosk_heap_trim_released_bytes",
            "Resident memory handed back to the OS by heap trims since start",
            value=s.heap_trim_released_bytes,
        )
        if s.workers_configured:
            yield from _worker_metrics(s)
        changes = CounterMetricFamily(
            "kiosk_state_changes", "Times the kiosk entered each call state", labels=["state"]
        )
        for name in CALL_STATES:
            changes.add_metric([name], float(s.state_changes.get(name, 0)))
        yield changes
        if s.join_seconds is not None:
            yield GaugeMetricFamily(
                "kiosk_join_seconds",
                "Last join: request to first remote frame on screen",
                value=s.join_seconds,
            )
        yield GaugeMetricFamily(
            "kiosk_participants", "Remote participants in the call", value=len(s.streams)
        )
        labels = ["connection", "participant"]
        frames = CounterMetricFamily(
            "kiosk_frames_received", "Video frames decoded per remote participant", labels=labels
        )
        fps = GaugeMetricFamily(
            "kiosk_stream_fps", "Received video frames per second per participant", labels=labels
        )
        level = GaugeMetricFamily(
            "kiosk_audio_level_dbfs",
            "Audio level the room hears from each participant (dBFS)",
            labels=labels,
        )
        speaking = GaugeMetricFamily(
            "kiosk_speaking", "1 while the participant is speaking", labels=labels
        )
        for stream in s.streams:
            key = [_label(stream.connection_id), _label(stream.participant or "Guest")]
            frames.add_metric(key, float(stream.frames_received))
            fps.add_metric(key, stream.fps)
            if stream.level_dbfs is not None and math.isfinite(stream.level_dbfs):
                level.add_metric(key, max(-120.0, min(0.0, stream.level_dbfs)))
            speaking.add_metric(key, float(stream.speaking))
        yield from (frames, fps, level, speaking)
        for name, value in sorted(s.render.items()):
            yield CounterMetricFamily(
                f"kiosk_render_{name}",
                f"Renderer: {name.replace('_', ' ')} since start",
                value=value,
            )
        yield GaugeMetricFamily(
            "kiosk_display_on", "1 while the display is on, 0 in standby", value=float(s.display_on)
        )
        if s.calendar_ok is not None:
            yield GaugeMetricFamily(
                "kiosk_calendar_ok",
                "1 when the last calendar read succeeded",
                value=float(s.calendar_ok),
            )
        if s.fleet_connected is not None:
            yield GaugeMetricFamily(
                "kiosk_fleet_connected",
                "1 while the fleet link is connected to the MQTT broker",
                value=float(s.fleet_connected),
            )


def _thread_count() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class _ThreadsCollector(Collector):
    """``process_threads``: the number of OS threads of this process (decoders, encoders …)."""

    def collect(self) -> Iterator[Metric]:
        count = _thread_count()
        if count is not None:
            yield GaugeMetricFamily(
                "process_threads", "Number of OS threads in the process", value=count
            )


class KioskMetrics:
    """``KioskMetrics(sample).render()`` → the exposition text for ``/metrics``."""

    def __init__(self, sample: Callable[[], KioskSample], *, process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_KioskCollector(sample))
        if process:
            ProcessCollector(registry=self.registry)
            self.registry.register(_ThreadsCollector())

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
