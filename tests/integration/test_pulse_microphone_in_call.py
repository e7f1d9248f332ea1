"""The kiosk publishes a ``pulse:`` microphone (a fake ``parec`` on PATH writing a 1 kHz tone):
another participant hears that tone, and the recorder is gone after the kiosk stops."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest

from kiosk.app.kiosk import Kiosk
from kiosk.app.machine import CallState
from kiosk.testing.configs import loopback_kiosk_config
from kiosk.testing.waits import wait_until
from tests.integration.integration_harness import ROOM, SECRET, KioskPeer, dev_server

FAKE_PAREC = r"""#!{python}
import json, math, os, struct, sys, time
with open(os.environ["FAKE_RECORDER_LOG"], "a") as log:
    log.write(json.dumps({{"args": sys.argv[1:], "pid": os.getpid()}}) + "\n")
rate, chunk, n = 48000, 960, 0
out = sys.stdout.buffer
start = time.monotonic()
while True:
    out.write(b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * 1000 * (n + i) / rate)))
                       for i in range(chunk)))
    out.flush()
    n += chunk
    wait = start + n / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
"""


@pytest.fixture
def fake_parec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "parec"
    script.write_text(FAKE_PAREC.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "parec.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_RECORDER_LOG", str(log))
    return log


def _invocations(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    return float(np.argmax(spectrum) * rate / pcm.size)


async def test_kiosk_publishes_a_pulse_microphone(fake_parec: Path) -> None:
    async with dev_server("kurento") as srv:
        listener = KioskPeer(srv, "Listener", tone_hz=300.0)
        await listener.join()
        cfg = loopback_kiosk_config(
            srv.url,
            secret=SECRET,
            session={"id": ROOM},
            media={"microphone": {"device": "pulse:kiosk-echo-cancel-source"}},
            status={"enabled": False},
        )
        kiosk = Kiosk(cfg)
        run = asyncio.create_task(kiosk.run(duration=60))
        try:
            await wait_until(lambda: kiosk.machine.state == CallState.IN_CALL, 20, "the call")
            kiosk_id = kiosk.status()["connection_id"]
            assert isinstance(kiosk_id, str)
            mixer = listener.mixer
            assert mixer is not None

            def hears_kiosk() -> bool:
                return mixer.levels().get(kiosk_id, -math.inf) > -30

            await wait_until(hears_kiosk, 20, "the listener hearing the kiosk's microphone")
            # what arrives is the 1 kHz from parec (not the 440 Hz test tone): look at 100 ms
            # windows of what the listener mixes until one has sound (bounded in time)
            mixer.mix(mixer.sample_rate)  # drop what is buffered
            heard: list[float] = []

            def dominant_now() -> bool:
                pcm = mixer.mix(mixer.sample_rate // 10)[:: mixer.channels]
                if not pcm.any():
                    return False
                heard.append(_dominant_hz(pcm, mixer.sample_rate))
                return True

            await wait_until(dominant_now, 10, "100 ms of the kiosk's microphone at the listener")
            assert abs(heard[-1] - 1000) < 30, heard
        finally:
            from kiosk.app.machine import Shutdown

            kiosk.post(Shutdown())
            rc = await asyncio.wait_for(run, 20)
            await listener.leave()
        assert rc == 0
        calls = _invocations(fake_parec)
        assert len(calls) == 1
        args = calls[0]["args"]
        assert isinstance(args, list) and "--device=kiosk-echo-cancel-source" in args
        with pytest.raises(psutil.NoSuchProcess):
            psutil.Process(int(str(calls[0]["pid"])))  # killed and reaped when the kiosk stopped
