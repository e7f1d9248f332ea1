"""The configuration file: every key valid and invalid, file-level problems, secrets, the CLI."""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from kiosk import config as cfg
from kiosk.config import (
    KioskConfig,
    ServerConfig,
    check_config,
    load_config,
    parse_config,
    resolve_secret,
)
from kiosk.config.messages import model_at
from kiosk.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.yaml"

MINIMAL: dict[str, Any] = {
    "server": {"url": "https://openvidu.example.org:4443"},
    "session": {"id": "Room1"},
}
SECRET = "S3cr3t-Value-42xyz"
TOKEN = "wss://openvidu.example.org:4443?sessionId=Room1&token=tok_AbCdEfGhIjKlMnOp"


def with_value(dotted: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL if base is None else base)
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def problems_of(data: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(dump(data))
    return info.value.problems


def pem_file(tmp_path: Path) -> str:
    certifi = pytest.importorskip("certifi")
    return str(certifi.where())


# --- every key: a valid and an invalid value -------------------------------------------------

VALID: list[tuple[str, Any]] = [
    ("server.url", "http://127.0.0.1:4443/"),
    ("server.url", "https://openvidu.example.org/base/path"),
    ("server.secret", "MY_SECRET"),
    ("server.secret_file", "/etc/kiosk/openvidu-secret"),
    ("server.application_url", "http://app.local:5000/api/token?room=1"),
    ("server.token", TOKEN),
    ("server.token", "ws://127.0.0.1:5443/?sessionId=Room1&token=tok_X&edition=ce"),
    ("server.verify_tls", False),
    ("server.ca_file", None),
    ("server.websocket_host", "openvidu.local:4443"),
    ("server.websocket_host", "[::1]:4443"),
    ("server.websocket_host", "10.0.0.2"),
    ("server.websocket_host", "wss://openvidu.local:4443"),
    ("server.websocket_host", "ws://[::1]:8080/"),
    ("server.allow_token_hosts", ["media.example.org", "10.0.0.7", "::1"]),
    ("server.allow_http_secret", True),
    ("server.timeout_seconds", 0.5),
    ("server.timeout_seconds", 120),
    ("session.id", "Room_1-a"),
    ("session.id", "x" * 100),
    ("session.name", "Salle de réunion Ünïcode"),
    ("session.role", "SUBSCRIBER"),
    ("session.role", "MODERATOR"),
    ("session.auto_join", False),
    ("media.camera.device", "/dev/video2"),
    ("media.camera.device", "none"),
    ("media.camera.device", "/dev/v4l/by-id/usb-Logitech_Webcam-video-index0"),
    ("media.camera.width", 1280),
    ("media.camera.height", 720),
    ("media.camera.fps", 15),
    ("media.camera.input_format", "mjpeg"),
    ("media.camera.input_format", None),
    ("media.microphone.device", "default"),
    ("media.microphone.device", "hw:1,0"),
    ("media.microphone.device", "plughw:CARD=Device,DEV=0"),
    ("media.microphone.device", "pulse:alsa_input.usb-mic"),
    ("media.microphone.device", "pipewire:mic"),
    ("media.microphone.device", "none"),
    ("media.speaker.device", "pulse:alsa_output.hdmi"),
    ("media.speaker.device", "none"),
    ("media.stall_seconds", 2.5),
    ("media.audio_buffer_ms", 20),
    ("media.audio_buffer_ms", 200),
    ("media.receive_all_video", True),
    ("media.video_keep_seconds", 0),
    ("media.video_keep_seconds", 600),
    ("media.workers", "auto"),
    ("media.workers", 0),
    ("media.workers", 8),
    ("media.heap_trim_seconds", 0),
    ("media.heap_trim_seconds", 3600),
    ("ice.host_addresses", ["127.0.0.1", "::1", "192.168.1.50"]),
    ("ice.loopback_only", True),
    ("display.driver", "kmsdrm"),
    ("display.driver", "dummy"),
    ("display.drawing", "textures"),
    ("display.drawing", "surface"),
    ("display.fullscreen", False),
    ("display.size", "1280x720"),
    ("display.size", None),
    ("display.main", "manual"),
    ("display.main", "self"),
    ("display.pin_seconds", 0),
    ("display.pin_seconds", 3600),
    ("display.strip", "side"),
    ("display.max_fps", 1),
    ("display.max_fps", 120),
    ("display.allow_quit", False),
    ("display.room_name", "Board room"),
    ("display.show_clock", False),
    ("buttons.pin_factory", "mock"),
    ("buttons.pin_factory", None),
    ("buttons.join_leave", {"pin": 17, "pull_up": False, "bounce_time": 0, "hold_seconds": 30}),
    ("buttons.next", {"pin": 0}),
    ("buttons.mute_mic", {"pin": 27, "bounce_time": 1}),
    ("buttons.camera", {"pin": 22, "hold_seconds": 0.5}),
    ("buttons.camera", None),
    ("leds.call", {"pin": 5, "active_high": False, "pwm": True}),
    ("leds.muted", {"pin": 6}),
    ("leds.camera_off", None),
    ("status.enabled", False),
    ("status.listen", "0.0.0.0:0"),
    ("status.listen", "[::1]:8080"),
    ("status.listen", "localhost:65535"),
    ("status.token_file", "/etc/kiosk/status-token"),
    ("status.screenshots", False),
    ("status.allowed_hosts", ["kiosk-lobby.example.org"]),
    ("status.max_connections", 1),
    ("status.max_connections", 256),
    ("logging.level", "DEBUG"),
    ("logging.format", "journald"),
    ("mqtt.enabled", False),
    ("mqtt.url", "mqtts://broker.example.org:8883"),
    ("mqtt.url", "mqtt://127.0.0.1"),
    ("mqtt.room_id", "room-4_B"),
    ("mqtt.client_id", "kiosk.room-4"),
    ("mqtt.username", "room-4"),
    ("mqtt.password_file", "/etc/kiosk/mqtt-password"),
    ("mqtt.ca_file", None),
    ("mqtt.topic_prefix", "site1/floor2/room-4"),
    ("mqtt.discovery", False),
    ("mqtt.discovery_prefix", "ha"),
    ("mqtt.state_interval_seconds", 5),
    ("mqtt.keepalive_seconds", 600),
    ("mqtt.control.join", False),
    ("mqtt.control.leave", False),
    ("mqtt.control.rejoin", False),
    ("mqtt.control.next", False),
    ("mqtt.control.mute", False),
    ("mqtt.control.unmute", True),
    ("mqtt.control.restart", False),
    ("mqtt.control.screenshot", True),
    ("mqtt.control.standby", False),
    ("display.layout", "gallery"),
    ("display.layout", "auto"),
    ("display.gallery_self", False),
    ("calendar.source", "caldav"),
    ("calendar.url", "https://cal.example.org/dav/rooms/4-12/"),
    ("calendar.url", "https://calendar.example.com/private-abc123/basic.ics?x=1"),
    ("calendar.username", "room-4"),
    ("calendar.password_file", None),
    ("calendar.verify_tls", False),
    ("calendar.ca_file", "/etc/kiosk/calendar-ca.pem"),
    ("calendar.timeout_seconds", 1),
    ("calendar.refresh_seconds", 60),
    ("calendar.join_before_minutes", 0),
    ("calendar.leave_after_minutes", 30),
    ("calendar.empty_grace_minutes", 0.5),
    ("calendar.timezone", "Europe/Berlin"),
    ("calendar.timezone", None),
    ("calendar.show_titles", False),
    ("calendar.agenda_count", 0),
    ("calendar.lookahead_hours", 24),
    ("standby.enabled", True),
    ("standby.after_minutes", 1),
    ("standby.meeting_within_minutes", 0),
    ("standby.method", "cec"),
    ("standby.method", "black"),
    ("standby.cec_device", "/dev/cec1"),
    ("standby.backlight", "/sys/class/backlight/10-0045"),
    ("occupancy.pin", 23),
    ("occupancy.pull_up", True),
    ("occupancy.hold_minutes", 2),
    ("occupancy.leave_empty_minutes", None),
]


@pytest.mark.parametrize(("key", "value"), VALID, ids=[f"{k}={v!r}"[:60] for k, v in VALID])
def test_valid_value_is_accepted(key: str, value: Any) -> None:
    config = parse_config(dump(with_value(key, value)))
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    if isinstance(node, BaseModel):
        for name, item in value.items():
            assert getattr(node, name) == item
    elif key in ("server.secret", "server.token"):
        assert node.get_secret_value() == value
    elif key == "server.url":
        assert node == value.rstrip("/")
    elif key != "server.secret_file":
        assert node == value


INVALID: list[tuple[str, Any, str, str]] = [
    # (key, value, problem path, text expected in the problem line)
    ("server.url", "ftp://x", "server.url", "expected https://… or http://…, got 'ftp://x'"),
    ("server.url", "https://h?x=1", "server.url", "without a ?query"),
    ("server.url", "https://h:99999", "server.url", "port"),
    ("server.url", "https://h#frag", "server.url", "fragment"),
    ("server.url", "openvidu.example.org", "server.url", "expected https://"),
    ("server.url", "https://", "server.url", "expected https://"),
    ("server.url", 4443, "server.url", "expected a string, got 4443"),
    ("server.secret", "", "server.secret", "empty"),
    ("server.secret", 12345678, "server.secret", "expected a string, got a number"),
    ("server.secret_file", "", "server.secret_file", "expected a file path"),
    ("server.secret_file", 5, "server.secret_file", "expected a string"),
    ("server.application_url", "ws://app", "server.application_url", "expected https://"),
    ("server.token", "https://h?sessionId=Room1&token=tok_x", "server.token", "ws://"),
    ("server.token", "wss://h?sessionId=Room1", "server.token", "without a token parameter"),
    ("server.token", "wss://h?token=tok_x", "server.token", "without a sessionId parameter"),
    ("server.verify_tls", "maybe", "server.verify_tls", "expected true or false, got 'maybe'"),
    ("server.ca_file", "/nonexistent/ca.pem", "server.ca_file", "No such file"),
    ("server.ca_file", "/", "server.ca_file", "directory"),
    ("server.websocket_host", "host:0", "server.websocket_host", "port 1–65535"),
    ("server.websocket_host", "a b", "server.websocket_host", "host or host:port"),
    ("server.websocket_host", "host:port", "server.websocket_host", "host or host:port"),
    ("server.websocket_host", "https://h", "server.websocket_host", "[ws://|wss://]host"),
    ("server.allow_token_hosts", ["a b"], "server.allow_token_hosts.0", "host name"),
    ("server.allow_token_hosts", "h", "server.allow_token_hosts", "expected a list"),
    ("server.allow_http_secret", "yes", "server.allow_http_secret", "true or false"),
    ("server.timeout_seconds", 0, "server.timeout_seconds", "more than 0 to 120"),
    ("server.timeout_seconds", 121, "server.timeout_seconds", "got 121"),
    ("server.timeout_seconds", "10", "server.timeout_seconds", "expected a number, got '10'"),
    ("session.id", "x" * 101, "session.id", "1–100 characters"),
    ("session.id", "room 1", "session.id", "got 'room 1'"),
    ("session.id", "", "session.id", "1–100 characters"),
    ("session.id", 1234, "session.id", "got 1234 (put it in quotes)"),
    ("session.name", "", "session.name", "1–64 characters"),
    ("session.name", "x" * 65, "session.name", "1–64 characters"),
    ("session.name", "a\nb", "session.name", "control characters"),
    ("session.role", "publisher", "session.role", "'PUBLISHER', 'SUBSCRIBER' or 'MODERATOR'"),
    ("session.auto_join", "no", "session.auto_join", "expected true or false, got 'no'"),
    ("media.camera.device", "/dev/sda", "media.camera.device", "/dev/video0"),
    ("media.camera.device", "webcam", "media.camera.device", "got 'webcam'"),
    ("media.camera.width", 8, "media.camera.width", "from 16 to 4096"),
    ("media.camera.width", "640", "media.camera.width", "expected a whole number, got '640'"),
    ("media.camera.height", 5000, "media.camera.height", "from 16 to 4096"),
    ("media.camera.fps", 0, "media.camera.fps", "from 1 to 120"),
    ("media.camera.fps", 30.5, "media.camera.fps", "expected a whole number, got 30.5"),
    ("media.camera.input_format", "rgb", "media.camera.input_format", "'mjpeg', 'yuyv' or 'h264'"),
    ("media.microphone.device", "hw:", "media.microphone.device", "got 'hw:'"),
    ("media.microphone.device", "mic", "media.microphone.device", "pulse:<source>"),
    ("media.microphone.device", "pulse:", "media.microphone.device", "got 'pulse:'"),
    ("media.speaker.device", "test-tone", "media.speaker.device", "pulse:<sink>"),
    ("media.stall_seconds", 0, "media.stall_seconds", "from 0.5 to 60"),
    ("media.stall_seconds", 61, "media.stall_seconds", "from 0.5 to 60"),
    ("media.audio_buffer_ms", 19, "media.audio_buffer_ms", "from 20 to 200"),
    ("media.audio_buffer_ms", 201, "media.audio_buffer_ms", "from 20 to 200"),
    ("media.audio_buffer_ms", 60.5, "media.audio_buffer_ms", "whole number"),
    ("media.receive_all_video", None, "media.receive_all_video", "expected true or false"),
    ("media.video_keep_seconds", 601, "media.video_keep_seconds", "from 0 to 600"),
    ("media.workers", 9, "media.workers", "expected auto or a whole number from 0 to 8, got 9"),
    ("media.workers", "many", "media.workers", "got 'many'"),
    ("media.workers", True, "media.workers", "got true"),
    ("media.heap_trim_seconds", -1, "media.heap_trim_seconds", "from 0 to 3600"),
    ("media.heap_trim_seconds", 3601, "media.heap_trim_seconds", "from 0 to 3600"),
    (
        "ice.host_addresses",
        ["127.0.0.1", "localhost"],
        "ice.host_addresses.1",
        "expected an IP address",
    ),
    ("ice.host_addresses", "127.0.0.1", "ice.host_addresses", "expected a list"),
    ("ice.loopback_only", 1, "ice.loopback_only", "expected true or false, got 1"),
    ("display.driver", "fbcon", "display.driver", "'kmsdrm'"),
    ("display.drawing", "gpu", "display.drawing", "'textures'"),
    ("display.fullscreen", "false", "display.fullscreen", "expected true or false"),
    ("display.size", "1280*720", "display.size", "WIDTHxHEIGHT"),
    ("display.size", "10x10", "display.size", "each 16–8192"),
    ("display.size", 1280, "display.size", "expected a string"),
    ("display.main", "speaker", "display.main", "'active-speaker', 'self' or 'manual'"),
    ("display.pin_seconds", -1, "display.pin_seconds", "from 0 to 3600"),
    ("display.strip", "top", "display.strip", "'auto', 'bottom' or 'side'"),
    ("display.max_fps", 0, "display.max_fps", "from 1 to 120"),
    ("display.max_fps", 121, "display.max_fps", "from 1 to 120"),
    ("display.allow_quit", None, "display.allow_quit", "expected true or false, got null"),
    ("display.room_name", "", "display.room_name", "1–64 characters"),
    ("display.show_clock", "on", "display.show_clock", "expected true or false"),
    ("buttons.pin_factory", "gpio", "buttons.pin_factory", "'lgpio'"),
    ("buttons.join_leave", {"pin": 28}, "buttons.join_leave.pin", "from 0 to 27, got 28"),
    (
        "buttons.join_leave",
        {"pin": 5, "hold_seconds": 0.1},
        "buttons.join_leave.hold_seconds",
        "0.5",
    ),
    ("buttons.next", {}, "buttons.next.pin", "required key is missing"),
    ("buttons.next", 5, "buttons.next", "expected a mapping"),
    ("buttons.mute_mic", {"pin": 5, "bounce_time": 2}, "buttons.mute_mic.bounce_time", "0 to 1"),
    ("buttons.camera", {"pin": 5, "pull_up": "yes"}, "buttons.camera.pull_up", "true or false"),
    ("leds.call", {"pin": -1}, "leds.call.pin", "from 0 to 27"),
    ("leds.muted", {"pin": 6, "active_high": "no"}, "leds.muted.active_high", "true or false"),
    ("leds.camera_off", {"pin": 6, "pwm": 1}, "leds.camera_off.pwm", "true or false"),
    ("status.enabled", "yes", "status.enabled", "true or false"),
    ("status.listen", "127.0.0.1", "status.listen", "(no port)"),
    ("status.listen", "127.0.0.1:70000", "status.listen", "port 0–65535"),
    ("status.listen", 8787, "status.listen", "expected a string"),
    ("status.token_file", "", "status.token_file", "expected a file path"),
    ("status.screenshots", "no way", "status.screenshots", "true or false"),
    ("status.allowed_hosts", ["http://x"], "status.allowed_hosts.0", "host name"),
    ("status.max_connections", 0, "status.max_connections", "1 to 256"),
    ("logging.level", "info", "logging.level", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    ("logging.level", "TRACE", "logging.level", "got 'TRACE'"),
    ("logging.format", "json", "logging.format", "'auto', 'journald' or 'plain'"),
    ("mqtt.enabled", "on", "mqtt.enabled", "true or false"),
    ("mqtt.url", "https://broker", "mqtt.url", "expected mqtt://host[:port] or mqtts://"),
    ("mqtt.room_id", "a/b", "mqtt.room_id", "A-Z a-z 0-9 _ -"),
    ("mqtt.client_id", "a b", "mqtt.client_id", "1–64 of A-Z"),
    ("mqtt.username", "", "mqtt.username", "printable ASCII"),
    ("mqtt.password_file", " ", "mqtt.password_file", "expected a file path"),
    ("mqtt.ca_file", "/nonexistent/ca.pem", "mqtt.ca_file", "PEM file of CA certificates"),
    ("mqtt.topic_prefix", "kiosk/+", "mqtt.topic_prefix", "no '+', '#'"),
    ("mqtt.discovery", 1, "mqtt.discovery", "true or false"),
    ("mqtt.discovery_prefix", "/ha", "mqtt.discovery_prefix", "topic levels"),
    ("mqtt.state_interval_seconds", 61, "mqtt.state_interval_seconds", "from 5 to 60"),
    ("mqtt.keepalive_seconds", 1, "mqtt.keepalive_seconds", "from 5 to 600"),
    ("mqtt.control.unmute", "yes", "mqtt.control.unmute", "true or false"),
    ("mqtt.control.join", 0, "mqtt.control.join", "true or false"),
    ("mqtt.control.leave", None, "mqtt.control.leave", "true or false"),
    ("mqtt.control.rejoin", "no", "mqtt.control.rejoin", "true or false"),
    ("mqtt.control.next", 2, "mqtt.control.next", "true or false"),
    ("mqtt.control.mute", "x", "mqtt.control.mute", "true or false"),
    ("mqtt.control.restart", 1.5, "mqtt.control.restart", "true or false"),
    ("mqtt.control.screenshot", [], "mqtt.control.screenshot", "true or false"),
    ("mqtt.control.standby", "x", "mqtt.control.standby", "true or false"),
    ("display.layout", "grid", "display.layout", "'speaker', 'gallery' or 'auto'"),
    ("display.gallery_self", "yes", "display.gallery_self", "true or false"),
    ("calendar.source", "webdav", "calendar.source", "'ics' or 'caldav'"),
    ("calendar.url", "webcal://cal.example.org/x.ics", "calendar.url", "https://"),
    ("calendar.username", "room 4", "calendar.username", "printable ASCII"),
    ("calendar.password_file", " ", "calendar.password_file", "expected a file path"),
    ("calendar.verify_tls", "no", "calendar.verify_tls", "true or false"),
    ("calendar.ca_file", "", "calendar.ca_file", "expected a file path"),
    ("calendar.timeout_seconds", 0, "calendar.timeout_seconds", "from 1 to 120"),
    ("calendar.refresh_seconds", 5, "calendar.refresh_seconds", "from 10 to 86400"),
    ("calendar.join_before_minutes", 61, "calendar.join_before_minutes", "from 0 to 60"),
    ("calendar.leave_after_minutes", -1, "calendar.leave_after_minutes", "from 0 to 240"),
    ("calendar.empty_grace_minutes", 90, "calendar.empty_grace_minutes", "from 0 to 60"),
    ("calendar.timezone", "Mars/Olympus", "calendar.timezone", "IANA time zone"),
    ("calendar.show_titles", 1, "calendar.show_titles", "true or false"),
    ("calendar.agenda_count", 11, "calendar.agenda_count", "from 0 to 10"),
    ("calendar.lookahead_hours", 0, "calendar.lookahead_hours", "from 1 to 336"),
    ("standby.enabled", "on", "standby.enabled", "true or false"),
    ("standby.after_minutes", 0, "standby.after_minutes", "from 0.1 to 1440"),
    ("standby.meeting_within_minutes", 300, "standby.meeting_within_minutes", "from 0 to 240"),
    ("standby.method", "vcgencmd", "standby.method", "'auto', 'cec', 'backlight' or 'black'"),
    ("standby.cec_device", "/dev/video0", "standby.cec_device", "CEC device"),
    ("standby.backlight", "/tmp/x", "standby.backlight", "/sys/class/backlight/"),
    ("occupancy.pin", 28, "occupancy.pin", "from 0 to 27"),
    ("occupancy.pull_up", None, "occupancy.pull_up", "true or false"),
    ("occupancy.hold_minutes", 0, "occupancy.hold_minutes", "from 0.1 to 120"),
    ("occupancy.leave_empty_minutes", 0, "occupancy.leave_empty_minutes", "from 1 to 240"),
]


@pytest.mark.parametrize(
    ("key", "value", "path", "text"),
    INVALID,
    ids=[f"{k}={v!r}"[:60] for k, v, _, _ in INVALID],
)
def test_invalid_value_is_one_clear_problem(key: str, value: Any, path: str, text: str) -> None:
    problems = problems_of(with_value(key, value))
    assert len(problems) == 1, problems
    line = problems[0]
    assert line.startswith(f"{path}: "), line
    assert text in line, line
    assert "pydantic" not in line and "Value error" not in line and "\n" not in line


def leaf_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted keys of every setting; optional button/LED entries count as one key each."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            found |= leaf_keys(ann, f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def test_every_key_has_valid_and_invalid_cases() -> None:
    keys = leaf_keys(KioskConfig)
    assert len(keys) > 40
    assert keys - {k for k, _ in VALID} == set()
    assert keys - {k for k, _, _, _ in INVALID} == set()


def test_the_example_file_is_valid_and_documents_every_key() -> None:
    ok = check_config(EXAMPLE, env={"KIOSK_OPENVIDU_SECRET": "s"}, unit=None, devices=False)
    assert ok == (0, ["OK"])
    config = load_config(EXAMPLE)
    assert config.server.url == "https://openvidu.example.org:4443"
    assert config.display.room_name == config.session.name

    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))

    def check(model: type[BaseModel], node: dict[str, Any], prefix: str) -> None:
        assert set(node) == set(model.model_fields), prefix
        for name in model.model_fields:
            sub = model_at(tuple(f"{prefix}{name}".split(".")))
            if sub is not None and isinstance(node[name], dict):
                check(sub, node[name], f"{prefix}{name}.")

    check(KioskConfig, data, "")
    # One full button and one full LED entry show their keys.
    assert set(data["buttons"]["join_leave"]) == {"pin", "pull_up", "bounce_time", "hold_seconds"}
    assert set(data["leds"]["call"]) == {"pin", "active_high", "pwm"}
    # Every key line is explained by a comment somewhere above it in its block.
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count("#") > 60


