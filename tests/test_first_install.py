"""What a first install meets: real devices by default, check-config agreeing with run, and
file errors that name the file (issue 15, items 1, 2 and 7). Real ``kiosk`` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kiosk.config import NO_TOKEN_SOURCE, parse_config
from kiosk.demo import demo_config
from kiosk.media.cameras import find_camera

pytestmark = pytest.mark.integration  # real `kiosk` child processes

REPO = Path(__file__).resolve().parent.parent


def kiosk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("KIOSK_OPENVIDU_SECRET",)}
    base.pop("CREDENTIALS_DIRECTORY", None)
    return subprocess.run(
        [sys.executable, "-m", "kiosk.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
        env={**base, **(env or {})},
    )


def write_config(tmp_path: Path, **server: object) -> Path:
    data = {
        "server": {"url": "http://127.0.0.1:1", **server},
        "session": {"id": "Room1"},
        "media": {"camera": {"device": "/dev/video99"}, "speaker": {"device": "none"}},
        "display": {"driver": "dummy"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def write_unit(tmp_path: Path, credential: Path) -> Path:
    unit = tmp_path / "kiosk.service"
    text = (REPO / "systemd" / "kiosk.service").read_text()
    text = text.replace("/etc/kiosk/openvidu-secret", str(credential))
    unit.write_text(text)
    return unit


# --- 1. real devices unless synthetic media is asked for ----------------------------------


def test_run_defaults_to_real_devices_and_the_demo_asks_for_synthetic_media() -> None:
    config = parse_config("server: {url: 'http://h'}\nsession: {id: Room1}\n")
    assert config.media.camera.device == "auto"
    assert config.media.microphone.device == "default"
    assert config.media.speaker.device == "default"
    example = yaml.safe_load((REPO / "config.example.yaml").read_text())
    assert example["media"]["camera"]["device"] == "auto"
    assert example["media"]["microphone"]["device"] == "default"
    demo = parse_config(demo_config("http://127.0.0.1:1", windowed=False, status_listen="x:0"))
    assert (demo.media.camera.device, demo.media.microphone.device) == ("test-pattern", "test-tone")


def test_auto_camera_is_the_first_usb_camera_never_a_codec_node(tmp_path: Path) -> None:
    dev, sysfs = tmp_path / "dev", tmp_path / "sys"
    for index, name in ((10, "bcm2835-codec-decode"), (19, "bcm2835-isp"), (20, "rp1-cfe")):
        (dev / f"video{index}").parent.mkdir(parents=True, exist_ok=True)
        (dev / f"video{index}").touch()
        (sysfs / f"video{index}").mkdir(parents=True)
        (sysfs / f"video{index}" / "name").write_text(name + "\n")
    assert find_camera(dev, sysfs) is None  # a Pi with no camera plugged in
    (dev / "video0").touch()
    (sysfs / "video0").mkdir()
    (sysfs / "video0" / "name").write_text("HD Webcam C615\n")
    assert find_camera(dev, sysfs) == str(dev / "video0")
    by_id = dev / "v4l" / "by-id"
    by_id.mkdir(parents=True)
    (by_id / "usb-046d_HD_Webcam_C615-video-index1").touch()
    (by_id / "usb-046d_HD_Webcam_C615-video-index0").touch()
    assert find_camera(dev, sysfs) == str(by_id / "usb-046d_HD_Webcam_C615-video-index0")


def test_docs_link_the_audio_guide() -> None:
    for doc in ("README.md", "docs/install.md"):
        assert "audio.md" in (REPO / doc).read_text(), doc


# --- 2. check-config resolves what run resolves ---------------------------------------------


def test_no_token_source_fails_check_config_like_run(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    unit = tmp_path / "no-such.service"
    check = kiosk("check-config", "--unit", str(unit), str(path))
    assert check.returncode == 2, check.stdout + check.stderr
    assert check.stderr.strip() == NO_TOKEN_SOURCE
    run = kiosk("run", "--config", str(path), "--duration", "5")
    assert run.returncode == 2, run.stdout + run.stderr
    assert NO_TOKEN_SOURCE in run.stderr


def test_empty_credential_file_of_the_unit_is_named(tmp_path: Path) -> None:
    secret = tmp_path / "openvidu-secret"
    secret.touch()
    unit = write_unit(tmp_path, secret)
    path = write_config(tmp_path)
    check = kiosk("check-config", "--unit", str(unit), str(path))
    assert check.returncode == 2
    assert str(secret) in check.stderr and "is empty" in check.stderr
    secret.write_text("Sup3r-Secret\n")
    check = kiosk("check-config", "--unit", str(unit), str(path))
    assert check.returncode == 0, check.stderr
    assert check.stdout == "OK\n"
    assert "Sup3r-Secret" not in check.stdout + check.stderr
    # a missing device is named, but the kiosk can start without it: a warning, not a failure
    assert "media.camera.device: /dev/video99: no such device" in check.stderr


def test_environment_secret_and_application_server_need_no_credential(tmp_path: Path) -> None:
    unit = tmp_path / "no-such.service"
    path = write_config(tmp_path)
    check = kiosk(
        "check-config",
        "--no-devices",
        "--unit",
        str(unit),
        str(path),
        env={"KIOSK_OPENVIDU_SECRET": "x"},
    )
    assert (check.returncode, check.stdout, check.stderr) == (0, "OK\n", "")
    path = write_config(tmp_path, application_url="http://127.0.0.1:1/api")
    check = kiosk("check-config", "--no-devices", "--unit", str(unit), str(path))
    assert (check.returncode, check.stdout, check.stderr) == (0, "OK\n", "")


# --- 7. file-level errors name the file ------------------------------------------------------


def test_run_with_a_missing_config_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    run = kiosk("run", "--config", str(missing))
    assert run.returncode == 2
    assert run.stderr.strip() == f"{missing}: no such file"
    assert "Traceback" not in run.stderr
