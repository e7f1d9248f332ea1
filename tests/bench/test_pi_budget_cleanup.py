"""bench/pi_budget.py: groups left by a run that was killed are removed by the next run."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

_BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load() -> ModuleType:
    sys.path.insert(0, str(_BENCH))  # pi_budget imports its sibling _common
    try:
        spec = importlib.util.spec_from_file_location(
            "pi_budget_under_test", _BENCH / "pi_budget.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(_BENCH))


def test_groups_of_dead_runs_go_and_those_of_live_ones_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pb = _load()
    monkeypatch.setattr(pb, "CGROUP_CPU", tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"kiosk-pibudget-{dead.pid}"
    (stale / "t1234").mkdir(parents=True)
    (stale / "t1235").mkdir()
    live = tmp_path / f"kiosk-pibudget-{os.getpid()}"
    (live / "t1").mkdir(parents=True)
    other = tmp_path / "someone-else-1"
    other.mkdir()
    assert pb.remove_stale_groups() == [stale.name]
    assert not stale.exists() and live.exists() and other.exists()