def test_defaults_of_a_minimal_file() -> None:
    config = parse_config(dump(MINIMAL))
    assert config.server.verify_tls is True
    assert config.server.timeout_seconds == 10
    assert config.server.token_mode == "secret"
    assert config.session.name == "Meeting room"
    assert config.session.role == "PUBLISHER"
    # Real devices by default: synthetic media only when asked for (demo, bots, tests).
    assert config.media.camera.device == "auto"
    assert (config.media.camera.width, config.media.camera.height) == (640, 480)
    assert config.media.microphone.device == "default"
    assert config.media.speaker.device == "default"
    assert config.media.audio_buffer_ms == 60
    assert config.ice.host_addresses == []
    assert config.display.max_fps == 60
    assert config.display.room_name == "Meeting room"
    assert config.buttons.join_leave is None
    assert config.leds.call is None
    assert (config.status.host, config.status.port) == ("127.0.0.1", 8787)
    assert config.logging.level == "INFO"


def test_yaml_yes_no_are_booleans_and_empty_sections_mean_defaults() -> None:
    text = (
        "server:\n  url: http://h\n  verify_tls: no\n"
        "session:\n  id: r\n  auto_join: yes\n"
        "media:\n  camera:\n"
        "display:\n  size: 800x600\n  room_name: Lobby\n"
        "status:\n  listen: '[::1]:9000'\n"
    )
    config = parse_config(text)
    assert config.server.verify_tls is False
    assert config.session.auto_join is True
    assert config.media.camera.device == "auto"
    assert config.display.size_pixels == (800, 600)
    assert config.display.room_name == "Lobby"
    assert (config.status.host, config.status.port) == ("::1", 9000)


