"""/metrics written by prometheus_client, checked by Prometheus' own promtool."""

from __future__ import annotations

import os
import shutil
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kiosk.app.metrics import KioskMetrics, KioskSample, StreamSample
from kiosk.app.status import StatusServer
from kiosk.media.workers.pool import WorkerFacts

pytestmark = pytest.mark.integration  # runs promtool

ANA = StreamSample("con_ana", "Ana", frames_received=300, fps=29.5, level_dbfs=-20.0, speaking=True)
BO = StreamSample("con_bo", 'Bo "the boss"\\', frames_received=12, fps=3.0)


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool is not installed (Debian package prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def check_metrics(tool: str, text: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [tool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def scrape(sample: list[KioskSample]) -> str:
    metrics = KioskMetrics(lambda: sample[0])

    async def shot() -> bytes | None:
        return None

    server = StatusServer("127.0.0.1:0", dict, metrics.render, shot)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            response = await client.get("/metrics")
            assert response.status_code == 200
            return response.text
    finally:
        await server.stop()


async def test_the_endpoint_passes_promtool_check_metrics() -> None:
    tool = promtool()
    sample = KioskSample(
        state="in_call",
        uptime_seconds=61.5,
        joins=2,
        reconnects=1,
        resumes=1,
        join_seconds=1.4,
        streams=(ANA, BO),
        render={"draws": 10, "full_redraws": 1, "video_blits": 20, "tile_redraws": 4},
        fleet_connected=True,
        loop_stalls=3,
        loop_stall_longest_seconds=4.5,
        heap_trims=7,
        heap_trim_released_bytes=3 * 2**20,
        workers_configured=2,
        worker_restarts=1,
        workers=(
            WorkerFacts(0, 101, True, 3, 60 * 2**20, False),
            WorkerFacts(1, 102, True, 0, None, True),  # just started: RSS not read yet
        ),
    )
    text = await scrape([sample])
    result = check_metrics(tool, text)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    # promtool is quiet about lint it accepts; we still want no lint line at all.
    assert result.stdout.strip() == b"" and result.stderr.strip() == b"", result.stderr
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            family = name.removesuffix("_total").removesuffix("_created")
            assert f"# HELP {family} " in text or f"# HELP {name} " in text, line
            assert f"# TYPE {family} " in text or f"# TYPE {name} " in text, line
    assert "# TYPE kiosk_frames_received_total counter" in text
    assert "# TYPE kiosk_reconnects_total counter" in text
    assert "kiosk_loop_stalls_total 3.0" in text
    assert "kiosk_loop_stall_longest_seconds 4.5" in text
    assert "kiosk_heap_trims_total 7.0" in text
    assert "kiosk_heap_trim_released_bytes_total 3.145728e+06" in text
    assert "kiosk_media_workers_alive 2.0" in text
    assert "kiosk_media_worker_restarts_total 1.0" in text
    assert 'kiosk_media_worker_subscriptions{worker="0"} 3.0' in text
    assert 'kiosk_media_worker_resident_memory_bytes{worker="0"} 6.291456e+07' in text
    assert 'kiosk_media_worker_resident_memory_bytes{worker="1"}' not in text
    assert "process_resident_memory_bytes" in text
    assert "process_open_fds" in text
    assert "# TYPE process_threads gauge" in text


async def test_no_worker_series_without_media_workers() -> None:
    text = await scrape([KioskSample(state="in_call")])
    assert "kiosk_media_worker" not in text
    assert "kiosk_heap_trims_total 0.0" in text


async def test_per_participant_series_and_their_removal() -> None:
    current = [KioskSample(state="in_call", streams=(ANA, BO))]
    values = samples(await scrape(current))
    ana = (("connection", "con_ana"), ("participant", "Ana"))
    assert values[("kiosk_frames_received_total", ana)] == 300
    assert values[("kiosk_audio_level_dbfs", ana)] == -20.0
    assert values[("kiosk_speaking", ana)] == 1.0
    bo = (("connection", "con_bo"), ("participant", 'Bo "the boss"\\'))
    assert values[("kiosk_speaking", bo)] == 0.0
    assert ("kiosk_audio_level_dbfs", bo) not in values  # no audio from Bo: no level
    assert values[("kiosk_participants", ())] == 2

    current[0] = KioskSample(state="in_call", streams=(ANA,))  # Bo left
    values = samples(await scrape(current))
    assert not [key for key in values if dict(key[1]).get("connection") == "con_bo"]
    assert values[("kiosk_frames_received_total", ana)] == 300
    assert values[("kiosk_state", (("state", "in_call"),))] == 1.0
    assert values[("kiosk_state", (("state", "idle"),))] == 0.0
