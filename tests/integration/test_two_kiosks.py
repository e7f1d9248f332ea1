"""Two kiosks in one session of the real dev server (aiortc media backend, loopback ICE):
each sees and hears the other, in both subscribe flows; a mute reaches the other side."""

from __future__ import annotations

import asyncio
import math
from functools import partial

import pytest

from kiosk.media.testpattern import read_timestamp
from kiosk.testing.waits import wait_until
from tests.integration.integration_harness import (
    FPS,
    HEIGHT,
    WIDTH,
    KioskPeer,
    MediaServer,
    dev_server,
)


def _sees(viewer: KioskPeer, other: KioskPeer, frames: int) -> bool:
    source = viewer.media.frames.get(other.connection_id)
    return source is not None and source.frame_count >= frames


def _level(listener: KioskPeer, other: KioskPeer) -> float:
    return listener.media.levels().get(other.connection_id, -math.inf)


def _hears(listener: KioskPeer, other: KioskPeer) -> bool:
    return _level(listener, other) > -30


@pytest.mark.parametrize("media_server", ["kurento", "mediasoup"])
async def test_two_kiosks_see_and_hear_each_other(media_server: MediaServer) -> None:
    async with dev_server(media_server) as srv:
        a = KioskPeer(srv, "Kiosk A", tone_hz=440.0)
        b = KioskPeer(srv, "Kiosk B", tone_hz=660.0)
        try:
            await a.join()
            await b.join()  # B finds A's stream in joinRoom; A learns of B by notification
            assert a.media.flow == b.media.flow == media_server

            for viewer, other in ((a, b), (b, a)):
                await wait_until(
                    partial(_sees, viewer, other, 5),
                    20,
                    f"{viewer.name} decoding {other.name}'s video",
                )
            # the count keeps advancing (live video, not one stuck frame)
            counts = {
                p.name: p.media.frames[o.connection_id].frame_count for p, o in ((a, b), (b, a))
            }
            for viewer, other in ((a, b), (b, a)):
                await wait_until(
                    partial(_sees, viewer, other, counts[viewer.name] + FPS // 2),
                    10,
                    f"{viewer.name}'s frame count advancing",
                )
                frame = viewer.media.frames[other.connection_id].latest()
                assert frame is not None
                assert (frame.width, frame.height) == (WIDTH, HEIGHT)
                stamps = []
                for _ in range(10):  # a frame mid-decode may be unreadable: try a few
                    latest = viewer.media.frames[other.connection_id].latest()
                    assert latest is not None
                    stamps.append(read_timestamp(latest.to_ndarray(format="rgb24")))
                    if stamps[-1] is not None:
                        break
                    await asyncio.sleep(0.05)
                assert any(s is not None for s in stamps), f"{viewer.name}: no timestamp"

            for listener, other in ((a, b), (b, a)):
                await wait_until(
                    partial(_hears, listener, other),
                    15,
                    f"{listener.name} hearing {other.name}'s tone",
                )
            # each hears exactly the other, not itself
            assert set(a.media.levels()) == {b.connection_id}
            assert set(b.media.levels()) == {a.connection_id}
        finally:
            await b.leave()
            await a.leave()


def _audio_active(at: KioskPeer, of: KioskPeer) -> bool:
    """What ``at``'s session model (the owner of stream state) says of ``of``'s audio."""
    assert at.client is not None
    stream = at.client.model.stream_of(of.connection_id)
    return bool(stream and stream.audio_active)


async def test_mute_on_one_kiosk_reaches_the_other() -> None:
    async with dev_server("kurento") as srv:
        a = KioskPeer(srv, "Kiosk A")
        b = KioskPeer(srv, "Kiosk B")
        try:
            await a.join()
            await b.join()
            await wait_until(lambda: _level(b, a) > -30, 20, "B hearing A's tone")
            assert _audio_active(b, a)

            await a.media.set_muted("audio", True)
            # The event itself, not just the model's answer: a stream that vanished (a
            # reconnect under load) would also read as "not active".
            await wait_until(
                lambda: any(
                    (c.connection_id, c.property, c.new_value)
                    == (a.connection_id, "audioActive", False)
                    for c in b.properties
                ),
                10,
                "B seeing A's audioActive=false",
            )
            assert not _audio_active(b, a)
            await wait_until(lambda: _level(b, a) < -60, 5, "A's level dropping at B")
            # video is unaffected by an audio mute
            before = b.media.frames[a.connection_id].frame_count
            await wait_until(
                lambda: b.media.frames[a.connection_id].frame_count > before + 3,
                5,
                "A's video still flowing at B",
            )

            await a.media.set_muted("audio", False)
            await wait_until(
                lambda: _audio_active(b, a),
                5,
                "B seeing A's audioActive=true",
            )
            await wait_until(lambda: _level(b, a) > -30, 10, "A's tone back at B")
        finally:
            await b.leave()
            await a.leave()
