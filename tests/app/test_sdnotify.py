"""sd_notify messages reach a real datagram socket the way systemd reads them."""

from __future__ import annotations

import socket
from pathlib import Path

from kiosk.app.sdnotify import SystemdNotifier


def _listener(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    return sock, path


def test_ready_status_and_watchdog(tmp_path: Path) -> None:
    sock, path = _listener(tmp_path)
    n = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"})
    assert n.enabled and n.watchdog_interval == 10.0
    assert n.ready("in call")
    assert sock.recv(1024) == b"READY=1\nSTATUS=in call"
    assert n.watchdog(now=100.0)
    assert sock.recv(1024) == b"WATCHDOG=1"
    # Called every frame, it sends at most about once a second.
    assert not n.watchdog(now=100.5)
    assert n.watchdog(now=101.1)
    assert sock.recv(1024) == b"WATCHDOG=1"
    n.close()
    sock.close()


def test_outside_systemd_everything_is_a_no_op() -> None:
    n = SystemdNotifier({})
    assert not n.enabled
    assert not n.ready() and not n.watchdog(now=1.0) and not n.status("x")


def test_watchdog_for_another_pid_is_ignored(tmp_path: Path) -> None:
    n = SystemdNotifier(
        {"NOTIFY_SOCKET": str(tmp_path / "s"), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    )
    assert n.watchdog_interval is None
