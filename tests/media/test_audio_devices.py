"""Audio device checks at start: a missing microphone or speaker is one clear line, never a hang.

Tool outputs below are the formats of PipeWire 0.3.65 / pulseaudio-utils 16.1 (Debian 12), as
captured from a PipeWire running the shipped echo-cancel config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import MicrophoneConfig, SpeakerConfig
from kiosk.media.audio_devices import (
    PROC_ASOUND,
    check_all,
    check_all_async,
    check_audio_device,
    parse_alsa_name,
    read_alsa_cards,
)

REPO = Path(__file__).resolve().parents[2]
AEC_CONF = REPO / "systemd" / "pipewire" / "99-kiosk-echo-cancel.conf"
AUDIO_DOC = REPO / "docs" / "audio.md"

# A Raspberry Pi 4 with two HDMI outputs and a USB speakerphone.
PI_CARDS = """\
 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
 1 [Device         ]: USB-Audio - USB PnP Sound Device
                      C-Media Electronics Inc. USB PnP Sound Device at usb-0000:01:00.0-1.3, full
"""
PI_PCM = """\
00-00: MAI PCM i2s-hifi-0 : MAI PCM i2s-hifi-0 : playback 1
01-00: USB Audio : USB Audio : playback 1 : capture 1
"""

SOURCES = (
    "33\talsa_output.platform-fef00700.hdmi.hdmi-stereo.monitor\tPipeWire\ts32le 2ch 48000Hz"
    "\tSUSPENDED\n"
    "34\tkiosk-echo-cancel-source\tPipeWire\tfloat32le 1ch 48000Hz\tSUSPENDED\n"
    "35\tkiosk-echo-cancel-sink.monitor\tPipeWire\tfloat32le 1ch 48000Hz\tSUSPENDED\n"
    "52\talsa_input.usb-C-Media_Electronics_Inc._USB_PnP_Sound_Device-00.mono-fallback"
    "\tPipeWire\ts16le 1ch 48000Hz\tRUNNING\n"
)
SINKS = (
    "33\talsa_output.platform-fef00700.hdmi.hdmi-stereo\tPipeWire\ts32le 2ch 48000Hz\tSUSPENDED\n"
    "35\tkiosk-echo-cancel-sink\tPipeWire\tfloat32le 1ch 48000Hz\tSUSPENDED\n"
)
NODES = """\
\tid 28, type PipeWire:Interface:Node/3
 \t\tobject.serial = "29"
 \t\tfactory.id = "10"
 \t\tpriority.driver = "20000"
 \t\tnode.name = "Dummy-Driver"
\tid 32, type PipeWire:Interface:Node/3
 \t\tobject.serial = "33"
 \t\tfactory.id = "17"
 \t\tclient.id = "31"
 \t\tnode.description = "Kiosk echo-cancel capture"
 \t\tnode.name = "kiosk-echo-cancel-capture"
 \t\tmedia.class = "Stream/Input/Audio"
\tid 33, type PipeWire:Interface:Node/3
 \t\tobject.serial = "34"
 \t\tfactory.id = "17"
 \t\tclient.id = "31"
 \t\tnode.description = "Kiosk microphone (echo cancelled)"
 \t\tnode.name = "kiosk-echo-cancel-source"
 \t\tmedia.class = "Audio/Source"
\tid 34, type PipeWire:Interface:Node/3
 \t\tobject.serial = "35"
 \t\tfactory.id = "17"
 \t\tclient.id = "31"
 \t\tnode.description = "Kiosk speaker (echo reference)"
 \t\tnode.name = "kiosk-echo-cancel-sink"
 \t\tmedia.class = "Audio/Sink"
