"""PulseAudio/PipeWire microphone through a recorder subprocess — with fake ``parec`` and
``pw-record`` scripts on PATH (no sound server here)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from aiortc.mediastreams import MediaStreamError

from kiosk.errors import DeviceUnavailable
from kiosk.media.devices import open_local_media, open_microphone
from kiosk.media.pulse import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    PulseMicrophoneTrack,
    open_pulse_microphone,
)

TONE_HZ = 1000.0

# A stand-in for parec/pw-record: records its argv, then writes a 1 kHz tone as raw s16le
# 48 kHz mono in 10 ms chunks, paced in real time. Source names steer it:
#   missing  -> "Stream error: No such entity" on stderr, exit 1, no audio
#   burst    -> 2 s of tone at once, then real time
#   short    -> 0.2 s of tone, then "Connection terminated" and exit 1
#   silent   -> never writes, keeps running
FAKE = r"""#!{python}
import json, math, os, struct, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_RECORDER_LOG"], "a") as log:
    log.write(json.dumps({{"tool": os.path.basename(sys.argv[0]), "args": args,
                           "pid": os.getpid()}}) + "\n")
source = "@DEFAULT_SOURCE@"
for a in args:
    if a.startswith("--device=") or a.startswith("--target="):
        source = a.split("=", 1)[1]
if source == "missing":
    sys.stderr.write("Stream error: No such entity\n")
    sys.exit(1)
if source == "silent":
    time.sleep(60)
    sys.exit(0)
rate, chunk, n = 48000, 480, 0
out = sys.stdout.buffer
def tone(count):
    global n
    data = b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * {hz} * (n + i) / rate)))
                    for i in range(count))
    n += count
    return data
if source == "burst":
    out.write(tone(2 * rate)); out.flush()
start = time.monotonic()
written = 0
while True:
    if source == "short" and written >= rate // 5:
        sys.stderr.write("Connection failure: Connection terminated\n")
        sys.exit(1)
    out.write(tone(chunk)); out.flush()
    written += chunk
    wait = start + written / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
