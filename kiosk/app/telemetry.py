"""What the kiosk tells the outside: the /status document and the /metrics text.

Both are read from the owners of each fact (machine, session model, media session, renderer)
at request time; nothing here keeps state of its own except the counters in
:class:`KioskSnapshot`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiortc
import av
import pygame

from kiosk import __version__
from kiosk.app import machine as m

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk


@dataclass
class StreamStats:
    """Received frame rate of one remote stream, updated by housekeeping once a second."""

    last_count: int = 0
    last_time: float = 0.0
    fps: float = 0.0


@dataclass
class KioskSnapshot:
    """Counters the status endpoint, the metrics and the tests read."""

    started_at: float = field(default_factory=time.monotonic)
    joins: int = 0
    reconnects: int = 0
    resumes: int = 0
    join_requested_at: float | None = None  # the first token request of the current join
    first_remote_frame_at: float | None = None  # first remote frame drawn after that join

    @property
    def join_seconds(self) -> float | None:
        """Join request → first remote frame on screen (what a person in the room waits)."""
        if self.join_requested_at is None or self.first_remote_frame_at is None:
            return None
        return self.first_remote_frame_at - self.join_requested_at


def status(kiosk: Kiosk) -> dict[str, Any]:
    """The /status document."""
    client, media = kiosk.client, kiosk.media
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
                    "fps": round(kiosk.stream_stats.get(cid, StreamStats()).fps, 1),
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
        **kiosk.room.status(kiosk.wall_clock()),
        "versions": {
            "kiosk": __version__,
            "aiortc": aiortc.__version__,
            "av": av.__version__,
            "pygame-ce": pygame.version.ver,
        },
    }


def metrics_text(kiosk: Kiosk) -> str:
    """The /metrics text (Prometheus exposition format)."""
    mt = kiosk.metrics
    mt.describe("kiosk_frames_received_total", "Video frames decoded per remote stream")
    mt.describe("kiosk_reconnects_total", "Signaling connections lost")
    mt.describe("kiosk_in_call", "1 while in a call")
    state = kiosk.machine.state
    mt.set("kiosk_in_call", 1.0 if state == m.CallState.IN_CALL else 0.0)
    for each in m.CallState:
        mt.set("kiosk_state", 1.0 if state == each else 0.0, state=str(each))
    client, media = kiosk.client, kiosk.media
    if media is not None:
        for cid, frames in media.frames.items():
            participant = client.model.participants.get(cid) if client else None
            stream = participant.stream if participant else None
            label = stream.stream_id if stream else cid
            mt.set("kiosk_frames_received_total", float(frames.frame_count), stream=label)
            mt.set("kiosk_stream_fps", kiosk.stream_stats.get(cid, StreamStats()).fps, stream=label)
    mt.describe("kiosk_display_on", "1 while the display is on, 0 in standby")
    mt.set("kiosk_display_on", 1.0 if kiosk.room.display_mode.value == "on" else 0.0)
    calendar = kiosk.room.calendar
    if calendar is not None:
        mt.describe("kiosk_calendar_ok", "1 when the last calendar read succeeded")
        mt.set("kiosk_calendar_ok", 1.0 if calendar.ok else 0.0)
    if kiosk.renderer is not None:
        for key, value in dataclasses.asdict(kiosk.renderer.stats).items():
            mt.set(f"kiosk_render_{key}", float(value))
    return mt.render()