def test_websocket_host_is_split() -> None:
    config = parse_config(dump(with_value("server.websocket_host", "[::1]:4443")))
    assert config.server.websocket_host_port == ("[::1]", 4443)
    config = parse_config(dump(with_value("server.websocket_host", "kiosk-server")))
    assert config.server.websocket_host_port == ("kiosk-server", None)
    config = parse_config(dump(with_value("server.websocket_host", "ws://kiosk-server:80")))
    assert config.server.websocket_host_port == ("kiosk-server", 80)


def test_ca_file_must_be_a_readable_pem_file(tmp_path: Path) -> None:
    good = pem_file(tmp_path)
    config = parse_config(dump(with_value("server.ca_file", good)))
    assert config.server.ca_file == good
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    [line] = problems_of(with_value("server.ca_file", str(junk)))
    assert line.startswith("server.ca_file: ") and "PEM" in line and str(junk) in line


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    certifi = pytest.importorskip("certifi")
    (tmp_path / "ca.pem").write_bytes(Path(certifi.where()).read_bytes())
    data = with_value("server.ca_file", "ca.pem")
    data["server"]["secret_file"] = "secret.txt"
    path = tmp_path / "kiosk.yaml"
    path.write_text(dump(data))
    config = load_config(path)
    assert config.server.ca_file == str(tmp_path / "ca.pem")
    assert config.server.secret_file == str(tmp_path / "secret.txt")


