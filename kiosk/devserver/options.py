"""Settings of one dev server instance, shared by the REST side, the JSON-RPC side and the server.

This module imports nothing from the rest of :mod:`kiosk.devserver`, so that ``rest``, ``rpc``
and ``server`` all depend on it and never on each other's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DevServerOptions"]


@dataclass
class DevServerOptions:
    host: str = "127.0.0.1"
    port: int = 4443
    secret: str = "MY_SECRET"
    # Binding beyond loopback with the published default secret is refused unless this is set.
    allow_default_secret: bool = False
    # Browser origins allowed by CORS besides those on this machine (localhost, 127.0.0.1, ::1).
    cors_origins: tuple[str, ...] = ()
    tls: bool = True
    public_url: str | None = None  # what goes into tokens; default derived from host:port
    media_server: Literal["kurento", "mediasoup"] = "kurento"
    grace_seconds: float = 10.0  # reconnection grace after a socket loss (§7.2)
    close_after_leave_seconds: float = 10.0
    default_ping_interval_ms: int = 20000  # watchdog = 3 x interval of the first ping
    version: str = "2.22.0"
    forced_video_codec: str = "VP8"  # §8.4 munging applied to every offer
