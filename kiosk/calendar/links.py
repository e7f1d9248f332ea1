"""Which OpenVidu session an event names — only ever one on *this* kiosk's server.

An event maps to a session when

* it has an ``X-KIOSK-SESSION`` property holding a valid session id, or
* its URL, LOCATION or DESCRIPTION (searched in that order) holds an http(s) link whose host is
  the host of ``server.url`` (case-insensitive; the port is not compared, since a meeting app
  on 443 and OpenVidu on 4443 share a host). The session id is the link's ``sessionId`` or
  ``session`` query parameter, else the last segment of its ``#/…`` fragment, else the last
  segment of its path.

The id must match ``session.id``'s rule (1–100 characters from ``a-z A-Z 0-9 _ -``). Links to
other hosts are reported (``link="other-server"``) but never followed or joined. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from kiosk.calendar.meetings import MAX_DESCRIPTION_SCAN, LinkKind

__all__ = ["SESSION_PROPERTY", "SessionLink", "find_session", "server_host", "valid_session_id"]

SESSION_PROPERTY = "X-KIOSK-SESSION"
_SESSION_ID = re.compile(r"[a-zA-Z0-9_-]{1,100}")
_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}|\\^`]+", re.IGNORECASE)
_MAX_LINKS = 20


@dataclass(frozen=True, slots=True)
class SessionLink:
    session_id: str | None
    kind: LinkKind


def valid_session_id(text: str) -> bool:
    return _SESSION_ID.fullmatch(text) is not None


def server_host(server_url: str) -> str:
    """The host part of ``server.url``, lower case, without a trailing dot."""
    host = urlsplit(server_url).hostname or ""
    return host.lower().rstrip(".")


def _session_from_url(url: str) -> str | None:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    for name in ("sessionId", "session"):
        values = query.get(name)
        if values:
            return values[0] if valid_session_id(values[0]) else None
    for piece in (parts.fragment, parts.path):
        segments = [unquote(s) for s in piece.split("?")[0].split("/") if s]
        if segments:
            last = segments[-1]
            return last if valid_session_id(last) else None
    return None


def find_session(*, explicit: str | None, texts: list[str], host: str) -> SessionLink:
    """The session an event names (see the module docstring). ``texts``: URL, LOCATION, DESC."""
    if explicit is not None:
        value = explicit.strip()
        if valid_session_id(value):
            return SessionLink(value, "this-server")
    other = False
    for text in texts:
        for count, match in enumerate(_URL.finditer(text[:MAX_DESCRIPTION_SCAN])):
            if count >= _MAX_LINKS:
                break
            url = match.group(0).rstrip(".,;:!?")
            try:
                link_host = (urlsplit(url).hostname or "").lower().rstrip(".")
            except ValueError:
                continue
            if host and link_host == host:
                session = _session_from_url(url)
                if session is not None:
                    return SessionLink(session, "this-server")
            elif link_host:
                other = True
    return SessionLink(None, "other-server" if other else "none")
