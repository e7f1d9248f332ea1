"""requirements.lock: the runtime set pinned with hashes, in step with pyproject.toml.

install.sh installs it with ``pip install --require-hashes``; ``make lock`` regenerates it and
``make check-lock`` (run by ``make test``) checks with pip that every pin resolves and every
hash matches. These tests catch a lock that no longer matches pyproject.toml's ranges.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(;[^\\]*)?\\?$")


def _pins() -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes), from the lock's requirement blocks."""
    pins: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{current} pinned twice"
            pins[current] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            version, count = pins[current]
            pins[current] = (version, count + 1)
        elif line and not line.startswith(("#", " ")):
            raise AssertionError(f"unexpected line in requirements.lock: {line!r}")
    return pins


def _runtime() -> list[Requirement]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(text) for text in data["project"]["dependencies"]]


def test_every_pin_carries_hashes() -> None:
    pins = _pins()
    assert len(pins) > 20
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert unhashed == []


def test_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = _pins()
    problems = []
    for req in _runtime():
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req}: not in requirements.lock (run make lock)")
            continue
        version = pins[name][0]
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req}: locked at {version} (run make lock)")
    assert problems == []


def test_build_requirements_are_locked_too() -> None:
    # install.sh builds the kiosk with --no-build-isolation from the locked set alone.
    pins = _pins()
    assert "setuptools" in pins and "wheel" in pins


def test_advised_minimums_hold() -> None:
    """Server-side advisories: aiohttp below 3.14.3 and websockets below 15 are not allowed."""
    ranges: dict[str, SpecifierSet] = {canonicalize_name(r.name): r.specifier for r in _runtime()}
    assert not ranges["aiohttp"].contains("3.14.2") and ranges["aiohttp"].contains("3.14.3")
    assert not ranges["websockets"].contains("14.2") and ranges["websockets"].contains("15.0")


def test_install_script_installs_the_lock_with_hashes() -> None:
    script = (REPO / "systemd" / "install.sh").read_text(encoding="utf-8")
    pip_lines = " ".join(script.split("\\\n")).splitlines()
    installs = [line for line in pip_lines if 'pip" install' in line]
    assert installs, "install.sh runs pip"
    locked = [line for line in installs if "--require-hashes" in line]
    assert locked and '-r "$SRC/requirements.lock"' in locked[0]
    # nothing else may pull dependencies from the index unpinned
    for line in installs:
        assert line in locked or "--no-deps" in line, line