# --- unknown keys -----------------------------------------------------------------------------

SECTIONS = [
    "",
    "server",
    "session",
    "media",
    "media.camera",
    "media.microphone",
    "media.speaker",
    "ice",
    "display",
    "buttons",
    "buttons.join_leave",
    "buttons.next",
    "leds",
    "leds.call",
    "status",
    "logging",
    "mqtt",
    "mqtt.control",
]


@pytest.mark.parametrize("section", SECTIONS)
def test_unknown_key_is_rejected_with_its_path(section: str) -> None:
    data = copy.deepcopy(MINIMAL)
    data.setdefault("buttons", {}).update({"join_leave": {"pin": 17}, "next": {"pin": 18}})
    data.setdefault("leds", {})["call"] = {"pin": 19}
    node: dict[str, Any] = data
    for part in filter(None, section.split(".")):
        node = node.setdefault(part, {})
    node["bogus_key"] = "x"
    path = f"{section}.bogus_key" if section else "bogus_key"
    [line] = problems_of(data)
    assert line.startswith(f"{path}: unknown key"), line


def test_unknown_key_suggests_the_closest_one() -> None:
    data = with_value("server.verfy_tls", False)
    [line] = problems_of(data)
    assert line.startswith("server.verfy_tls: unknown key (did you mean 'verify_tls'?)"), line
    [line] = problems_of(with_value("buttons.mute", {"pin": 4}))
    assert "'mute_mic'" in line and "join_leave, next, mute_mic, camera" in line


