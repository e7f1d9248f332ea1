"""Does the configured microphone / speaker exist? One-line answers at start, before opening.

``kiosk/media/devices.py`` opens the devices; this module only checks that they are there, so
the kiosk can say *which* device is missing and *what to check* instead of a bare open failure.

Device specs (``media.microphone.device`` / ``media.speaker.device``):

* ``"test-tone"``, ``"none"``, ``"default"``, ``""`` → nothing to check;
* ALSA: ``"hw:1,0"``, ``"plughw:CARD=Device,DEV=0"``, ``"hw:Device"``, optionally prefixed with
  ``"alsa:"``; the card (index or id) is looked up in ``/proc/asound/cards`` and the PCM device
  in ``/proc/asound/pcm`` (capture for a microphone, playback for a speaker);
* ``"pulse:<source or sink>"``: ``pactl list short sources|sinks``;
* ``"pipewire:<node name>"``: ``pw-cli ls Node`` (``pactl`` when ``pw-cli`` is not installed).

:func:`check_audio_device` never raises and never hangs: every external tool runs with a
timeout (2 s), a missing tool is a problem line (or, where the device cannot be checked at
all, a logged note and ``None``). A name the sound server does not know is asked again for up
to 3 s, because right after boot PipeWire may still be creating the echo canceller's nodes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack

from kiosk.redact import redact

__all__ = [
    "DEFAULT_SETTLE",
    "DEFAULT_TIMEOUT",
    "PROC_ASOUND",
    "AlsaCard",
    "AlsaName",
    "CheckOptions",
    "DeviceKind",
    "Runner",
    "check_all",
    "check_all_async",
    "check_audio_device",
    "parse_alsa_name",
    "read_alsa_cards",
]

log = logging.getLogger(__name__)

DeviceKind = Literal["microphone", "speaker"]
Runner = Callable[..., "subprocess.CompletedProcess[Any]"]
"""Called like :func:`subprocess.run` (argv list, ``capture_output``, ``text``, ``timeout``,
``env``, ``check``); tests pass a fake."""

PROC_ASOUND = Path("/proc/asound")
DEFAULT_TIMEOUT = 2.0

_NOTHING_TO_CHECK = {"", "none", "test-tone", "default"}
_DEFAULT_SERVER_NAMES = {"", "default", "@DEFAULT_SOURCE@", "@DEFAULT_SINK@", "@DEFAULT_MONITOR@"}
# ALSA PCM plugins whose first positional argument is a card (and the second a device).
_CARD_DEVICE_PCMS = {"hw", "plughw"}
_CARD_ONLY_PCMS = {
    "sysdefault",
    "front",
    "dmix",
    "dsnoop",
    "iec958",
    "hdmi",
    "surround40",
    "surround51",
    "surround71",
    "usbstream",
}
_MAX_LISTED = 6
DEFAULT_SETTLE = 3.0
_SETTLE_STEP = 0.5
_MAX_SETTLE_TRIES = 20


# --- ALSA ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlsaCard:
    index: int
    id: str  # the bracketed short name ("Device", "vc4hdmi0"), usable as CARD=<id>
    name: str  # the long description


@dataclass(frozen=True)
class AlsaName:
    pcm: str  # "hw", "plughw", "sysdefault", …
    card: str | None  # index ("1") or id ("Device") as written
    device: int | None


_CARD_LINE = re.compile(r"^\s*(\d+)\s+\[([^\]]*?)\s*\]:\s*(.*?)\s*$")
_PCM_LINE = re.compile(r"^(\d+)-(\d+):(.*)$")
_DIRECTION = re.compile(r"^(playback|capture)\s+\d+$")


def parse_alsa_name(spec: str) -> AlsaName | None:
    """``"plughw:CARD=Device,DEV=0"`` → AlsaName("plughw", "Device", 0); None if not parseable.

    ``"hw:1"`` means device 0 (ALSA's default for ``DEV``). Names without a card argument
    (``"dmix"``, ``"sysdefault"``) and ALSA configuration syntax (``{…}``) give None.
    """
    name = spec[len("alsa:") :] if spec.startswith("alsa:") else spec
    if ":" not in name:
        return None
    pcm, _, args = name.partition(":")
    if not pcm or not args or "{" in args or pcm not in _CARD_DEVICE_PCMS | _CARD_ONLY_PCMS:
        return None
    positional: list[str] = []
    named: dict[str, str] = {}
    for token in args.split(","):
        token = token.strip()
        if "=" in token:
            key, _, value = token.partition("=")
            named[key.strip().upper()] = value.strip().strip("'\"")
        elif token:
            positional.append(token.strip("'\""))
    card = named.get("CARD", positional[0] if positional else None)
    if not card:
        return None
    device: int | None = None
    if pcm in _CARD_DEVICE_PCMS:
        dev_text = named.get("DEV", positional[1] if len(positional) > 1 else "0")
        if not dev_text.isdigit():
            return None
        device = int(dev_text)
    elif "DEV" in named and named["DEV"].isdigit():
        device = int(named["DEV"])
    return AlsaName(pcm, card, device)


def read_alsa_cards(proc_asound: Path = PROC_ASOUND) -> list[AlsaCard]:
    """The cards listed in ``<proc_asound>/cards``; [] when there are none or no such file.

    Raises OSError when the file exists but cannot be read.
    """
    try:
        text = (proc_asound / "cards").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    cards: list[AlsaCard] = []
    for line in text.splitlines():
        match = _CARD_LINE.match(line)
        if match:
            cards.append(AlsaCard(int(match.group(1)), match.group(2), match.group(3)))
    return cards


def _read_alsa_pcms(proc_asound: Path) -> dict[tuple[int, int], set[str]] | None:
    """{(card, device): {"playback", "capture"}} from ``<proc_asound>/pcm``; None if unreadable."""
    try:
        text = (proc_asound / "pcm").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    pcms: dict[tuple[int, int], set[str]] = {}
    for line in text.splitlines():
        match = _PCM_LINE.match(line.strip())
        if not match:
            continue
        directions = set()
        for field in match.group(3).split(":"):
            direction = _DIRECTION.match(field.strip())
            if direction:
                directions.add(direction.group(1))
        pcms[(int(match.group(1)), int(match.group(2)))] = directions
    return pcms


def _describe_cards(cards: list[AlsaCard], proc_asound: Path) -> str:
    if cards:
        shown = ", ".join(f"{card.index} '{card.id}'" for card in cards[:_MAX_LISTED])
        more = ", …" if len(cards) > _MAX_LISTED else ""
        return f"cards: {shown}{more}"
    if not (proc_asound / "cards").exists():
        return f"no sound cards: {proc_asound / 'cards'} not found"
    return "no sound cards found"


def _find_card(cards: list[AlsaCard], wanted: str) -> AlsaCard | None:
    for card in cards:
        if (wanted.isdigit() and card.index == int(wanted)) or card.id == wanted:
            return card
    return None


def _check_alsa(kind: DeviceKind, spec: str, proc_asound: Path) -> str | None:
    parsed = parse_alsa_name(spec)
    tool = "arecord -l" if kind == "microphone" else "aplay -l"
    if parsed is None or parsed.card is None:
        log.info("%s '%s': not checked (no ALSA card named in it)", kind, spec)
        return None
    try:
        cards = read_alsa_cards(proc_asound)
    except OSError as exc:
        log.info(
            "%s '%s': not checked (%s: %s)",
            kind,
            spec,
            proc_asound / "cards",
            exc.strerror or type(exc).__name__,
        )
        return None
    card = _find_card(cards, parsed.card)
    if card is None:
        what = parsed.card if parsed.card.isdigit() else f"'{parsed.card}'"
        hint = ""
        if not parsed.card.isdigit() and any(c.id.lower() == parsed.card.lower() for c in cards):
            hint = ", card ids are case-sensitive"
        return (
            f"{kind} '{spec}': no such ALSA card {what} "
            f"({_describe_cards(cards, proc_asound)}{hint}); see '{tool}'"
        )
    if parsed.device is None:
        return None
    pcms = _read_alsa_pcms(proc_asound)
    if pcms is None:
        return None  # card exists; devices cannot be listed (kernel without /proc/asound/pcm)
    direction = "capture" if kind == "microphone" else "playback"
    if direction in pcms.get((card.index, parsed.device), set()):
        return None
    have = sorted(d for (i, d), dirs in pcms.items() if i == card.index and direction in dirs)
    listing = (
        f"{direction} devices: {', '.join(str(d) for d in have)}"
        if have
        else f"it has no {direction} devices"
    )
    return (
        f"{kind} '{spec}': ALSA card {card.index} '{card.id}' has no {direction} device "
        f"{parsed.device} ({listing}); see '{tool}'"
    )


# --- sound servers (PulseAudio / PipeWire) -------------------------------------------------


class _Missing(str):
    """A problem line saying a server answered but has no such name (worth a short retry)."""

    __slots__ = ()


class _ToolFailed(Exception):
    """A tool could not tell us anything; ``str()`` is the reason, fit for a problem line."""


def _child_env(env: Mapping[str, str]) -> dict[str, str]:
    child = dict(env)
    child["LC_ALL"] = "C"  # untranslated messages, stable output
    return child


def _server_hint(env: Mapping[str, str]) -> str:
    if env.get("PULSE_SERVER"):
        return f"PULSE_SERVER={redact(env['PULSE_SERVER'])}"
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return f"XDG_RUNTIME_DIR={runtime}"
    return "XDG_RUNTIME_DIR is not set"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return redact(" ".join(line.split()))[:160]
    return ""


def _run(argv: list[str], runner: Runner, env: Mapping[str, str], timeout: float) -> str:
    """stdout of ``argv``; _ToolFailed (one-line reason) on failure, FileNotFoundError if absent."""
    try:
        result = runner(
            argv, capture_output=True, text=True, timeout=timeout, env=_child_env(env), check=False
        )
    except FileNotFoundError:
        raise
    except subprocess.TimeoutExpired:
        raise _ToolFailed(f"{argv[0]} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise _ToolFailed(f"cannot run {argv[0]}: {exc.strerror or type(exc).__name__}") from None
    stdout = result.stdout if isinstance(result.stdout, str) else ""
    if result.returncode != 0:
        stderr = result.stderr if isinstance(result.stderr, str) else ""
        why = _first_line(stderr) or _first_line(stdout) or f"exit status {result.returncode}"
        raise _ToolFailed(f"{argv[0]}: {why}")
    return stdout


def _unreachable(kind: DeviceKind, spec: str, why: str, env: Mapping[str, str]) -> str:
    return (
        f"{kind} '{spec}': PulseAudio/PipeWire server not reachable ({why}; {_server_hint(env)}); "
        "is pipewire-pulse running for this user? see docs/audio.md"
    )


def _listing(names: list[str]) -> str:
    shown = [n for n in names if not n.endswith(".monitor")] or names
    if not shown:
        return "none"
    more = ", …" if len(shown) > _MAX_LISTED else ""
    return ", ".join(shown[:_MAX_LISTED]) + more


def _pactl_names(
    kind: DeviceKind, runner: Runner, env: Mapping[str, str], timeout: float
) -> list[str]:
    what = "sources" if kind == "microphone" else "sinks"
    out = _run(["pactl", "list", "short", what], runner, env, timeout)
    names = []
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[1].strip():
            names.append(fields[1].strip())
    return names


def _check_pulse(
    kind: DeviceKind, spec: str, name: str, runner: Runner, env: Mapping[str, str], timeout: float
) -> str | None:
    what = "source" if kind == "microphone" else "sink"
    try:
        names = _pactl_names(kind, runner, env, timeout)
    except FileNotFoundError:
        return (
            f"{kind} '{spec}': PulseAudio/PipeWire server not checked (pactl not found: "
            "install pulseaudio-utils)"
        )
    except _ToolFailed as exc:
        return _unreachable(kind, spec, str(exc), env)
    if name in _DEFAULT_SERVER_NAMES or name in names:
        return None
    return _Missing(
        f"{kind} '{spec}': no such PulseAudio/PipeWire {what} ({what}s: {_listing(names)}); "
        f"see 'pactl list short {what}s'"
    )


_PW_OBJECT = re.compile(r"^\s*id (\d+), type (\S+)")
_PW_PROPERTY = re.compile(r'^[\s*=+-]*([\w.\-]+) = "(.*)"\s*$')


def _pw_nodes(out: str) -> list[tuple[str, str]]:
    """(node.name, media.class) for every node in ``pw-cli ls Node`` output."""
    nodes: list[tuple[str, str]] = []
    current: dict[str, str] | None = None
    for line in out.splitlines():
        if _PW_OBJECT.match(line):
            if current is not None and "node.name" in current:
                nodes.append((current["node.name"], current.get("media.class", "")))
            current = {}
            continue
        prop = _PW_PROPERTY.match(line)
        if prop and current is not None:
            current[prop.group(1)] = prop.group(2)
    if current is not None and "node.name" in current:
        nodes.append((current["node.name"], current.get("media.class", "")))
    return nodes


def _check_pipewire(
    kind: DeviceKind, spec: str, name: str, runner: Runner, env: Mapping[str, str], timeout: float
) -> str | None:
    try:
        out = _run(["pw-cli", "ls", "Node"], runner, env, timeout)
    except FileNotFoundError:
        log.info("%s '%s': pw-cli not found, checking with pactl", kind, spec)
        return _check_pulse(kind, spec, name, runner, env, timeout)
    except _ToolFailed as exc:
        return (
            f"{kind} '{spec}': PipeWire not reachable ({exc}; {_server_hint(env)}); "
            "is pipewire running for this user? see docs/audio.md"
        )
    nodes = _pw_nodes(out)
    if name in _DEFAULT_SERVER_NAMES:
        return None
    wanted = ("Audio/Source" if kind == "microphone" else "Audio/Sink", "Audio/Duplex")
    what = "source" if kind == "microphone" else "sink"
    classes = [cls for node_name, cls in nodes if node_name == name]
    if any(cls.startswith(wanted) for cls in classes):
        return None
    if classes:
        return (
            f"{kind} '{spec}': PipeWire node '{name}' is {classes[0] or 'of no media class'}, "
            f"not an audio {what}; see 'pw-cli ls Node'"
        )
    names = [n for n, cls in nodes if cls.startswith(wanted)]
    return _Missing(
        f"{kind} '{spec}': no such PipeWire {what} ({what}s: {_listing(names)}); "
        "see 'pw-cli ls Node'"
    )


# --- entry points ----------------------------------------------------------------------------


class CheckOptions(TypedDict, total=False):
    """The keyword options of :func:`check_audio_device` (defaults there), passed on unchanged
    by :func:`check_all` and :func:`check_all_async`."""

    runner: Runner
    env: Mapping[str, str]
    proc_asound: Path | str
    tool_timeout: float
    settle_seconds: float


def check_audio_device(
    kind: DeviceKind,
    device: str,
    *,
    runner: Runner = subprocess.run,
    env: Mapping[str, str] = os.environ,
    proc_asound: Path | str = PROC_ASOUND,
    tool_timeout: float = DEFAULT_TIMEOUT,
    settle_seconds: float = DEFAULT_SETTLE,
) -> str | None:
    """None when the device exists (or cannot be checked: then a note is logged), else a
    one-line problem naming the device and what to check. Never raises, never hangs."""
    spec = device.strip()
    try:
        if spec in _NOTHING_TO_CHECK:
            return None
        if not spec.startswith(("pulse:", "pipewire:")):
            return _check_alsa(kind, spec, Path(proc_asound))
        # Right after boot the sound server may still be creating its nodes (the echo
        # canceller's source and sink): a missing name is asked again for settle_seconds.
        deadline = time.monotonic() + settle_seconds
        for _ in range(_MAX_SETTLE_TRIES):
            if spec.startswith("pulse:"):
                problem = _check_pulse(kind, spec, spec[len("pulse:") :], runner, env, tool_timeout)
            else:
                problem = _check_pipewire(
                    kind, spec, spec[len("pipewire:") :], runner, env, tool_timeout
                )
            if not isinstance(problem, _Missing) or time.monotonic() >= deadline:
                break
            time.sleep(min(_SETTLE_STEP, max(0.0, deadline - time.monotonic())))
        return None if problem is None else str(problem)
    except Exception as exc:  # a check must never stop the kiosk from starting
        log.warning("%s '%s': not checked (%s)", kind, spec, type(exc).__name__)
        return None


def check_all(
    mic: str,
    speaker: str,
    **options: Unpack[CheckOptions],
) -> list[str]:
    """Problem lines for the microphone and the speaker (empty when both look fine);
    ``options`` as for :func:`check_audio_device`."""
    problems: list[str] = []
    pairs: tuple[tuple[DeviceKind, str], ...] = (("microphone", mic), ("speaker", speaker))
    for kind, spec in pairs:
        problem = check_audio_device(kind, spec, **options)
        if problem is not None:
            problems.append(problem)
    return problems


async def check_all_async(
    mic: str,
    speaker: str,
    **options: Unpack[CheckOptions],
) -> list[str]:
    """:func:`check_all` in a worker thread, so the event loop never waits on ``pactl``."""
    return await asyncio.to_thread(check_all, mic, speaker, **options)