"""
PACTL_REFUSED = (
    "Connection failure: Connection refused\npa_context_connect() failed: Connection refused\n"
)
PW_CLI_REFUSED = 'Error: "failed to connect: Host is down"\n'

ENV = {"XDG_RUNTIME_DIR": "/run/user/999", "PATH": "/usr/bin:/bin"}


@pytest.fixture
def asound(tmp_path: Path) -> Path:
    root = tmp_path / "asound"
    root.mkdir()
    (root / "cards").write_text(PI_CARDS)
    (root / "pcm").write_text(PI_PCM)
    return root


class FakeRunner:
    """Answers like subprocess.run for the tools it knows; records every call."""

    def __init__(self, answers: Mapping[str, object]) -> None:
        self.answers = dict(answers)  # "pactl list short sources" → stdout | (rc, out, err) | exc
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(argv), kwargs))
        key = " ".join(argv)
        if argv[0] not in {k.split()[0] for k in self.answers}:
            raise FileNotFoundError(2, "No such file or directory", argv[0])
        answer = self.answers[key]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, tuple):
            rc, out, err = answer
            return subprocess.CompletedProcess(list(argv), int(rc), str(out), str(err))
        return subprocess.CompletedProcess(list(argv), 0, str(answer), "")

    @property
    def commands(self) -> list[str]:
        return [" ".join(argv) for argv, _ in self.calls]


def one_line(problem: str | None) -> str:
    assert problem is not None
    assert "\n" not in problem and len(problem) < 400
    return problem


# --- ALSA ----------------------------------------------------------------------------------


def test_missing_alsa_card_names_the_device_the_cards_and_the_tool(asound: Path) -> None:
    problem = check_audio_device("microphone", "hw:2,0", proc_asound=asound)
    assert one_line(problem) == (
        "microphone 'hw:2,0': no such ALSA card 2 (cards: 0 'vc4hdmi0', 1 'Device'); "
        "see 'arecord -l'"
    )
    problem = check_audio_device("speaker", "plughw:CARD=USB,DEV=0", proc_asound=asound)
    assert one_line(problem) == (
        "speaker 'plughw:CARD=USB,DEV=0': no such ALSA card 'USB' "
        "(cards: 0 'vc4hdmi0', 1 'Device'); see 'aplay -l'"
    )


@pytest.mark.parametrize(
    ("kind", "device"),
    [
        ("microphone", "hw:1,0"),
        ("microphone", "hw:1"),
        ("microphone", "plughw:1,0"),
        ("microphone", "plughw:CARD=Device,DEV=0"),
        ("microphone", "hw:Device,0"),
        ("microphone", "alsa:plughw:CARD=Device"),
        ("speaker", "hw:0,0"),
        ("speaker", "plughw:CARD=vc4hdmi0"),
        ("speaker", "sysdefault:CARD=Device"),
        ("speaker", "hw:1,0"),
    ],
)
def test_present_alsa_devices_pass(asound: Path, kind: Any, device: str) -> None:
    assert check_audio_device(kind, device, proc_asound=asound) is None


def test_card_without_the_needed_direction_or_device(asound: Path) -> None:
    # The HDMI card can play but not record: a microphone there is a mistake worth naming.
    problem = one_line(check_audio_device("microphone", "hw:0,0", proc_asound=asound))
    assert problem == (
        "microphone 'hw:0,0': ALSA card 0 'vc4hdmi0' has no capture device 0 "
        "(it has no capture devices); see 'arecord -l'"
    )
    problem = one_line(check_audio_device("microphone", "plughw:1,3", proc_asound=asound))
    assert "ALSA card 1 'Device' has no capture device 3 (capture devices: 0)" in problem


def test_card_ids_are_case_sensitive_and_the_line_says_so(asound: Path) -> None:
    problem = one_line(check_audio_device("speaker", "plughw:CARD=device", proc_asound=asound))
    assert "no such ALSA card 'device'" in problem and "case-sensitive" in problem


def test_no_sound_cards_at_all(tmp_path: Path) -> None:
    (tmp_path / "cards").write_text("--- no soundcards ---\n")
    problem = one_line(check_audio_device("speaker", "hw:0,0", proc_asound=tmp_path))
    assert problem == "speaker 'hw:0,0': no such ALSA card 0 (no sound cards found); see 'aplay -l'"
    empty = tmp_path / "nothing"
    problem = one_line(check_audio_device("microphone", "hw:1,0", proc_asound=empty))
    assert f"no sound cards: {empty / 'cards'} not found" in problem


def test_without_a_pcm_list_only_the_card_is_checked(asound: Path) -> None:
    (asound / "pcm").unlink()
    assert check_audio_device("microphone", "hw:1,7", proc_asound=asound) is None
    assert check_audio_device("microphone", "hw:3,0", proc_asound=asound) is not None


def test_names_that_cannot_be_checked_are_a_logged_note_not_a_problem(
    asound: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.media.audio_devices")
    for device in ("dmix", "plug:{ slave.pcm hw }", "pipewire", "jack:system"):
        assert check_audio_device("speaker", device, proc_asound=asound) is None
    assert "speaker 'dmix': not checked" in caplog.text
    # An unreadable cards file: cannot check, so no false alarm.
    unreadable = asound.parent / "unreadable"
    (unreadable / "cards").mkdir(parents=True)
    assert check_audio_device("speaker", "hw:0,0", proc_asound=unreadable) is None
    assert "speaker 'hw:0,0': not checked" in caplog.text


def test_parse_alsa_names_and_read_cards(asound: Path) -> None:
    assert parse_alsa_name("plughw:CARD=Device,DEV=2") is not None
    parsed = parse_alsa_name("hw:1")
    assert parsed is not None and (parsed.card, parsed.device) == ("1", 0)
    parsed = parse_alsa_name('plughw:CARD="Device"')
    assert parsed is not None and (parsed.card, parsed.device) == ("Device", 0)
    assert parse_alsa_name("default") is None and parse_alsa_name("hw:1,x") is None
    cards = read_alsa_cards(asound)
    assert [(c.index, c.id) for c in cards] == [(0, "vc4hdmi0"), (1, "Device")]
    assert cards[1].name == "USB-Audio - USB PnP Sound Device"


@pytest.mark.parametrize("device", ["test-tone", "none", "default", "", "  default "])
def test_synthetic_and_default_devices_need_no_check(device: str) -> None:
    runner = FakeRunner({})
    assert check_audio_device("microphone", device, runner=runner, env=ENV) is None
    assert runner.calls == []


def test_this_machine_reports_a_missing_alsa_card_clearly() -> None:
    cards = read_alsa_cards(PROC_ASOUND)
    if len(cards) >= 32:
        pytest.skip("this machine has every ALSA card index in use")
    problem = one_line(check_audio_device("microphone", "hw:31,0"))
    assert problem.startswith("microphone 'hw:31,0': no such ALSA card 31 (")
    assert problem.endswith("see 'arecord -l'")
    if not (PROC_ASOUND / "cards").exists():
        assert "no sound cards: /proc/asound/cards not found" in problem


# --- PulseAudio / PipeWire via pactl -------------------------------------------------------


def test_pulse_device_present_runs_pactl_with_a_timeout() -> None:
    runner = FakeRunner({"pactl list short sources": SOURCES, "pactl list short sinks": SINKS})
    assert (
        check_all(
            "pulse:kiosk-echo-cancel-source", "pulse:kiosk-echo-cancel-sink", runner=runner, env=ENV
        )
        == []
    )
    assert runner.commands == ["pactl list short sources", "pactl list short sinks"]
    for _, kwargs in runner.calls:
        assert kwargs["timeout"] == 2.0
        assert kwargs["env"]["XDG_RUNTIME_DIR"] == "/run/user/999"
        assert kwargs["env"]["LC_ALL"] == "C"  # untranslated tool messages
    # A monitor source is a valid microphone too.
    runner = FakeRunner({"pactl list short sources": SOURCES})
    assert (
        check_audio_device(
            "microphone", "pulse:kiosk-echo-cancel-sink.monitor", runner=runner, env=ENV
        )
        is None
    )


def test_pulse_device_absent_lists_what_there_is() -> None:
    runner = FakeRunner({"pactl list short sources": SOURCES, "pactl list short sinks": SINKS})
    problems = check_all(
        "pulse:echo-cancel-source",
        "pulse:kiosk-echo-cancel-sink",
        runner=runner,
        env=ENV,
        settle_seconds=0,
    )
    assert len(problems) == 1
    problem = one_line(problems[0])
    assert problem.startswith(
        "microphone 'pulse:echo-cancel-source': no such PulseAudio/PipeWire source (sources: "
    )
    assert "kiosk-echo-cancel-source" in problem and ".monitor" not in problem
    assert problem.endswith("see 'pactl list short sources'")
    problem = one_line(
        check_audio_device("speaker", "pulse:hdmi", runner=runner, env=ENV, settle_seconds=0)
    )
    assert "no such PulseAudio/PipeWire sink (sinks: alsa_output.platform" in problem


class SettlingRunner(FakeRunner):
    """A server that creates the echo-cancel sink only after a few queries (just after boot)."""

    def __init__(self, ready_after: int) -> None:
        super().__init__({"pactl list short sinks": ""})
        self.ready_after = ready_after

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        early = SINKS.splitlines(keepends=True)[0]
        self.answers["pactl list short sinks"] = (
            SINKS if len(self.calls) >= self.ready_after else early
        )
        return super().__call__(argv, **kwargs)


def test_a_node_that_appears_just_after_boot_is_waited_for_briefly() -> None:
    runner = SettlingRunner(ready_after=2)
    started = time.monotonic()
    problem = check_audio_device(
        "speaker", "pulse:kiosk-echo-cancel-sink", runner=runner, env=ENV, settle_seconds=3
    )
    assert problem is None and len(runner.calls) == 3
    assert time.monotonic() - started < 3
    # A name that never appears is reported once the settle time is over, not later.
    runner = SettlingRunner(ready_after=1000)
    started = time.monotonic()
    problem = check_audio_device(
        "speaker", "pulse:kiosk-echo-cancel-sink", runner=runner, env=ENV, settle_seconds=1
    )
    assert one_line(problem).startswith("speaker 'pulse:kiosk-echo-cancel-sink': no such")
    assert 0.9 <= time.monotonic() - started < 3 and 2 <= len(runner.calls) <= 4
    # An unreachable server is not waited for.
    down = FakeRunner({"pactl list short sinks": (1, "", PACTL_REFUSED)})
    assert check_audio_device("speaker", "pulse:x", runner=down, env=ENV, settle_seconds=5)
    assert len(down.calls) == 1


def test_pulse_server_down_is_one_line_with_the_runtime_dir() -> None:
    runner = FakeRunner({"pactl list short sources": (1, "", PACTL_REFUSED)})
    problem = one_line(
        check_audio_device("microphone", "pulse:kiosk-echo-cancel-source", runner=runner, env=ENV)
    )
    assert problem == (
        "microphone 'pulse:kiosk-echo-cancel-source': PulseAudio/PipeWire server not reachable "
        "(pactl: Connection failure: Connection refused; XDG_RUNTIME_DIR=/run/user/999); "
        "is pipewire-pulse running for this user? see docs/audio.md"
    )
    problem = one_line(check_audio_device("microphone", "pulse:x", runner=runner, env={}))
    assert "XDG_RUNTIME_DIR is not set" in problem
    # Even the default source needs a server.
    assert check_audio_device("microphone", "pulse:default", runner=runner, env=ENV) is not None


def test_pulse_timeout_and_missing_tool_are_problems_not_exceptions() -> None:
    hung = FakeRunner({"pactl list short sinks": subprocess.TimeoutExpired(["pactl"], 2.0)})
    problem = one_line(
        check_audio_device("speaker", "pulse:kiosk-echo-cancel-sink", runner=hung, env=ENV)
    )
    assert "server not reachable (pactl did not answer within 2 s;" in problem
    missing = FakeRunner({})
    problem = one_line(
        check_audio_device("speaker", "pulse:kiosk-echo-cancel-sink", runner=missing, env=ENV)
    )
    assert problem == (
        "speaker 'pulse:kiosk-echo-cancel-sink': PulseAudio/PipeWire server not checked "
        "(pactl not found: install pulseaudio-utils)"
    )
    denied = FakeRunner({"pactl list short sinks": PermissionError(13, "Permission denied")})
    problem = one_line(check_audio_device("speaker", "pulse:x", runner=denied, env=ENV))
    assert "cannot run pactl: Permission denied" in problem


def test_a_check_that_breaks_unexpectedly_never_stops_the_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = FakeRunner({"pactl list short sources": RuntimeError("boom")})
    assert check_audio_device("microphone", "pulse:x", runner=broken, env=ENV) is None
    assert "microphone 'pulse:x': not checked (RuntimeError)" in caplog.text


# --- PipeWire via pw-cli -------------------------------------------------------------------


def test_pipewire_nodes_by_name_and_class() -> None:
    runner = FakeRunner({"pw-cli ls Node": NODES})
    assert (
        check_all(
            "pipewire:kiosk-echo-cancel-source",
            "pipewire:kiosk-echo-cancel-sink",
            runner=runner,
            env=ENV,
        )
        == []
    )
    problem = one_line(
        check_audio_device("microphone", "pipewire:kiosk-echo-cancel-sink", runner=runner, env=ENV)
    )
    assert problem == (
        "microphone 'pipewire:kiosk-echo-cancel-sink': PipeWire node 'kiosk-echo-cancel-sink' "
        "is Audio/Sink, not an audio source; see 'pw-cli ls Node'"
    )
    problem = one_line(
        check_audio_device(
            "speaker", "pipewire:usb-speaker", runner=runner, env=ENV, settle_seconds=0
        )
    )
    assert problem == (
        "speaker 'pipewire:usb-speaker': no such PipeWire sink (sinks: kiosk-echo-cancel-sink); "
        "see 'pw-cli ls Node'"
    )


def test_pipewire_down_and_pw_cli_missing() -> None:
    down = FakeRunner({"pw-cli ls Node": (255, "", PW_CLI_REFUSED)})
    problem = one_line(
        check_audio_device("speaker", "pipewire:kiosk-echo-cancel-sink", runner=down, env=ENV)
    )
    assert 'PipeWire not reachable (pw-cli: Error: "failed to connect: Host is down";' in problem
    # Without pw-cli the node is looked up through pipewire-pulse (same names).
    pactl_only = FakeRunner({"pactl list short sinks": SINKS})
    assert (
        check_audio_device("speaker", "pipewire:kiosk-echo-cancel-sink", runner=pactl_only, env=ENV)
        is None
    )
    assert pactl_only.commands == ["pw-cli ls Node", "pactl list short sinks"]


# --- real processes: fake tools on PATH ----------------------------------------------------


def _tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_real_subprocess_present_and_hung_tools(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "sinks.txt").write_text(SINKS)
    cat, sleep = shutil.which("cat"), shutil.which("sleep")
    assert cat and sleep
    _tool(bin_dir, "pactl", f'exec {cat} "{tmp_path / "sinks.txt"}"\n')
    env = {"PATH": str(bin_dir), "XDG_RUNTIME_DIR": str(tmp_path)}
    assert check_audio_device("speaker", "pulse:kiosk-echo-cancel-sink", env=env) is None
    assert check_audio_device("speaker", "pulse:nope", env=env, settle_seconds=0) is not None
    # A tool that never answers: the check gives up after its timeout.
    _tool(bin_dir, "pactl", f"exec {sleep} 30\n")
    started = time.monotonic()
    problem = one_line(
        check_audio_device("speaker", "pulse:kiosk-echo-cancel-sink", env=env, tool_timeout=0.5)
    )
    assert time.monotonic() - started < 10
    assert "pactl did not answer within 0.5 s" in problem
    # No tool on PATH at all.
    problem = one_line(check_audio_device("speaker", "pulse:x", env={"PATH": str(tmp_path)}))
    assert "pactl not found" in problem


@pytest.mark.skipif(shutil.which("pactl") is not None, reason="pactl is installed here")
def test_this_machine_without_pactl_says_so() -> None:
    problem = one_line(check_audio_device("microphone", "pulse:kiosk-echo-cancel-source"))
    assert "pactl not found" in problem


async def test_async_check_keeps_the_loop_running() -> None:
    def slow(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        time.sleep(0.4)
        return subprocess.CompletedProcess(list(argv), 0, SINKS, "")

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(100):
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    problems = await asyncio.wait_for(
        check_all_async("none", "pulse:kiosk-echo-cancel-sink", runner=slow, env=ENV), 10
    )
    task.cancel()
    assert problems == []
    assert ticks >= 10  # the loop kept running while pactl was "slow"


# --- the shipped PipeWire config, the docs and the kiosk config agree ------------------------


def _node(conf: str, section: str) -> dict[str, str]:
    match = re.search(section + r"\s*=\s*\{(.*?)\}", conf, re.S)
    assert match, f"{section} missing"
    props = {}
    for line in match.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip().strip('"')
    return props


def test_shipped_echo_cancel_config_matches_the_documented_kiosk_config() -> None:
    conf = AEC_CONF.read_text()
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    assert code.count("{") == code.count("}") and code.count("[") == code.count("]")
    assert "name = libpipewire-module-echo-cancel" in code
    assert re.search(r"library\.name\s*=\s*aec/libspa-aec-webrtc", code)
    source, sink = _node(code, "source.props"), _node(code, "sink.props")
    assert source["node.name"] == "kiosk-echo-cancel-source"
    assert source["media.class"] == "Audio/Source"
    assert sink["node.name"] == "kiosk-echo-cancel-sink"
    assert sink["media.class"] == "Audio/Sink"
    # The kiosk settings the doc tells the admin to use name exactly these nodes and validate.
    doc = AUDIO_DOC.read_text()
    mic = 'device: "pulse:kiosk-echo-cancel-source"'
    spk = 'device: "pulse:kiosk-echo-cancel-sink"'
    assert mic in doc and spk in doc
    MicrophoneConfig(device="pulse:kiosk-echo-cancel-source")
    SpeakerConfig(device="pulse:kiosk-echo-cancel-sink")
    assert "99-kiosk-echo-cancel.conf" in doc and "loginctl enable-linger kiosk" in doc


# --- optional: a real PipeWire with the shipped config (skipped where PipeWire is absent) -----


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.skipif(
    not (shutil.which("pipewire") and shutil.which("pactl")),
    reason="PipeWire and pactl are not installed (they are on a kiosk with echo cancellation)",
)
def test_real_pipewire_loads_the_config_and_the_check_finds_its_nodes(tmp_path: Path) -> None:
    pipewire = shutil.which("pipewire")
    assert pipewire is not None
    share = Path(pipewire).resolve().parent.parent / "share" / "pipewire"
    if not (share / "pipewire.conf").exists():
        pytest.skip(f"no PipeWire configuration in {share}")
    conf_dir, run_dir = tmp_path / "conf", tmp_path / "run"
    (conf_dir / "pipewire.conf.d").mkdir(parents=True)
    run_dir.mkdir(mode=0o700)
    for name in ("pipewire.conf", "pipewire-pulse.conf", "client.conf"):
        if (share / name).exists():
            shutil.copy(share / name, conf_dir / name)
    shutil.copy(AEC_CONF, conf_dir / "pipewire.conf.d" / AEC_CONF.name)
    env = dict(os.environ, PIPEWIRE_CONFIG_DIR=str(conf_dir), XDG_RUNTIME_DIR=str(run_dir))
    env.pop("PULSE_SERVER", None)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    with (
        _process([pipewire], env, tmp_path / "pipewire.log"),
        _process([pipewire, "-c", "pipewire-pulse.conf"], env, tmp_path / "pulse.log"),
    ):
        problems = ["not tried"]
        deadline = time.monotonic() + 15
        while problems and time.monotonic() < deadline:
            problems = check_all(
                "pulse:kiosk-echo-cancel-source", "pulse:kiosk-echo-cancel-sink", env=env
            )
            if problems:
                time.sleep(0.2)
        assert problems == [], (tmp_path / "pipewire.log").read_text()[-2000:]
        assert (
            check_all(
                "pipewire:kiosk-echo-cancel-source", "pipewire:kiosk-echo-cancel-sink", env=env
            )
            == []
        )
    problem = one_line(check_audio_device("speaker", "pulse:kiosk-echo-cancel-sink", env=env))
    assert "server not reachable" in problem