def test_non_string_key_is_rejected() -> None:
    [line] = problems_of({**MINIMAL, 5: "x"})
    assert line.startswith("5: unknown key"), line


def test_missing_required_keys_and_sections() -> None:
    problems = problems_of({"server": {}, "session": {}})
    assert problems == [
        "server.url: required key is missing (line 1)",
        "session.id: required key is missing (line 2)",
    ]
    problems = problems_of({"display": {}})
    assert [p.split(":")[0] for p in problems] == ["server", "session"]


def test_all_problems_are_reported_at_once_with_line_numbers() -> None:
    text = (
        "server:\n"
        "  url: ftp://x\n"
        "  timeout_seconds: '10'\n"
        "session:\n"
        "  id: Room1\n"
        "display:\n"
        "  max_fps: 500\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="kiosk.yaml")
    assert info.value.problems == [
        "server.url: expected https://… or http://…, got 'ftp://x' (line 2)",
        "server.timeout_seconds: expected a number, got '10' (line 3)",
        "display.max_fps: expected a number from 1 to 120, got 500 (line 7)",
    ]
    assert str(info.value) == (
        "kiosk.yaml: server.url: expected https://… or http://…, got 'ftp://x' (line 2) (+2 more)"
    )


# --- cross checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("buttons.join_leave", "buttons.camera"),
        ("buttons.next", "leds.call"),
        ("leds.muted", "leds.camera_off"),
    ],
)
def test_the_same_pin_twice_names_both_keys(first: str, second: str) -> None:
    data = with_value(first, {"pin": 23})
    data = with_value(second, {"pin": 23}, base=data)
    data = with_value("buttons.mute_mic", {"pin": 24}, base=data)
    [line] = problems_of(data)
    assert f"{first}.pin" in line and f"{second}.pin" in line and "23" in line, line


