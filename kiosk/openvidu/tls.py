"""One TLS context shared by the REST client (httpx) and the signaling socket (websockets)."""

from __future__ import annotations

import ssl

from kiosk.errors import ConfigError

__all__ = ["TLS_HINT", "make_ssl_context"]

# What to do about an untrusted certificate, in the kiosk config's words; other front ends
# (kiosk bot) pass their own flags' words.
TLS_HINT = "set server.ca_file or server.verify_tls: false"


def make_ssl_context(verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """Return a client context: system CAs (+ ``ca_file``), or no verification at all.

    ``verify=False`` accepts any certificate (OpenVidu's self-signed development setups).
    """
    try:
        ctx = ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError([f"server.ca_file: cannot load {ca_file!r}: {why}"]) from exc
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
