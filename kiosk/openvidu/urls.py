"""Token parsing and WebSocket URL derivation (protocol §2.2, §2.3).

An OpenVidu token is a URL ``ws[s]://host[:port]?sessionId=<id>&token=tok_…``. The WebSocket to
open is ``<scheme>://host[:port]/openvidu?sessionId=<id>``; the token's own scheme is kept (``ws``
only for a plain-HTTP development server). Error messages never quote the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from kiosk.errors import InvalidToken

__all__ = ["TokenInfo", "parse_host_override", "parse_token"]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    session_id: str
    ws_url: str


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


def parse_host_override(override: str) -> str:
    """Validate ``"host[:port]"`` (IPv6 in brackets) and return it as a URL netloc."""
    text = override.strip()
    bad = InvalidToken(f"WebSocket host override {override!r} is not host[:port]")
    if not text or any(c in text for c in "/?#@ "):
        raise bad
    try:
        parts = urlsplit(f"//{text}")
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise bad from exc
    if not host:
        raise bad
    return _netloc(host, port)


def parse_token(token: str, host_override: str | None = None) -> TokenInfo:
    """Validate an OpenVidu token and derive the WebSocket URL to open for it.

    ``host_override`` (``"host[:port]"``) replaces only the host of the WebSocket URL; the token
    itself must still be sent unchanged in ``joinRoom``.
    """
    not_token = "the configured or received token is not an OpenVidu token"
    if not isinstance(token, str) or not token or token != token.strip():
        raise InvalidToken(f"{not_token} (expected ws[s]://host[:port]?sessionId=…&token=…)")
    try:
        parts = urlsplit(token)
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise InvalidToken(f"{not_token} (unparsable URL)") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise InvalidToken(f"{not_token} (scheme must be ws or wss)")
    if not host:
        raise InvalidToken(f"{not_token} (no host)")
    query = parse_qs(parts.query, keep_blank_values=True)
    session_ids = query.get("sessionId") or []
    session_id = session_ids[0] if session_ids else ""
    if not session_id:
        raise InvalidToken(f"{not_token} (no sessionId parameter)")
    netloc = parse_host_override(host_override) if host_override else _netloc(host, port)
    ws_url = f"{scheme}://{netloc}/openvidu?sessionId={quote(session_id, safe='')}"
    return TokenInfo(session_id=session_id, ws_url=ws_url)
