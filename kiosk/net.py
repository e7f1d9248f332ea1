"""Small network facts shared by the clients and servers: is a host this machine, and did a
connection fail on the server's certificate. Standard library only (no httpx, no aiohttp)."""

from __future__ import annotations

import ipaddress
import ssl

__all__ = ["is_cert_error", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address: what a bind, an origin, a URL host or an ICE
    address on this machine names. Brackets, a trailing dot and an IPv6 zone are ignored."""
    name = host.strip("[]")
    if name.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def is_cert_error(exc: BaseException) -> bool:
    """True when ``exc`` or anything in its cause/context chain is a certificate failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
