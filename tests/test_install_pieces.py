"""Pieces of a first install on a Pi that can be checked on any machine (issue 15, items 3–5):
the unit gives lgpio a writable directory, lgpio is pinned per Python version and checked at
install, and a console display that cannot open names the missing system library."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "kiosk.service"
NOBODY = 65534


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def unit_environment(runtime: Path) -> tuple[dict[str, str], Path]:
    """The unit's Environment= and WorkingDirectory=, with /run/kiosk mapped onto ``runtime``."""
    d = directives()
    run_dir = f"/run/{d['RuntimeDirectory'][0]}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(runtime)}
    for entry in d.get("Environment", []):
        key, _, value = entry.partition("=")
        env[key] = value.replace(run_dir, str(runtime))
    return env, Path(d["WorkingDirectory"][0].replace(run_dir, str(runtime)))


def as_service_user() -> list[str]:
    """Run as an unprivileged user when root (file permissions do not stop root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return []
    probe = subprocess.run(
        [
            setpriv,
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            sys.executable,
            "-c",
            "import kiosk",
        ],
        capture_output=True,
        cwd="/",
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:  # the checkout is not readable by nobody
        return []
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


IMPORT_LGPIO = (
    "import lgpio, gpiozero.pins.lgpio; assert hasattr(lgpio, 'gpiochip_open'); print('lgpio ok')"
)


def need_lgpio() -> None:
    try:
        import lgpio  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"lgpio is a dependency on Python < 3.13 and must be installed: {exc}")
        pytest.skip(f"lgpio not installed here: {exc}")
    except OSError:
        pass  # importing in a read-only working directory; the subprocesses below decide


# --- 3. lgpio under the unit ----------------------------------------------------------------


def test_unit_working_directory_and_lg_wd_are_the_runtime_directory() -> None:
    d = directives()
    run_dir = f"/run/{d['RuntimeDirectory'][0]}"
    assert d["WorkingDirectory"] == [run_dir]
    assert f"LG_WD={run_dir}" in d["Environment"]
    assert d["ProtectSystem"] == ["strict"]  # why "/" cannot be the working directory


@pytest.mark.integration  # child processes
def test_lgpio_imports_with_the_units_environment() -> None:
    need_lgpio()
    # Not under pytest's tmp_path: its parents are root-only, and LG_WD is an absolute path.
    runtime = Path(tempfile.mkdtemp(prefix="kiosk-run-"))
    try:
        user = as_service_user()
        if user:
            os.chown(runtime, NOBODY, NOBODY)  # systemd gives the RuntimeDirectory to User=
        env, workdir = unit_environment(runtime)
        ok = subprocess.run(
            [*user, sys.executable, "-c", IMPORT_LGPIO],
            capture_output=True,
            text=True,
            cwd=workdir,
            env=env,
            timeout=60,
            check=False,
        )
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert any(p.name.startswith(".lgd-nfy") for p in runtime.iterdir())
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_without_a_writable_directory_lgpio_cannot_import(tmp_path: Path) -> None:
    """The failure the unit's settings prevent (joan2937/lg issue 22): cwd "/" read-only."""
    need_lgpio()
    user = as_service_user()
    if os.geteuid() == 0 and not user:
        pytest.skip("root without setpriv/readable checkout: directory permissions do not apply")
    env = {"PATH": "/usr/bin:/bin"}
    failed = subprocess.run(
        [*user, sys.executable, "-c", IMPORT_LGPIO],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=60,
        check=False,
    )
    assert failed.returncode != 0
    assert ".lgd-nfy" in failed.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_with_working_directory_verifies(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("ExecStart=/opt/kiosk/venv/bin/kiosk", "ExecStart=/bin/true #")
    unit = tmp_path / "kiosk.service"
    unit.write_text(text)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    assert "kiosk.service" not in verify.stderr, verify.stderr


def test_gpio_hint_for_a_venv_names_its_pip_not_apt(tmp_path: Path) -> None:
    from kiosk.controls._gpio import lgpio_hint

    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    hint = lgpio_hint(str(venv), "/usr")
    assert f"{venv}/bin/pip install 'lgpio==0.2.2.0'" in hint and "apt" not in hint
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\n")
    assert "apt-get install python3-lgpio" in lgpio_hint(str(venv), "/usr")
    assert "apt-get install python3-lgpio" in lgpio_hint("/usr", "/usr")


# --- 4. lgpio per Python version, checked at install -----------------------------------------


def test_lgpio_is_pinned_to_the_real_release_and_never_resolves_on_313() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (lgpio,) = [Requirement(d) for d in deps if Requirement(d).name == "lgpio"]
    assert str(lgpio.specifier) == "==0.2.2.0"
    assert lgpio.marker is not None
    for version, wanted in (("3.11", True), ("3.12", True), ("3.13", False), ("3.14", False)):
        env = {"python_version": version, "sys_platform": "linux", "platform_machine": "aarch64"}
        assert lgpio.marker.evaluate(env) is wanted, version
    install = (REPO / "systemd" / "install.sh").read_text()
    assert "--system-site-packages" in install and "python3-lgpio" in install


@pytest.mark.integration  # child processes
def test_gpio_check_fails_loudly_on_the_placeholder_package(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "lgpio.py").write_text("# the 0.0.0.2 placeholder: an empty module\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(REPO)])}
    bad = subprocess.run(
        [sys.executable, "-m", "kiosk.controls.gpiocheck"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "GPIO backend unusable" in bad.stderr and "placeholder" in bad.stderr
    need_lgpio()
    good = subprocess.run(
        [sys.executable, "-m", "kiosk.controls.gpiocheck"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
        env={**os.environ, "LG_WD": str(tmp_path)},
    )
    assert (good.returncode, good.stdout) == (0, "GPIO backend: lgpio OK\n"), good.stderr


def test_install_script_stops_on_an_unusable_gpio_backend() -> None:
    script = (REPO / "systemd" / "install.sh").read_text()
    check = script.index("-m kiosk.controls.gpiocheck")
    assert "die " in script[check : check + 300]
    assert script.index('pip" install') < check < script.index("== systemd unit")


# --- 5. the KMSDRM libraries --------------------------------------------------------------


def test_console_display_error_names_the_missing_library(tmp_path: Path) -> None:
    """SDL's KMSDRM backend needs libgbm.so.1 etc.; hide one and open the console display."""
    code = textwrap.dedent(
        """
        import ctypes, sys
        real = ctypes.CDLL
        def fake(name, *args, **kwargs):
            if name == "libgbm.so.1":
                raise OSError("libgbm.so.1: cannot open shared object file")
            return real(name, *args, **kwargs)
        ctypes.CDLL = fake
        from kiosk.errors import DisplayError
        from kiosk.screen.display import Display, DisplaySettings
        try:
            Display(DisplaySettings(driver="kmsdrm")).open()
        except DisplayError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "SDL_VIDEODRIVER"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    if out.returncode == 0:
        pytest.skip("a KMS/DRM console opened here: nothing to fail")
    assert out.returncode == 3, out.stderr
    assert "missing libgbm.so.1: sudo apt-get install libgbm1" in out.stdout


def test_install_script_installs_the_kmsdrm_libraries() -> None:
    from kiosk.screen.kmsdrm import KMSDRM_LIBRARIES

    script = (REPO / "systemd" / "install.sh").read_text()
    for package in KMSDRM_LIBRARIES.values():
        assert f" {package}" in script, package
