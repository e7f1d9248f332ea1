"""``kiosk check-config FILE``: what ``kiosk run`` would resolve, without starting it.

Beyond loading the file this resolves the token source like ``run`` does and, unless
``--no-devices``, warns about missing camera/microphone/speaker devices (:func:`_device_warnings`).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections.abc import Mapping

from kiosk.config.loader import FileProblem, load_config
from kiosk.config.models import KioskConfig
from kiosk.config.secret import (
    CREDENTIAL_NAME,
    read_secret_file,
    resolve_calendar_password,
    resolve_mqtt_password,
    resolve_secret,
    resolve_status_token,
)
from kiosk.errors import ConfigError
from kiosk.redact import redact, register_secret

NO_TOKEN_SOURCE = (
    "server.secret: no way to get a token: set server.secret, server.secret_file, "
    "server.application_url or server.token, or provide KIOSK_OPENVIDU_SECRET or the "
    "systemd credential 'openvidu-secret'"
)
INSTALLED_UNIT = "/etc/systemd/system/kiosk.service"


def unit_credential_file(unit: str = INSTALLED_UNIT) -> str | None:
    """The file a unit hands over as the ``openvidu-secret`` credential, or None.

    Reads ``LoadCredential=openvidu-secret:PATH`` from the unit file and its drop-ins
    (``kiosk.service.d/*.conf``, later ones win; an empty ``LoadCredential=`` resets).
    """
    found: str | None = None
    drop_ins = sorted(glob.glob(glob.escape(unit) + ".d/*.conf"))
    for path in [unit, *drop_ins]:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(256 * 1024)
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.strip().partition("=")
            if not sep or key.strip() != "LoadCredential":
                continue
            value = value.strip()
            if not value:
                found = None
                continue
            name, _, source = value.partition(":")
            if name == CREDENTIAL_NAME and source:
                found = source
    return found


def _resolve_like_run(config: KioskConfig, env: Mapping[str, str], unit: str | None) -> list[str]:
    """The token-source problems ``kiosk run`` would hit (empty list: it finds a token source).

    Under systemd ``run`` reads the secret from ``$CREDENTIALS_DIRECTORY``; here, outside the
    service, the file the installed unit would hand over is read instead.
    """
    server = config.server
    if server.token_mode != "secret" or resolve_secret(server, env):
        return []
    credential = unit_credential_file(unit) if unit else None
    if credential is not None and not env.get("CREDENTIALS_DIRECTORY"):
        where = f"systemd credential {CREDENTIAL_NAME} (LoadCredential= in {unit})"
        try:
            register_secret(read_secret_file(credential, where))
        except ConfigError as exc:
            return [
                f"{problem} (write the secret into it, or set server.application_url)"
                for problem in exc.problems
            ]
        return []
    return [NO_TOKEN_SOURCE]


def _device_warnings(config: KioskConfig) -> list[str]:
    """Devices ``run`` would open that are not there (warnings: the kiosk starts anyway)."""
    from kiosk.media.audio_devices import check_all
    from kiosk.media.cameras import find_camera

    problems: list[str] = []
    camera = config.media.camera.device
    if camera == "auto" and find_camera() is None:
        problems.append(
            "media.camera.device: auto: no camera found (plug in a USB camera, or set "
            "media.camera.device: none)"
        )
    elif camera.startswith("/dev/") and not os.path.exists(camera):
        problems.append(f"media.camera.device: {camera}: no such device (is it plugged in?)")
    problems += check_all(config.media.microphone.device, config.media.speaker.device)
    return problems


def check_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    unit: str | None = INSTALLED_UNIT,
    devices: bool = True,
) -> tuple[int, list[str]]:
    """``(0, ["OK", warnings…])`` when ``kiosk run`` can start with the file, else
    ``(2, one line per problem)``.

    Beyond :func:`load_config` this resolves what ``run`` resolves: the token source (secret,
    secret file, ``KIOSK_OPENVIDU_SECRET``, the systemd credential — outside systemd the file
    named by ``LoadCredential=`` in ``unit``; an empty file is a problem). With ``devices``,
    missing camera/microphone/speaker devices are warnings (``run`` starts without them).
    Problems about the file as a whole are prefixed with its path.
    """
    source = os.fspath(path)
    try:
        config = load_config(source)
        problems = _resolve_like_run(config, os.environ if env is None else env, unit)
        if config.status.token_file is not None:
            resolve_status_token(config.status, env={})
        if config.mqtt.enabled and config.mqtt.password_file is not None:
            resolve_mqtt_password(config.mqtt, env={})
        if config.calendar.url is not None and config.calendar.password_file is not None:
            resolve_calendar_password(config.calendar, env={})
    except FileProblem as exc:
        return 2, [redact(f"{source}: {problem}") for problem in exc.problems]
    except ConfigError as exc:
        return 2, [redact(problem) for problem in exc.problems]
    if problems:
        return 2, [redact(problem) for problem in problems]
    warnings = _device_warnings(config) if devices else []
    return 0, ["OK", *(redact(f"warning: {w}") for w in warnings)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kiosk check-config``."""
    parser.add_argument("config_file", metavar="FILE", help="the kiosk YAML configuration file")
    parser.add_argument(
        "--no-devices",
        action="store_true",
        help="do not look for the camera, microphone and speaker (e.g. on another machine)",
    )
    parser.add_argument(
        "--unit",
        default=INSTALLED_UNIT,
        metavar="UNIT_FILE",
        help="systemd unit whose LoadCredential=openvidu-secret:FILE to read when no other "
        f"secret source is set (default {INSTALLED_UNIT})",
    )


def main_from_args(args: argparse.Namespace) -> int:
    """Run ``kiosk check-config FILE``; return the exit code (0 valid, 2 problems).

    Prints ``OK`` on stdout, or one line per problem on stderr.
    """
    code, lines = check_config(args.config_file, unit=args.unit, devices=not args.no_devices)
    for index, line in enumerate(lines):
        print(line, file=sys.stdout if code == 0 and index == 0 else sys.stderr)
        sys.stdout.flush()
    return code
