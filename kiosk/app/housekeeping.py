"""The 1 s tick: the systemd watchdog (only while every loop makes progress), toast expiry,
stalled or failed streams reported to the machine, received fps, heap trimming (kiosk.heap)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from kiosk.app import machine as m
from kiosk.app.telemetry import StreamStats

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


async def run(kiosk: Kiosk) -> None:
    while True:
        await asyncio.sleep(TICK_SECONDS)
        now = kiosk.clock()
        kiosk.keep_watchdog(now)
        kiosk.post_call_beat()
        kiosk.heap.tick(now)
        tick(kiosk, now)


def tick(kiosk: Kiosk, now: float) -> None:
    kiosk.toasts = [t for t in kiosk.toasts if t.expires_at > now]
    media = kiosk.media
    if media is None or kiosk.machine.state != m.CallState.IN_CALL:
        return
    stall_seconds = kiosk.config.media.stall_seconds
    reported = kiosk.reported
    for stream_id in media.stalled(now, stall_seconds):
        if now - reported.get(stream_id, -1e9) >= stall_seconds:
            reported[stream_id] = now
            log.warning("media stalled on %s: re-subscribing", stream_id)
            kiosk.post(m.MediaStalled(stream_id))
    for stream_id in list(media.errors):
        if now - reported.get(stream_id, -1e9) >= stall_seconds:
            reported[stream_id] = now
            kiosk.post(m.PeerFailed(stream_id))
    # past the repeat interval an entry decides nothing: streams come and go all call long
    for stream_id in [s for s, t in reported.items() if now - t >= stall_seconds]:
        del reported[stream_id]
    for cid, frames in media.frames.items():
        st = kiosk.stream_stats.setdefault(cid, StreamStats(frames.frame_count, now))
        st.update(frames.frame_count, now)
    for cid in kiosk.stream_stats.keys() - media.frames.keys():  # gone: not kept for ever
        del kiosk.stream_stats[cid]
