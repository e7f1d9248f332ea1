"""What the kiosk tells the outside: the /status document and the /metrics text.

Both are read from the owners of each fact (machine, session model, media session, renderer)
at request time; nothing here keeps state of its own except the counters in
:class:`KioskSnapshot`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiortc
import av
import pygame

from kiosk import __version__
from kiosk.app import machine as m
from kiosk.app.metrics import KioskSample, StreamSample
from kiosk.fleet.facts import read_rss_bytes

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk


@dataclass
class StreamStats:
    """Received frame rate of one remote stream, updated by housekeeping once a second."""

    last_count: int = 0
    last_time: float = 0.0
    fps: float = 0.0

    def update(self, count: int, now: float) -> None:
        """Frames received so far (``count``) at ``now``: the rate since the last update, at
        most once a second. A count below the last one is a new subscription (re-subscribed,
        moved to another media worker) counting from 0 again, never a negative rate."""
        dt = now - self.last_time
        if dt < 1.0:
            return
        if count < self.last_count:
            self.last_count = 0
        self.fps = (count - self.last_count) / dt
        self.last_count, self.last_time = count, now


@dataclass
class KioskSnapshot:
    """Counters the status endpoint, the metrics and the tests read."""

    started_at: float = field(default_factory=time.monotonic)
    joins: int = 0
    reconnects: int = 0
    resumes: int = 0
    join_requested_at: float | None = None  # the first token request of the current join
    first_remote_frame_at: float | None = None  # first remote frame drawn after that join
    state_changes: dict[str, int] = field(default_factory=dict)  # entered state → times

    @property
    def join_seconds(self) -> float | None:
        """Join request → first remote frame on screen (what a person in the room waits)."""
        if self.join_requested_at is None or self.first_remote_frame_at is None:
            return None
        return self.first_remote_frame_at - self.join_requested_at


SPEAKING_DBFS = -45.0
"""Above this audio level a participant counts as speaking (the screen's rule too)."""


def level_dbfs(levels: dict[str, float], connection_id: str) -> float | None:
    """What the room hears from a participant (dBFS, 0.1 dB), or None without audio."""
    level = levels.get(connection_id)
    if level is None or not math.isfinite(level):
        return None
    return round(level, 1)


def status(kiosk: Kiosk) -> dict[str, Any]:
    """The /status document."""
    client, media = kiosk.client, kiosk.media
    levels = media.levels() if media is not None else {}
    participants = []
    if client is not None:
        for cid, p in client.model.participants.items():
            if cid == client.connection_id:
                continue
            stream = p.stream
            frames = media.frames.get(cid) if media else None
            participants.append(
                {
                    "connection_id": cid,
                    "name": p.display_name,
                    "stream_id": stream.stream_id if stream else None,
                    "audio_active": stream.audio_active if stream else None,
                    "video_active": stream.video_active if stream else None,
                    "frames_received": frames.frame_count if frames else 0,
                    "video_received": media.receiving_video(cid) if media else False,
                    "fps": round(kiosk.stream_stats.get(cid, StreamStats()).fps, 1),
                    "audio_level_dbfs": level_dbfs(levels, cid),
                    "speaking": levels.get(cid, -math.inf) > SPEAKING_DBFS,
                }
            )
    return {
        "state": str(kiosk.machine.state),
        "status_line": kiosk.machine.status_line_at(kiosk.clock()),
        "session_id": kiosk.session_id,
        "display_name": kiosk.config.session.name,
        "connection_id": client.connection_id if client else None,
        "participants": participants,
        "main_view": kiosk.view_policy.main,
        "muted": dict(kiosk.muted),
        "publishing": media.publish_state if media else "off",
        "media_problems": kiosk.media_problems,
        "last_error": kiosk.machine.status_line
        if kiosk.machine.state == m.CallState.ERROR
        else None,
        "joins": kiosk.stats.joins,
        "reconnects": kiosk.stats.reconnects,
        "resumes": kiosk.stats.resumes,
        "uptime_seconds": round(kiosk.clock() - kiosk.stats.started_at, 1),
        "loop_stalls": kiosk.stalls.stalls,
        "loop_stall_longest_seconds": round(kiosk.stalls.longest_s, 1),
        "screen": screen_status(kiosk),
        **kiosk.room.status(kiosk.wall_clock()),
        "server_reachable": kiosk.server_reachable,
        "rss_bytes": read_rss_bytes(),
        "media_workers": workers_status(kiosk),
        "fleet": kiosk.fleet.status() if kiosk.fleet is not None else None,
        "versions": {
            "kiosk": __version__,
            "aiortc": aiortc.__version__,
            "av": av.__version__,
            "pygame-ce": pygame.version.ver,
        },
    }


def workers_status(kiosk: Kiosk) -> dict[str, Any] | None:
    """The media worker processes (None: media.workers is 0, everything in this process)."""
    pool = kiosk.workers
    if pool is None:
        return None
    facts = pool.facts()
    return {
        "configured": pool.count,
        "alive": len(facts),
        "restarts": pool.restarts,
        "workers": [dataclasses.asdict(f) for f in facts],
    }


def screen_status(kiosk: Kiosk) -> dict[str, Any]:
    """How the screen is drawn: SDL's video driver, the renderer (``surface`` = the CPU path)
    whether it is accelerated (a GPU; Mesa's llvmpipe is not) and the GL driver's name."""
    display = kiosk.display
    return {
        "driver": display.driver_name,
        "renderer": display.renderer_name,
        "accelerated": display.accelerated,
        "gl_renderer": display.gl_renderer,
    }


def metrics_sample(kiosk: Kiosk) -> KioskSample:
    """The facts /metrics shows, read at scrape time (see :mod:`kiosk.app.metrics`)."""
    client, media = kiosk.client, kiosk.media
    streams: list[StreamSample] = []
    if media is not None:
        levels = media.levels()
        for cid, frames in media.frames.items():
            streams.append(
                StreamSample(
                    connection_id=cid,
                    participant=client.model.name_of(cid) if client is not None else cid,
                    frames_received=frames.frame_count,
                    fps=kiosk.stream_stats.get(cid, StreamStats()).fps,
                    level_dbfs=level_dbfs(levels, cid),
                    speaking=levels.get(cid, -math.inf) > SPEAKING_DBFS,
                )
            )
    stats = kiosk.stats
    return KioskSample(
        state=str(kiosk.machine.state),
        uptime_seconds=kiosk.clock() - stats.started_at,
        joins=stats.joins,
        reconnects=stats.reconnects,
        resumes=stats.resumes,
        join_seconds=stats.join_seconds,
        streams=tuple(streams),
        render=dataclasses.asdict(kiosk.renderer.stats) if kiosk.renderer is not None else {},
        state_changes=dict(stats.state_changes),
        fleet_connected=kiosk.fleet.connected if kiosk.fleet is not None else None,
        display_on=kiosk.room.display_mode.value == "on",
        calendar_ok=kiosk.room.calendar.ok if kiosk.room.calendar is not None else None,
        loop_stalls=kiosk.stalls.stalls,
        loop_stall_longest_seconds=kiosk.stalls.longest_s,
        heap_trims=kiosk.heap.stats.trims,
        workers_configured=kiosk.workers.count if kiosk.workers is not None else 0,
        worker_restarts=kiosk.workers.restarts if kiosk.workers is not None else 0,
        workers=tuple(kiosk.workers.facts()) if kiosk.workers is not None else (),
        heap_trim_released_bytes=kiosk.heap.stats.released_bytes,
    )


def metrics_text(kiosk: Kiosk) -> str:
    """The /metrics text (Prometheus exposition format, written by prometheus_client)."""
    return kiosk.prometheus.render()
