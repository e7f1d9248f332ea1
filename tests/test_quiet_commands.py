"""Noise a first install should not see (issue 15, item 10): the pygame banner, raw ALSA
lines and a doubled speaker warning without a sound card, the demo's screenshot in the working
tree, an apt lock that makes the interop setup fail. Real ``kiosk`` subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.demo import default_screenshot_path
from kiosk.media.devices import NO_SOUND, no_sound_at_all

REPO = Path(__file__).resolve().parent.parent


def kiosk(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "PYGAME_HIDE_SUPPORT_PROMPT"}
    return subprocess.run(
        [sys.executable, "-m", "kiosk.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
    )


@pytest.mark.parametrize("command", ["run", "demo", "devserver", "bot", "check-config"])
def test_no_pygame_banner_on_help(command: str, tmp_path: Path) -> None:
    out = kiosk(command, "--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "pygame-ce" not in out.stdout + out.stderr
    assert "Hello from the pygame community" not in out.stdout + out.stderr


def test_no_sound_means_no_card_and_no_server(tmp_path: Path) -> None:
    proc = tmp_path / "asound"
    proc.mkdir()
    (proc / "cards").write_text("--- no soundcards ---\n")
    runtime = tmp_path / "run"
    runtime.mkdir()
    assert no_sound_at_all(proc, str(runtime)) is True
    (runtime / "pipewire-0").touch()
    assert no_sound_at_all(proc, str(runtime)) is False
    (runtime / "pipewire-0").unlink()
    (proc / "cards").write_text(" 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n")
    assert no_sound_at_all(proc, str(runtime)) is False


def test_run_without_sound_says_it_once_and_alsa_stays_quiet(tmp_path: Path) -> None:
    if not no_sound_at_all():
        pytest.skip("this machine has a sound card or a sound server")
    config = tmp_path / "kiosk.yaml"
    config.write_text(
        'server: {url: "http://127.0.0.1:9", secret: x}\n'
        "session: {id: Room1}\n"
        "media: {camera: {device: none}, microphone: {device: default}}\n"
        "display: {driver: dummy, fullscreen: false}\n"
        "status: {enabled: false}\n"
        "logging: {format: plain}\n"
    )
    env = {k: "" for k in ("SDL_AUDIODRIVER",)}
    out = kiosk("run", "--config", str(config), "--duration", "3", cwd=tmp_path, env=env)
    text = out.stdout + out.stderr
    assert "ALSA lib" not in text
    lines = [line for line in text.splitlines() if "speaker 'default' unavailable" in line]
    assert len(lines) == 1, text
    assert NO_SOUND in lines[0]


def test_demo_screenshot_goes_outside_the_working_tree(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    assert default_screenshot_path({"XDG_RUNTIME_DIR": str(runtime)}) == runtime / "kiosk-demo.png"
    assert default_screenshot_path({}).parent != Path.cwd()
    work = tmp_path / "work"
    work.mkdir()
    out = kiosk(
        "demo",
        "--headless",
        "--bots",
        "0",
        "--port",
        "0",
        "--status-port",
        "0",
        "--duration",
        "12",
        cwd=work,
        env={"XDG_RUNTIME_DIR": str(runtime)},
        timeout=90,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"writing the screen to {runtime / 'kiosk-demo.png'}" in out.stdout
    assert list(work.iterdir()) == []
    assert (runtime / "kiosk-demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interop_setup_waits_for_a_held_apt_lock() -> None:
    text = (REPO / "tests" / "interop" / "setup.sh").read_text()
    calls = re.findall(r"^\s*(?:DEBIAN_FRONTEND=\S+ )?apt-get .*$", text, flags=re.M)
    assert calls
    for call in calls:
        assert "DPkg::Lock::Timeout=" in call, call
