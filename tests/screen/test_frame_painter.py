"""Frame painters: the CPU surface path and SDL-renderer textures draw the same picture.

Known YUV content goes through each path; the screen is read back the way /screenshot.png
reads it (``Display.read_rgb``: the surface, or ``SDL_RenderReadPixels``) and checked for
colours at known places. Real renderers (OpenGL / GLES2 on Mesa llvmpipe, SDL's software
renderer on X) run in a child process under an Xvfb started by the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from kiosk.app import telemetry
from kiosk.screen.display import Display, DisplaySettings, Drawing
from kiosk.screen.sdl_render import mapped_sdl_path
from tests.screen.gpu_probe import BLUE, GREEN, RED, SIZE, WHITE, YELLOW, draw_known_scene

TOL = 14
ROOT = Path(__file__).resolve().parents[2]


def close_to(got: list[int], want: tuple[int, int, int]) -> bool:
    return all(abs(g - w) <= TOL for g, w in zip(got, want, strict=True))


def check_scene(result: dict[str, Any]) -> None:
    first, second = result["first"], result["second"]
    for got, want in zip(first, (RED, GREEN, BLUE, WHITE, YELLOW), strict=True):
        assert close_to(got, want), (result["renderer"], first)
    # Only the main picture changed: its top-left turned green, the rest stayed.
    for got, want in zip(second, (GREEN, GREEN, BLUE, WHITE, YELLOW), strict=True):
        assert close_to(got, want), (result["renderer"], second)
    assert result["frames_uploaded"] == 1  # the thumbnail's frame was not touched again


def open_display(drawing: Drawing) -> Display:
    display = Display(DisplaySettings(driver="dummy", fullscreen=False, size=SIZE, drawing=drawing))
    display.open()
    return display


def test_surface_path_draws_and_reads_back() -> None:
    display = open_display("surface")
    try:
        result = draw_known_scene(display)
    finally:
        display.close()
    assert result["renderer"] == "surface" and result["accelerated"] is False
    check_scene(result)
    assert result["dirty_area"] >= result["video_area"]  # the CPU path copies the video rect


def test_auto_on_the_dummy_driver_keeps_the_surface_path() -> None:
    display = open_display("auto")
    try:
        assert display.renderer_name == "surface"
        assert not display.accelerated
    finally:
        display.close()


def test_textures_on_sdls_software_renderer() -> None:
    """The texture path on the dummy driver (SDL's software renderer): same picture, and the
    video rectangle is no longer uploaded from the canvas: only the changed texture is."""
    display = open_display("textures")
    try:
        result = draw_known_scene(display)
    finally:
        display.close()
    assert result["renderer"] == "software" and result["accelerated"] is False
    check_scene(result)
    assert result["dirty_area"] < result["video_area"] // 10


def test_status_reports_renderer() -> None:
    display = open_display("textures")
    try:
        kiosk = cast(Any, type("K", (), {"display": display}))
        assert telemetry.screen_status(kiosk) == {
            "driver": "dummy",
            "renderer": "software",
            "accelerated": False,
            "gl_renderer": None,
        }
    finally:
        display.close()


def test_the_sdl_found_is_the_one_pygame_loaded() -> None:
    maps = (
        "7f00-7f01 r-xp 0 08:01 1 /venv/pygame_ce.libs/libSDL2_ttf-2-e69aa315.0.so.0.2400.0\n"
        "7f02-7f03 r-xp 0 08:01 2 /venv/pygame_ce.libs/libSDL2-2-50d19f93.0.so.0.3200.10\n"
    )
    assert mapped_sdl_path(maps) == "/venv/pygame_ce.libs/libSDL2-2-50d19f93.0.so.0.3200.10"
    assert mapped_sdl_path("7f02-7f03 r-xp 0 08:01 2 /usr/lib/libSDL2-2.0.so.0.2600.5\n")
    assert mapped_sdl_path("7f02-7f03 r-xp 0 08:01 2 /usr/lib/libSDL2_image-2.0.so.0\n") is None


@pytest.fixture(scope="module")
def xvfb() -> Iterator[str]:
    """A private X server on a free display number (Xvfb picks it: -displayfd)."""
    exe = shutil.which("Xvfb")
    if exe is None:
        reason = "Xvfb is not installed (apt-get install xvfb; tools/debian-packages.d/gpu.txt)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    read, write = os.pipe()
    proc = subprocess.Popen(
        [exe, "-displayfd", str(write), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()  # Xvfb writes it once it accepts clients
        if not number:
            pytest.fail("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def run_probe(display: str, render_driver: str, drawing: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "DISPLAY": display,
        "SDL_VIDEODRIVER": "x11",
        "SDL_RENDER_DRIVER": render_driver,
    }
    out = subprocess.run(
        [sys.executable, "-m", "tests.screen.gpu_probe", drawing],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("render_driver", ["opengles2", "opengl", "software"])
def test_textures_on_a_real_sdl_renderer(xvfb: str, render_driver: str) -> None:
    """GLES2/OpenGL (Mesa; llvmpipe where there is no GPU) and SDL's software renderer."""
    result = run_probe(xvfb, render_driver, "textures")
    if "error" in result:
        pytest.skip(f"no {render_driver} renderer here: {result['error']}")
    assert result["renderer"] == render_driver
    check_scene(result)
    assert result["dirty_area"] < result["video_area"] // 10
    gl = result["gl_renderer"]
    if render_driver == "software":
        assert gl is None and result["accelerated"] is False
    else:
        assert gl  # the GL driver's name, read from the renderer's context
        cpu = any(soft in gl.lower() for soft in ("llvmpipe", "softpipe", "swrast"))
        assert result["accelerated"] is not cpu


def test_auto_takes_textures_only_on_a_gpu(xvfb: str) -> None:
    """``drawing: auto`` under Xvfb: Mesa's llvmpipe rasterizes on the CPU, where the surface
    path is cheaper — auto keeps the surface; on a real GPU it takes the GPU."""
    result = run_probe(xvfb, "opengles2", "auto")
    if "error" in result:
        pytest.skip(f"display did not open: {result['error']}")
    if result["renderer"] == "surface":
        assert result["accelerated"] is False
    else:
        assert result["accelerated"] is True
    check_scene(result)
