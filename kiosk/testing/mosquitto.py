"""A real Mosquitto broker for tests and benches, on 127.0.0.1 only.

``Mosquitto(tmp_dir, users={"room-a": "pw", ...}, acl=...)`` writes a config with a password
file (hashed by ``mosquitto_passwd``) and an ACL, picks a free port, and :meth:`start` runs the
broker until it accepts connections (bounded wait). :meth:`stop` / :meth:`start` again keep the
port, so a test can take the broker away and bring it back. No persistence: a restarted broker
has no retained messages, like a broker whose disk was wiped.

:func:`find_mosquitto` tells whether the programs are installed (Debian's ``mosquitto``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["DEFAULT_ACL", "Mosquitto", "find_mosquitto"]

DEFAULT_ACL = """\
# The fleet console may read and write everything.
user admin
topic readwrite #

# Each room (its user name is its room id) only under its own prefix, its own discovery
# message, and Home Assistant's status.
pattern readwrite kiosk/%u/#
pattern write homeassistant/device/%u/config
pattern read homeassistant/status
"""


def find_mosquitto() -> tuple[str, str] | None:
    """(mosquitto, mosquitto_passwd) paths, or None when either is missing."""
    broker = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    passwd = shutil.which("mosquitto_passwd")
    return (broker, passwd) if broker and passwd else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    def __init__(
        self,
        directory: str | os.PathLike[str],
        users: dict[str, str],
        *,
        acl: str = DEFAULT_ACL,
        port: int | None = None,
        tls: tuple[str, str, str] | None = None,  # (ca file, certificate, key): mqtts only
    ) -> None:
        found = find_mosquitto()
        if found is None:
            raise FileNotFoundError("mosquitto and mosquitto_passwd are needed (apt mosquitto)")
        self.binary, passwd = found
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "mosquitto.log"
        password_file = self.dir / "passwd"
        password_file.write_text("")
        for user, password in users.items():
            subprocess.run(
                [passwd, "-b", str(password_file), user, password],
                check=True,
                capture_output=True,
                timeout=10,
            )
        password_file.chmod(0o600)
        (self.dir / "acl").write_text(acl)
        (self.dir / "acl").chmod(0o600)
        lines = [
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {password_file}",
            f"acl_file {self.dir / 'acl'}",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            f"listener {self.port} 127.0.0.1",
        ]
        if tls is not None:
            ca, cert, key = tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        self.config_path = self.dir / "mosquitto.conf"
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed by the child's lifetime
        try:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout:g} s")

    def stop(self, *, kill: bool = False) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
