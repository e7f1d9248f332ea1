"""systemd notification protocol (sd_notify) without a dependency.

``Type=notify`` units get ``READY=1`` once the screen is up, ``WATCHDOG=1`` from the render loop
(so a hung loop stops the pings and systemd restarts the service), and ``STATUS=`` lines that
``systemctl status`` shows. Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time


class SystemdNotifier:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        self._address = environ.get("NOTIFY_SOCKET") or None
        usec = environ.get("WATCHDOG_USEC")
        pid = environ.get("WATCHDOG_PID")
        self.watchdog_interval: float | None = None
        if usec and usec.isdigit() and (not pid or pid == str(os.getpid())):
            # Ping at half the timeout, as sd_watchdog_enabled(3) recommends.
            self.watchdog_interval = int(usec) / 1_000_000 / 2
        self._last_watchdog = 0.0
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def _send(self, message: str) -> bool:
        if self._address is None:
            return False
        address = self._address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), address)
            return True
        except OSError:
            return False

    def ready(self, status: str = "") -> bool:
        return self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> bool:
        return self._send(f"STATUS={status}")

    def stopping(self) -> bool:
        return self._send("STOPPING=1")

    def watchdog(self, now: float | None = None) -> bool:
        """Send WATCHDOG=1, at most once per half watchdog interval. Call it every frame."""
        if self.watchdog_interval is None:
            return False
        t = time.monotonic() if now is None else now
        if t - self._last_watchdog < min(self.watchdog_interval, 1.0):
            return False
        self._last_watchdog = t
        return self._send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
