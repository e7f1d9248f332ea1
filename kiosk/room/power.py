"""Display power: HDMI-CEC through ``cec-ctl``, a DSI panel's backlight, or a black screen.

``vcgencmd display_power`` and ``tvservice`` do not work under KMS on current Raspberry Pi OS, so
HDMI screens are switched with CEC (``cec-ctl`` from v4l-utils): ``--standby`` to the TV
(logical address 0), and ``--image-view-on`` plus ``--active-source`` to wake it. A DSI panel that
exposes ``/sys/class/backlight/*/bl_power`` is switched there. Every method also blanks the
picture (the renderer draws black and stops drawing video), so :class:`BlackScreen` is the
fallback that always works.

External programs run through :class:`CommandRunner`; tests pass a :class:`RecordingRunner`.
A failing command is one log line and a ``last_error`` in the status, never an exception into
the caller (the display is a convenience; the call goes on).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "BacklightPower",
    "BlackScreen",
    "CecPower",
    "CommandResult",
    "CommandRunner",
    "DisplayPower",
    "RecordingRunner",
    "SubprocessRunner",
    "choose_display_power",
]

log = logging.getLogger(__name__)

PowerMethod = Literal["auto", "cec", "backlight", "black"]
_OUTPUT_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class CommandRunner(Protocol):
    async def run(self, argv: Sequence[str], limit_s: float) -> CommandResult: ...


class SubprocessRunner:
    """Runs a program without a shell; bounded in time and in output read."""

    async def run(self, argv: Sequence[str], limit_s: float) -> CommandResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            return CommandResult(127, "", f"cannot start {argv[0]}: {exc.strerror or exc}")
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return CommandResult(124, "", f"{argv[0]} did not finish within {limit_s:g} s")
        return CommandResult(
            proc.returncode if proc.returncode is not None else -1,
            out[:_OUTPUT_LIMIT].decode(errors="replace"),
            err[:_OUTPUT_LIMIT].decode(errors="replace"),
        )


@dataclass
class RecordingRunner:
    """A test double: records every command and answers from ``results`` (else success)."""

    results: dict[str, CommandResult] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    async def run(self, argv: Sequence[str], limit_s: float) -> CommandResult:
        self.calls.append(tuple(argv))
        for flag, result in self.results.items():
            if flag in argv:
                return result
        return CommandResult(0, "")


class DisplayPower(Protocol):
    """Switches the screen; ``on`` is the state last asked for."""

    method: str
    on: bool
    last_error: str | None

    async def standby(self) -> None: ...
    async def wake(self) -> None: ...


class BlackScreen:
    """No hardware switch: the renderer draws black while in standby."""

    method = "black"

    def __init__(self) -> None:
        self.on = True
        self.last_error: str | None = None

    async def standby(self) -> None:
        self.on = False

    async def wake(self) -> None:
        self.on = True


class BacklightPower:
    """A DSI panel's backlight: ``bl_power`` 4 (powerdown) for standby, 0 for on."""

    method = "backlight"

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.on = True
        self.last_error: str | None = None

    def _write(self, value: str) -> None:
        path = os.path.join(self.directory, "bl_power")
        try:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(value)
        except OSError as exc:
            self.last_error = f"backlight {path}: {exc.strerror or type(exc).__name__}"
            log.warning("%s", self.last_error)
        else:
            self.last_error = None

    async def standby(self) -> None:
        self.on = False
        await asyncio.to_thread(self._write, "4")

    async def wake(self) -> None:
        self.on = True
        await asyncio.to_thread(self._write, "0")


def _flag(args: Sequence[str]) -> str:
    """The command's main option (``--standby``), for error lines."""
    return next((a for a in args if a.startswith("--") and a != "--to"), args[0])


_PHYS = re.compile(r"Physical Address\s*:\s*([0-9a-fA-F]\.[0-9a-fA-F]\.[0-9a-fA-F]\.[0-9a-fA-F])")


class CecPower:
    """HDMI-CEC through ``cec-ctl``: the kiosk registers as a playback device, then sends
    ``--standby`` / ``--image-view-on`` + ``--active-source`` to the TV."""

    method = "cec"

    def __init__(
        self,
        device: str,
        runner: CommandRunner,
        *,
        program: str = "cec-ctl",
        osd_name: str = "Kiosk",
        timeout: float = 5.0,
    ) -> None:
        self.device = device
        self.runner = runner
        self.program = program
        self.osd_name = osd_name[:14]
        self.timeout = timeout
        self.on = True
        self.last_error: str | None = None
        self.physical_address: str | None = None
        self._configured = False

    async def _cec(self, *args: str) -> CommandResult:
        argv = [self.program, "-d", self.device, *args]
        result = await self.runner.run(argv, self.timeout)
        if result.returncode != 0:
            why = " ".join((result.stderr or result.stdout).split())[:160] or "no output"
            self.last_error = (
                f"cec-ctl {_flag(args)} on {self.device} failed ({result.returncode}): {why}"
            )
            log.warning("%s", self.last_error)
        else:
            self.last_error = None
        return result

    async def _configure(self) -> None:
        if self._configured:
            return
        result = await self._cec("--playback", "--osd-name", self.osd_name)
        if result.returncode == 0:
            self._configured = True
            match = _PHYS.search(result.stdout)
            self.physical_address = match.group(1) if match else None

    async def standby(self) -> None:
        self.on = False
        await self._configure()
        await self._cec("--to", "0", "--standby")

    async def wake(self) -> None:
        self.on = True
        await self._configure()
        await self._cec("--to", "0", "--image-view-on")
        if self.physical_address and self.last_error is None:
            await self._cec("--to", "15", "--active-source", f"phys-addr={self.physical_address}")


def choose_display_power(
    method: PowerMethod,
    *,
    runner: CommandRunner,
    cec_device: str | None = None,
    backlight: str | None = None,
    dev_glob: str = "/dev/cec*",
    backlight_glob: str = "/sys/class/backlight/*",
    cec_program: str | None = None,
) -> DisplayPower:
    """The display power switch for ``method`` (``auto``: CEC where ``/dev/cec*`` and
    ``cec-ctl`` exist, else a backlight, else a black screen)."""
    program = cec_program or shutil.which("cec-ctl")
    if method in ("auto", "cec"):
        devices = [cec_device] if cec_device else sorted(glob.glob(dev_glob))
        # A configured device is trusted (a missing one shows as last_error on each switch).
        if devices and program and (cec_device or os.path.exists(devices[0])):
            return CecPower(devices[0], runner, program=program)
        if method == "cec":
            why = "cec-ctl not found (apt install v4l-utils)" if not program else "no CEC device"
            log.warning("display.standby: CEC unavailable (%s); using a black screen", why)
            return BlackScreen()
    if method in ("auto", "backlight"):
        dirs = [backlight] if backlight else sorted(glob.glob(backlight_glob))
        if dirs and os.path.exists(os.path.join(dirs[0], "bl_power")):
            return BacklightPower(dirs[0])
        if method == "backlight":
            log.warning("display.standby: no backlight with bl_power; using a black screen")
    return BlackScreen()
