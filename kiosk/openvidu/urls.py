"""Token parsing and WebSocket URL derivation (protocol §2.2, §2.3).

An OpenVidu token is a URL ``ws[s]://host[:port]?sessionId=<id>&token=tok_…``. The WebSocket to
open is ``<scheme>://host[:port]/openvidu?sessionId=<id>``. Error messages never quote the token.

The token comes from the server (or an application server), so it must not decide on its own
where the room's camera and microphone go. With a :class:`SignalingPolicy` (what the kiosk uses):

* ``server.url`` https → the socket is ``wss``; a token asking for ``ws`` is refused;
* the token's host must be ``server.url``'s host or one of ``allow_token_hosts``;
* a host override (``server.websocket_host``) replaces the token's host, and may carry its own
  scheme (``ws://`` or ``wss://``); without one it is ``wss`` for an https ``server.url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from kiosk.errors import InvalidToken

__all__ = [
    "SignalingPolicy",
    "TokenInfo",
    "parse_host_override",
    "parse_token",
    "split_host_override",
]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    session_id: str
    ws_url: str


@dataclass(frozen=True, slots=True)
class SignalingPolicy:
    """Where signaling may go: ``server_url`` (http(s)://host[:port]) decides scheme and host."""

    server_url: str
    allow_token_hosts: tuple[str, ...] = ()

    @property
    def tls(self) -> bool:
        return urlsplit(self.server_url).scheme.lower() == "https"

    @property
    def server_host(self) -> str:
        return (urlsplit(self.server_url).hostname or "").lower()

    def allows_host(self, host: str) -> bool:
        wanted = host.lower().rstrip(".")
        allowed = {
            self.server_host,
            *(h.lower().strip("[]").rstrip(".") for h in self.allow_token_hosts),
        }
        return wanted in allowed


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


def split_host_override(override: str) -> tuple[str | None, str]:
    """``"[ws[s]://]host[:port]"`` → (scheme or None, URL netloc)."""
    text = override.strip()
    scheme: str | None = None
    head, sep, rest = text.partition("://")
    if sep:
        scheme = head.lower()
        if scheme not in ("ws", "wss"):
            raise InvalidToken(
                f"WebSocket host override {override!r}: scheme must be ws:// or wss://"
            )
        text = rest.rstrip("/")
    return scheme, parse_host_override(text)


def parse_host_override(override: str) -> str:
    """Validate ``"host[:port]"`` (IPv6 in brackets) and return it as a URL netloc."""
    text = override.strip()
    bad = InvalidToken(f"WebSocket host override {override!r} is not [ws[s]://]host[:port]")
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


def parse_token(
    token: str, host_override: str | None = None, policy: SignalingPolicy | None = None
) -> TokenInfo:
    """Validate an OpenVidu token and derive the WebSocket URL to open for it.

    ``host_override`` (``"[ws[s]://]host[:port]"``) replaces the host (and, when it names one,
    the scheme) of the WebSocket URL; the token itself is still sent unchanged in ``joinRoom``.
    ``policy`` refuses a token that would take the call elsewhere (see the module docstring);
    without it the token's scheme and host are followed (the ``kiosk bot`` tool's behaviour).
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
    override_scheme: str | None = None
    if host_override:
        override_scheme, netloc = split_host_override(host_override)
    else:
        netloc = _netloc(host, port)
    if policy is not None:
        if override_scheme is not None:
            scheme = override_scheme  # configured explicitly: the admin's choice
        elif policy.tls:
            if scheme != "wss" and not host_override:
                raise InvalidToken(
                    f"the token asks for unencrypted signaling (ws://{_netloc(host, port)}) "
                    "although server.url is https; refusing"
                )
            scheme = "wss"
        if not host_override and not policy.allows_host(host):
            raise InvalidToken(
                f"the token sends the call to {host!r}, not to server.url's host "
                f"{policy.server_host!r}; refusing (add it to server.allow_token_hosts "
                "if that host is right)"
            )
    elif override_scheme is not None:
        scheme = override_scheme
    ws_url = f"{scheme}://{netloc}/openvidu?sessionId={quote(session_id, safe='')}"
    return TokenInfo(session_id=session_id, ws_url=ws_url)


def host_port(url: str) -> tuple[str, int]:
    """Host and port of an http(s)/ws(s) URL (default ports 443/80; no host: 127.0.0.1)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    return parts.hostname or "127.0.0.1", port