def test_at_most_one_token_source() -> None:
    data = with_value("server.secret", SECRET)
    data["server"]["application_url"] = "https://app.example.org/token"
    [line] = problems_of(data)
    assert line.startswith("server: expected at most one of"), line
    assert "secret and application_url" in line
    assert SECRET not in line


@pytest.mark.parametrize(
    ("key", "value", "mode"),
    [
        ("server.application_url", "https://app.example.org/t", "application"),
        ("server.token", TOKEN, "token"),
        ("server.secret_file", "/run/secret", "secret"),
    ],
)
def test_token_mode(key: str, value: str, mode: str) -> None:
    assert parse_config(dump(with_value(key, value))).server.token_mode == mode


def test_token_must_be_for_the_configured_session() -> None:
    data = with_value("server.token", TOKEN.replace("Room1", "OtherRoom"))
    [line] = problems_of(data)
    assert line.startswith("server.token: the token is for session 'OtherRoom'"), line
    assert "tok_" not in line


# --- the file itself --------------------------------------------------------------------------


def write(tmp_path: Path, text: str | bytes, name: str = "kiosk.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def file_problems(path: Path) -> list[str]:
    code, lines = check_config(path)
    assert code == 2
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: ")
    return lines


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  url: http://h\n session: [\n")
    [line] = file_problems(path)
    assert line.startswith(f"{path}: not valid YAML at line 3"), line


def test_tab_indentation_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n\turl: http://h\n")
    [line] = file_problems(path)
    assert "not valid YAML at line 2" in line, line


def test_duplicated_key_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  url: http://a\n  url: http://b\nsession: {id: r}\n")
    assert file_problems(path) == ["server.url: key appears twice (lines 2 and 3); keep one"]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    [line] = file_problems(path)
    assert line == f"{path}: the configuration is empty; expected at least the server: and " + (
        "session: sections"
    )


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a\n- b\n", "a list of 2 items"), ("just words\n", "a string"), ("42\n", "a number")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    [line] = file_problems(write(tmp_path, text))
    assert line.endswith(f"at the top level, got {got}"), line


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert file_problems(path) == [f"{path}: no such file"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert file_problems(tmp_path) == [f"{tmp_path}: is a directory, not a configuration file"]


def test_path_through_a_file_is_unreadable(tmp_path: Path) -> None:
    # Root cannot read this either: a regular file is used as a directory.
    path = write(tmp_path, "x: 1\n") / "kiosk.yaml"
    [line] = file_problems(path)
    assert line.startswith(f"{path}: cannot read the file: "), line


def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, dump(MINIMAL))
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop root from reading")
        assert file_problems(path) == [f"{path}: cannot read the file: permission denied"]
    finally:
        path.chmod(0o600)


def test_binary_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"server:\n  url: http://h\n\xff\xfe\x00garbage\n")
    [line] = file_problems(path)
    assert line == f"{path}: not UTF-8 text (bad byte at line 3); is it the right file?"


