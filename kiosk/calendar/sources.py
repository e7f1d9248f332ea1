"""Where a room calendar comes from: an ICS URL or a CalDAV collection, fetched with httpx.

This is the only calendar module that imports ``httpx``; every failure becomes one
:class:`kiosk.errors.CalendarError` line that names the calendar by ``scheme://host[:port]``
only (the path of a private ICS address is a secret) and never holds the password.

Input is bounded: a response larger than :data:`~kiosk.calendar.meetings.MAX_RESPONSE_BYTES` is
an error (read in chunks; the rest is never downloaded), and a CalDAV answer with a DOCTYPE
(entity tricks) is refused.

CalDAV is read with one plain ``REPORT`` ``calendar-query`` (RFC 4791 §7.8) limited by a
``time-range``: the server returns the whole resources (series with their exceptions) that
touch the window, and :mod:`kiosk.calendar.ics` expands them like an ICS file.
"""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from kiosk.calendar.meetings import MAX_RESPONSE_BYTES
from kiosk.errors import CalendarError
from kiosk.net import is_cert_error
from kiosk.redact import redact, register_secret

__all__ = [
    "CalDavSource",
    "CalendarSource",
    "HttpSettings",
    "IcsSource",
    "calendar_label",
]

_MAX_REASON = 160
_CALDAV = "urn:ietf:params:xml:ns:caldav"
_DAV = "DAV:"


class CalendarSource(Protocol):
    """Something that returns the iCalendar texts of a room calendar for a time window."""

    label: str

    async def fetch(self, start: datetime, end: datetime) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """How to reach a calendar server (mapped from the ``calendar:`` config section)."""

    url: str
    username: str | None = None
    password: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    timeout: float = 10.0
    max_bytes: int = MAX_RESPONSE_BYTES


def calendar_label(url: str) -> str:
    """``calendar scheme://host[:port]``: how messages name a calendar (no path, no query)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "calendar (invalid URL)"
    shown = f"[{host}]" if ":" in host else host
    return f"calendar {parts.scheme}://{shown}{f':{port}' if port else ''}"


def _reason(exc: BaseException) -> str:
    text = " ".join(redact(str(exc)).split()) or type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


class _Http:
    """One bounded request with uniform error conversion."""

    def __init__(self, settings: HttpSettings, transport: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.label = calendar_label(settings.url)
        self._transport = transport
        register_secret(settings.password)
        self._auth = (
            httpx.BasicAuth(settings.username, settings.password or "")
            if settings.username is not None
            else None
        )

    def _verify(self) -> ssl.SSLContext | bool:
        if not self.settings.verify_tls:
            return False
        if self.settings.ca_file:
            return ssl.create_default_context(cafile=self.settings.ca_file)
        return ssl.create_default_context()

    async def request(
        self, method: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, bytes]:
        timeout = self.settings.timeout
        try:
            verify = self._verify()
        except (OSError, ssl.SSLError) as exc:
            raise CalendarError(f"{self.label}: CA file not usable: {_reason(exc)}") from None
        try:
            async with httpx.AsyncClient(
                auth=self._auth,
                verify=verify,
                timeout=httpx.Timeout(timeout),
                transport=self._transport,
                trust_env=False,
                follow_redirects=True,
                max_redirects=3,
            ) as client:
                request = client.build_request(
                    method, self.settings.url, headers=headers, content=body
                )
                response = await client.send(request, stream=True)
                try:
                    status = response.status_code
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self.settings.max_bytes:
                        raise self._too_large()
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self.settings.max_bytes:
                            raise self._too_large()
                        chunks.append(chunk)
                finally:
                    await response.aclose()
        except CalendarError:
            raise
        except httpx.TimeoutException:
            raise CalendarError(f"{self.label} did not answer within {timeout:g} s") from None
        except httpx.TooManyRedirects:
            raise CalendarError(f"{self.label}: too many redirects") from None
        except (httpx.ConnectError, httpx.TransportError) as exc:
            if is_cert_error(exc):
                raise CalendarError(
                    f"certificate of {self.label} is not trusted; set calendar.ca_file"
                ) from None
            raise CalendarError(f"cannot read {self.label}: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise CalendarError(f"cannot read {self.label}: {_reason(exc)}") from None
        return status, b"".join(chunks)

    def _too_large(self) -> CalendarError:
        limit = self.settings.max_bytes
        return CalendarError(f"{self.label}: answer larger than {limit // 1024} KiB; not read")

    def refused(self, status: int) -> CalendarError:
        if status in (401, 403):
            return CalendarError(
                f"{self.label} refused the credentials (HTTP {status}); check "
                "calendar.username and the calendar password"
            )
        if status == 404:
            return CalendarError(f"{self.label}: no calendar at that address (HTTP 404)")
        return CalendarError(f"{self.label} answered HTTP {status}")


class _HttpSource:
    """What the two sources share: one bounded HTTP client, and "expected status or refused"."""

    def __init__(
        self, settings: HttpSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._http = _Http(settings, transport)
        self.label = self._http.label

    async def _read(
        self, method: str, expect: int, headers: dict[str, str], body: bytes | None = None
    ) -> bytes:
        status, answer = await self._http.request(method, headers=headers, body=body)
        if status != expect:
            raise self._http.refused(status)
        return answer


class IcsSource(_HttpSource):
    """An ``.ics`` address (webcal feeds, exported room calendars): one GET per refresh."""

    async def fetch(self, start: datetime, end: datetime) -> list[bytes]:
        return [await self._read("GET", 200, {"Accept": "text/calendar"})]


def _utc_stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the calendar window must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar_query(start: datetime, end: datetime) -> bytes:
    """The body of a CalDAV ``calendar-query`` REPORT for VEVENTs touching ``[start, end)``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<C:calendar-query xmlns:D="{_DAV}" xmlns:C="{_CALDAV}">'
        "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{_utc_stamp(start)}" end="{_utc_stamp(end)}"/>'
        "</C:comp-filter></C:comp-filter></C:filter>"
        "</C:calendar-query>"
    ).encode()


def parse_multistatus(body: bytes, label: str) -> list[bytes]:
    """The ``calendar-data`` texts of a CalDAV multistatus answer."""
    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        raise CalendarError(f"{label}: answer declares a DOCTYPE; refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise CalendarError(f"{label}: answer is not a CalDAV multistatus (not XML)") from None
    if root.tag != f"{{{_DAV}}}multistatus":
        raise CalendarError(f"{label}: answer is not a CalDAV multistatus")
    texts: list[bytes] = []
    for element in root.iter(f"{{{_CALDAV}}}calendar-data"):
        if element.text and element.text.strip():
            texts.append(element.text.encode())
    return texts


class CalDavSource(_HttpSource):
    """A CalDAV calendar collection (a room's calendar on Radicale, Nextcloud, SOGo, …)."""

    async def fetch(self, start: datetime, end: datetime) -> list[bytes]:
        body = await self._read(
            "REPORT",
            207,
            {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            calendar_query(start, end),
        )
        return parse_multistatus(body, self.label)