"""


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only the fake recorders; returns the log of their invocations."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("parec", "pw-record"):
        script = bin_dir / name
        script.write_text(FAKE.format(python=sys.executable, hz=TONE_HZ))
        script.chmod(0o755)
    log = tmp_path / "recorder.log"
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_RECORDER_LOG", str(log))
    return log


def invocations(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def gone(pid: int) -> bool:
    """No such process any more (killed and reaped: not even a zombie)."""
    try:
        psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    return False


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * SAMPLE_RATE / samples.size)


async def test_pulse_microphone_delivers_20ms_frames_of_the_source(fake_tools: Path) -> None:
    fds_before = psutil.Process().num_fds()
    track = open_microphone("pulse:kiosk-echo-cancel-source")
    assert isinstance(track, PulseMicrophoneTrack)
    try:
        [call] = invocations(fake_tools)
        assert call["tool"] == "parec"
        assert call["args"] == [
            "--raw",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
            "--device=kiosk-echo-cancel-source",
        ]
        started = time.monotonic()
        frames = [await asyncio.wait_for(track.recv(), 5) for _ in range(30)]
        elapsed = time.monotonic() - started
        for i, frame in enumerate(frames):
            assert (frame.sample_rate, frame.samples, frame.format.name) == (
                SAMPLE_RATE,
                SAMPLES_PER_FRAME,
                "s16",
            )
            assert frame.layout.name == "mono"
            assert frame.pts == i * SAMPLES_PER_FRAME
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
        assert abs(dominant_hz(pcm) - TONE_HZ) < 50
        rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
        assert 5000 < rms < 7500  # the fake's amplitude 9000 / sqrt(2)
        # paced by the data (real time from the fake), not faster; some audio was buffered
        # between open and the first recv
        assert 0.3 < elapsed < 3.0, elapsed
    finally:
        track.stop()
    pid = int(str(call["pid"]))
    assert gone(pid), "the recorder still runs after stop()"
    with pytest.raises(MediaStreamError):
        await track.recv()
    await asyncio.sleep(0)  # let the closed pipe transports release their fds
    assert psutil.Process().num_fds() <= fds_before


async def test_pipewire_spec_and_pw_record_fallback(fake_tools: Path) -> None:
    (fake_tools.parent / "bin" / "parec").unlink()  # only pw-record installed
    track = open_microphone("pipewire:kiosk-echo-cancel-source")
    assert isinstance(track, PulseMicrophoneTrack)
    try:
        frame = await asyncio.wait_for(track.recv(), 5)
        assert frame.samples == SAMPLES_PER_FRAME
    finally:
        track.stop()
    [call] = invocations(fake_tools)
    assert call["tool"] == "pw-record"
    assert call["args"] == [
        "--raw",
        "--format=s16",
        "--rate=48000",
        "--channels=1",
        "--target=kiosk-echo-cancel-source",
        "-",
    ]


def test_unknown_source_gives_the_tools_reason_in_one_line(fake_tools: Path) -> None:
    with pytest.raises(DeviceUnavailable) as info:
        open_microphone("pulse:missing")
    assert (
        str(info.value) == "microphone 'missing' unavailable: parec: Stream error: No such entity"
    )
    [call] = invocations(fake_tools)
    assert gone(int(str(call["pid"])))


def test_missing_tools_are_named(fake_tools: Path) -> None:
    for name in ("parec", "pw-record"):
        (fake_tools.parent / "bin" / name).unlink()
    with pytest.raises(DeviceUnavailable) as info:
        open_microphone("pulse:kiosk-echo-cancel-source")
    message = str(info.value)
    assert message.startswith(
        "microphone 'kiosk-echo-cancel-source' unavailable: parec or "
        "pw-record not found (install pulseaudio-utils"
    )
    assert "\n" not in message


def test_open_local_media_joins_without_the_microphone(fake_tools: Path) -> None:
    media = open_local_media("test-pattern", "pulse:missing", "Lobby")
    try:
        assert media.audio is None and media.video is not None
        assert media.problems == [
            "microphone 'missing' unavailable: parec: Stream error: No such entity"
        ]
    finally:
        media.close()


async def test_old_audio_is_dropped_not_delayed(fake_tools: Path) -> None:
    track = open_pulse_microphone("burst", max_delay_ms=200)
    try:
        await asyncio.wait_for(track.recv(), 5)  # attaches the pipe; the burst flows in
        await asyncio.sleep(0.5)  # the whole 2 s burst has arrived by now
        # at most 200 ms were kept: about 10 frames come at once, then real-time pacing
        started = time.monotonic()
        quick = 0
        while time.monotonic() - started < 0.05 and quick < 100:
            await asyncio.wait_for(track.recv(), 5)
            quick += 1
        assert quick <= 15, quick
        assert track.dropped_ms > 1500
    finally:
        track.stop()


async def test_recorder_ending_ends_the_track_and_says_why(
    fake_tools: Path, caplog: pytest.LogCaptureFixture
) -> None:
    track = open_pulse_microphone("short", restart_delays=())
    caplog.set_level(logging.WARNING, logger="kiosk.media.pulse")
    frames = 0
    with pytest.raises(MediaStreamError):
        for _ in range(100):
            await asyncio.wait_for(track.recv(), 5)
            frames += 1
    assert 5 <= frames <= 10  # 200 ms of audio, then the end
    assert track.readyState == "ended"
    [call] = invocations(fake_tools)
    assert gone(int(str(call["pid"])))
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        m == "microphone 'short': parec ended (exit code 1): Connection failure: Connection "
        "terminated"
        for m in messages
    ), messages


async def test_a_silent_source_is_accepted_and_killed_on_stop(fake_tools: Path) -> None:
    started = time.monotonic()
    track = open_pulse_microphone("silent", startup_timeout=0.3)
    assert time.monotonic() - started < 2
    recv = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.2)
    assert not recv.done()
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(recv, 5)
    assert gone(track.pid)


async def test_recorder_is_started_again_after_it_ends(
    fake_tools: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.media.pulse")
    track = open_pulse_microphone("short", restart_delays=(0.1,))
    try:
        # 40 frames = 0.8 s of audio: more than three runs of the fake (0.2 s each)
        for _ in range(40):
            frame = await asyncio.wait_for(track.recv(), 5)
            assert frame.samples == SAMPLES_PER_FRAME
        assert track.restarts >= 3
        assert frame.pts == 39 * SAMPLES_PER_FRAME  # one continuous timeline
    finally:
        track.stop()
    pids = [int(str(c["pid"])) for c in invocations(fake_tools)]
    assert len(pids) == track.restarts + 1
    assert all(gone(pid) for pid in pids)
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "microphone 'short': parec ended (exit code 1): Connection failure: Connection "
        "terminated; starting it again in 0.1 s" in messages
    ), messages
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_stop_during_a_restart_wait_ends_the_track(fake_tools: Path) -> None:
    track = open_pulse_microphone("short", restart_delays=(30.0,))
    for _ in range(10):  # the 0.2 s of audio
        await asyncio.wait_for(track.recv(), 5)
    recv = asyncio.ensure_future(track.recv())  # now waiting for the restart
    await asyncio.sleep(0.5)
    assert not recv.done()
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(recv, 5)
    assert len(invocations(fake_tools)) == 1