def test_huge_file(tmp_path: Path) -> None:
    path = write(tmp_path, "# " + "x" * (cfg.MAX_FILE_BYTES + 10) + "\n")
    [line] = file_problems(path)
    assert "larger than" in line


@pytest.mark.parametrize(
    "text",
    [
        "server: {url: http://h}\nsession: {id: r}\nwhen: 2024-13-45\n",
        "a: " + "[" * 3000 + "]" * 3000 + "\n",
        "a: &x [*x]\nserver: {url: http://h}\nsession: {id: r}\n",
        "a: *undefined\n",
        "--- a\n--- b\n",
        "server: !!python/object:os.system {}\n",
        "server:\n  url: http://h\x1f\n",
    ],
    ids=[
        "bad-date",
        "deep",
        "recursive-alias",
        "undefined-alias",
        "two-docs",
        "python-tag",
        "control-character",
    ],
)
def test_odd_yaml_is_one_problem_not_a_traceback(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.problems
    assert all("\n" not in p and "Traceback" not in p for p in info.value.problems)


def test_control_character_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("server:\n  url: http://h\x1f\n")
    assert info.value.problems == ["not valid YAML at line 2: character U+001F not allowed"]


def test_parse_config_reports_its_source() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[]")
    assert str(info.value).startswith("<string>: expected a mapping")


# --- secrets ----------------------------------------------------------------------------------


def server(**values: Any) -> ServerConfig:
    return parse_config(dump(with_value("server", {"url": "http://h", **values}))).server


def test_secret_resolution_order(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "openvidu-secret").write_text("from-credential\n")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("  from-file \n")
    env = {"KIOSK_OPENVIDU_SECRET": "from-env", "CREDENTIALS_DIRECTORY": str(creds)}

    assert resolve_secret(server(secret="from-config"), env) == "from-config"
    assert resolve_secret(server(secret_file=str(secret_file)), env) == "from-file"
    assert resolve_secret(server(), env) == "from-env"
    assert resolve_secret(server(), {**env, "KIOSK_OPENVIDU_SECRET": ""}) == "from-credential"
    assert resolve_secret(server(), {"CREDENTIALS_DIRECTORY": str(creds)}) == "from-credential"
    assert resolve_secret(server(), {"CREDENTIALS_DIRECTORY": str(tmp_path)}) is None
    assert resolve_secret(server(), {}) is None


def test_no_secret_is_used_with_an_application_server_or_a_token() -> None:
    env = {"KIOSK_OPENVIDU_SECRET": "from-env"}
    assert resolve_secret(server(application_url="http://app/t"), env) is None
    assert resolve_secret(server(token=TOKEN), env) is None


def test_secret_from_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_OPENVIDU_SECRET", "env-default-secret")
    assert resolve_secret(server()) == "env-default-secret"


@pytest.mark.parametrize("problem", ["missing", "directory", "empty", "binary"])
def test_unusable_secret_file_names_key_and_file(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "secret.txt"
    if problem == "directory":
        path.mkdir()
    elif problem == "empty":
        path.write_text(" \n")
    elif problem == "binary":
        path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as info:
        resolve_secret(server(secret_file=str(path)), {})
    [line] = info.value.problems
    assert line.startswith("server.secret_file: ") and str(path) in line, line


def test_unreadable_credential_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "openvidu-secret").mkdir()
    with pytest.raises(ConfigError) as info:
        resolve_secret(server(), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert "openvidu-secret" in str(info.value)


def test_check_config_reads_the_secret_file(tmp_path: Path) -> None:
    path = write(tmp_path, dump(with_value("server.secret_file", "missing-secret")))
    code, lines = check_config(path, devices=False)
    assert code == 2
    assert lines == [
        f"server.secret_file: cannot read '{tmp_path / 'missing-secret'}': no such file"
    ]
    (tmp_path / "missing-secret").write_text("s3cret\n")
    assert check_config(path, devices=False) == (0, ["OK"])


def test_loaded_secrets_are_redacted_from_logs() -> None:
    from kiosk.redact import redact

    secret = "Redact-Me-Secret-77"
    parse_config(dump(with_value("server.secret", secret)))
    assert redact(f"connecting with {secret}") == "connecting with ***"
    resolved = "Credential-Secret-88"
    assert resolve_secret(server(), {"KIOSK_OPENVIDU_SECRET": resolved}) == resolved
    assert resolved not in redact(f"got {resolved}")


def test_secret_is_never_echoed(tmp_path: Path) -> None:
    bad_token = f"https://h?sessionId=Room1&token={SECRET}"
    cases: list[dict[str, Any]] = [
        with_value("server.secrte", SECRET),
        with_value("server.secret", int("9" * 18)),
        with_value("server.token", bad_token),
        with_value("server.token", f"wss://h?sessionId=Other&token={SECRET}"),
        with_value("server.url", f"https://admin:{SECRET}@openvidu.example.org"),
        {**with_value("server.secret", SECRET), "session": {"id": "bad id"}},
        with_value("server", {"url": "http://h", "secret": SECRET, "token": TOKEN}),
        with_value("server", [SECRET]),
    ]
    for data in cases:
        path = write(tmp_path, dump(data))
        code, lines = check_config(path)
        assert code == 2
        with pytest.raises(ConfigError) as info:
            load_config(path)
        for text in [*lines, str(info.value), *info.value.problems]:
            assert SECRET not in text, text
            assert "9" * 18 not in text, text
            assert "tok_AbCdEfGhIjKlMnOp" not in text, text


# --- the CLI ----------------------------------------------------------------------------------


def run_cli(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    parser = argparse.ArgumentParser(prog="kiosk check-config")
    cfg.add_arguments(parser)
    code = cfg.main_from_args(parser.parse_args(["--no-devices", str(path)]))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    if code == 0:  # OK on stdout, problems on stderr
        assert captured.err == ""
        return code, captured.out.splitlines()
    assert captured.out == ""
    return code, captured.err.splitlines()


def test_cli_ok(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_OPENVIDU_SECRET", "s")
    assert run_cli(EXAMPLE, capsys) == (0, ["OK"])


def test_cli_prints_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = with_value("server.url", "ftp://x")
    data = with_value("display.driver", "fbcon", base=data)
    data = with_value("ice.host_addresses", ["::1", "no-ip", "10.0.0.300"], base=data)
    code, lines = run_cli(write(tmp_path, dump(data)), capsys)
    assert code == 2
    assert [line.split(":")[0] for line in lines] == [
        "server.url",
        "ice.host_addresses.1",
        "ice.host_addresses.2",
        "display.driver",
    ]


@pytest.mark.parametrize("text", ["", "a: [\n", "- 1\n"])
def test_cli_file_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    path = write(tmp_path, text)
    code, lines = run_cli(path, capsys)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"{path}: ")


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path / "x.yaml", capsys) == (2, [f"{tmp_path / 'x.yaml'}: no such file"])


@pytest.mark.integration  # a `kiosk` child process
def test_kiosk_command_check_config(tmp_path: Path) -> None:
    """The real console entry: exit codes and output, no traceback, no secret."""
    good = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "check-config", "--no-devices", str(EXAMPLE)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
        env={**os.environ, "KIOSK_OPENVIDU_SECRET": "s"},
    )
    assert (good.returncode, good.stdout, good.stderr) == (0, "OK\n", "")
    data = with_value("server.secret", SECRET)
    data = with_value("session.role", "admin", base=data)
    data = with_value("leds.call", {"pin": 3, "blink": True}, base=data)
    bad = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "check-config", str(write(tmp_path, dump(data)))],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    lines = bad.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["session.role", "leds.call.blink"]
    assert "Traceback" not in bad.stderr and SECRET not in bad.stdout + bad.stderr


# --- random input never escapes as anything but ConfigError ----------------------------------

_KEY_NAMES: list[str] = sorted(
    {
        name
        for model in (
            KioskConfig,
            cfg.ServerConfig,
            cfg.SessionConfig,
            cfg.MediaConfig,
            cfg.CameraConfig,
            cfg.IceConfig,
            cfg.DisplayConfig,
            cfg.ButtonsConfig,
            cfg.ButtonConfig,
            cfg.LedsConfig,
            cfg.LedConfig,
            cfg.StatusConfig,
            cfg.LoggingConfig,
        )
        for name in model.model_fields
    }
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["http://h", "wss://h?sessionId=r&token=t", "127.0.0.1:0", "1x1", "none"]),
)
_keys = st.one_of(st.sampled_from(_KEY_NAMES), st.text(max_size=12), st.integers(0, 5))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)
_documents = st.dictionaries(
    st.sampled_from(_KEY_NAMES),
    st.one_of(_values, st.dictionaries(st.sampled_from(_KEY_NAMES), _values, max_size=6)),
    max_size=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents)
def test_random_mappings_only_raise_config_error(document: dict[str, Any]) -> None:
    try:
        text = yaml.safe_dump(document, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        parse_config(text)
    except ConfigError as exc:
        assert exc.problems and all("\n" not in p for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n\t ,?%@`01yesno.")), max_size=80))
def test_random_text_only_raises_config_error(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert exc.problems and all("\n" not in p for p in exc.problems)


def test_status_token_from_file_or_credential(tmp_path: Path) -> None:
    from kiosk.config import resolve_status_token

    token_file = tmp_path / "status-token"
    token_file.write_text("  0123456789abcdef-status \n", encoding="utf-8")
    status = parse_config(dump(with_value("status.token_file", str(token_file)))).status
    assert resolve_status_token(status, env={}) == "0123456789abcdef-status"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "status-token").write_text("from-the-credential-0123", encoding="utf-8")
    plain = parse_config(dump(MINIMAL)).status
    assert resolve_status_token(plain, env={"CREDENTIALS_DIRECTORY": str(creds)}) == (
        "from-the-credential-0123"
    )
    assert resolve_status_token(plain, env={}) is None
    token_file.write_text("short", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least 16"):
        resolve_status_token(status, env={})


def test_room_feature_cross_checks_and_calendar_url_not_echoed() -> None:
    leave = with_value("occupancy.leave_empty_minutes", 10)
    (line,) = problems_of(leave)
    assert line.startswith("occupancy.leave_empty_minutes: needs occupancy.pin (a PIR sensor)")
    assert parse_config(dump(with_value("occupancy.pin", 23, leave))).occupancy.pin == 23
    password = with_value("calendar.password_file", "/etc/kiosk/calendar-password")
    (line,) = problems_of(password)
    assert line.startswith("calendar.password_file: needs calendar.username")
    (line,) = problems_of(with_value("calendar.url", "ftp://cal.example.org/private-s3cr3t"))
    assert "s3cr3t" not in line
    both = with_value("occupancy.pin", 17, with_value("buttons.next", {"pin": 17}))
    assert any(
        "occupancy.pin: GPIO 17 is also used by buttons.next.pin" in p for p in problems_of(both)
    )
