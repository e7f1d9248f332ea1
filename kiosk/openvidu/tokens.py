"""Getting a token: OpenVidu REST with the secret, an application server, or a fixed token.

This is the only module that imports ``httpx``; every httpx failure is converted here into one
of the :mod:`kiosk.errors` token errors, with a one-line message that names the request and never
contains the secret or a token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
from typing import Any, NoReturn, Protocol
from urllib.parse import quote, urlsplit

import httpx

from kiosk.errors import (
    AuthenticationFailed,
    ConfigError,
    InvalidToken,
    MalformedResponse,
    ServerRejected,
    ServerTimeout,
    ServerUnreachable,
    TlsUntrusted,
)
from kiosk.net import is_cert_error, is_loopback_host
from kiosk.openvidu.tls import TLS_HINT
from kiosk.openvidu.urls import parse_token
from kiosk.redact import redact, register_secret

# httpx imports its HTTP/1.1 and async back ends (h11, anyio: ~70 modules) at the first request,
# on the event loop: the kiosk's first token waited 0.5-0.9 s for them on a loaded machine (the
# stall reporter, kiosk/app/stalls.py). They are imported with this module instead, at start.
with contextlib.suppress(ImportError):  # another httpx back end: then it imports its own
    import anyio._backends._asyncio  # noqa: F401
    import h11  # noqa: F401
    import httpcore._backends.anyio  # noqa: F401

__all__ = [
    "AppServerTokenProvider",
    "FixedTokenProvider",
    "RestTokenProvider",
    "TokenProvider",
    "check_secret_transport",
]

log = logging.getLogger(__name__)

_MAX_MESSAGE = 200


class TokenProvider(Protocol):
    async def get_token(self) -> str: ...


class FixedTokenProvider:
    """Always the same token (only joins once: tokens are single-use)."""

    def __init__(self, token: str) -> None:
        parse_token(token)  # validate early; raises InvalidToken without quoting it
        register_secret(token)
        self._token = token

    async def get_token(self) -> str:
        return self._token


def _base(url: str, what: str) -> tuple[str, str]:
    """Validate an http(s) base URL; return (base without trailing slash, "host:port")."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise ConfigError([f"{what}: not a valid URL"]) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError([f"{what}: expected http(s)://host[:port], got scheme {parts.scheme!r}"])
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError([f"{what}: must not contain credentials, a query or a fragment"])
    port = port or (443 if parts.scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    return url.strip().rstrip("/"), f"{shown}:{port}"


def check_secret_transport(url: str, allow_http: bool) -> None:
    """Refuse to send the secret (HTTP Basic auth) in clear text to another machine.

    ``http://`` is fine to this machine (a dev server); elsewhere only when ``allow_http``
    (``server.allow_http_secret``) says the admin accepts it.
    """
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme.lower() == "http" and not is_loopback_host(host) and not allow_http:
        raise ConfigError(
            [
                f"server.url: the OpenVidu secret would cross the network in clear text "
                f"(http:// to {host!r}); use https://, or set server.allow_http_secret: true"
            ]
        )


def _server_message(response: httpx.Response) -> str:
    """The ``message`` member of an error body, redacted and cut to one short line."""
    try:
        body = json.loads(response.content[:65536])
    except (ValueError, RecursionError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    text = " ".join(redact(message).split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


class _HttpCaller:
    """POST JSON with uniform error conversion."""

    def __init__(
        self,
        base_url: str,
        what: str,
        *,
        auth: httpx.Auth | None,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None,
        auth_hint: str,
        tls_hint: str,
    ) -> None:
        self.base, self.hostport = _base(base_url, what)
        self._auth = auth
        self._ssl = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._timeout = timeout
        self._transport = transport
        self._auth_hint = auth_hint
        self._tls_hint = tls_hint

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            auth=self._auth,
            verify=self._ssl,
            timeout=httpx.Timeout(self._timeout),
            transport=self._transport,
            trust_env=False,
            follow_redirects=False,
        )

    async def post(self, path: str, body: dict[str, Any]) -> tuple[str, httpx.Response]:
        """The request as named in error messages (``POST path``) and the server's answer."""
        what = f"POST {path}"
        try:
            async with self._client() as client:
                response = await client.post(self.base + path, json=body)
        except httpx.TimeoutException as exc:
            raise ServerTimeout(
                f"{self.hostport} did not answer {what} within {self._timeout:g} s"
            ) from exc
        except httpx.ConnectError as exc:
            if is_cert_error(exc):
                raise TlsUntrusted(
                    f"certificate of {self.hostport} is not trusted ({what}); {self._tls_hint}"
                ) from exc
            raise ServerUnreachable(
                f"cannot connect to {self.hostport} ({what}): {_reason(exc)}"
            ) from exc
        except httpx.TransportError as exc:
            if is_cert_error(exc):
                raise TlsUntrusted(
                    f"certificate of {self.hostport} is not trusted ({what}); {self._tls_hint}"
                ) from exc
            raise ServerUnreachable(
                f"connection to {self.hostport} failed during {what}: {_reason(exc)}"
            ) from exc
        except httpx.HTTPError as exc:  # InvalidURL, UnsupportedProtocol, …
            raise ServerUnreachable(f"{what} to {self.hostport} failed: {_reason(exc)}") from exc
        log.debug("%s -> HTTP %d", what, response.status_code)
        return what, response

    async def post_2xx(self, path: str, body: dict[str, Any]) -> tuple[str, httpx.Response]:
        """:meth:`post`, any answer but 2xx converted by :meth:`fail`."""
        what, response = await self.post(path, body)
        if not 200 <= response.status_code < 300:
            self.fail(what, response)
        return what, response

    def fail(self, what: str, response: httpx.Response) -> NoReturn:
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(f"{self._auth_hint} (HTTP {status} from {what})")
        message = _server_message(response)
        suffix = f": {message}" if message else ""
        raise ServerRejected(f"HTTP {status} from {what}{suffix}", status=status)


def _reason(exc: BaseException) -> str:
    text = " ".join(redact(str(exc)).split())
    if not text:
        text = type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _json_object(what: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        raise MalformedResponse(f"{what}: HTTP {response.status_code} body is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedResponse(f"{what}: HTTP {response.status_code} body is not a JSON object")
    return body


def _checked_token(what: str, token: object) -> str:
    if not isinstance(token, str) or not token:
        raise MalformedResponse(f"{what}: response has no token")
    register_secret(token)
    try:
        parse_token(token)
    except InvalidToken as exc:
        raise MalformedResponse(f"{what}: returned value is not an OpenVidu token") from exc
    return token


class RestTokenProvider:
    """The tutorial's client-only flow (§1.8): create the session (200 or 409), then a connection.

    Every ``get_token()`` creates a new connection and so returns a fresh, single-use token.
    """

    def __init__(
        self,
        base_url: str,
        secret: str,
        session_id: str,
        *,
        role: str = "PUBLISHER",
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_http_secret: bool = False,
        tls_hint: str = TLS_HINT,
    ) -> None:
        register_secret(secret)
        check_secret_transport(base_url, allow_http_secret)
        if not session_id:
            raise ConfigError(["session id: must not be empty"])
        self.session_id = session_id
        self.role = role
        self._http = _HttpCaller(
            base_url,
            "server.url",
            auth=httpx.BasicAuth("OPENVIDUAPP", secret),
            ssl_context=ssl_context,
            timeout=timeout,
            transport=transport,
            auth_hint="wrong OpenVidu secret",
            tls_hint=tls_hint,
        )

    async def get_token(self) -> str:
        what, response = await self._http.post(
            "/openvidu/api/sessions", {"customSessionId": self.session_id}
        )
        if response.status_code == 409:
            session_id = self.session_id
        elif response.status_code == 200:
            sid = _json_object(what, response).get("id")
            if not isinstance(sid, str) or not sid:
                raise MalformedResponse(f"{what}: HTTP 200 body has no session id")
            session_id = sid
        else:
            self._http.fail(what, response)
        path = f"/openvidu/api/sessions/{quote(session_id, safe='')}/connection"
        what, response = await self._http.post(path, {"role": self.role, "data": ""})
        if response.status_code != 200:
            if 200 < response.status_code < 300:
                raise MalformedResponse(f"{what}: unexpected HTTP {response.status_code}")
            self._http.fail(what, response)
        return _checked_token(what, _json_object(what, response).get("token"))


def _text_or_json_string(what: str, response: httpx.Response) -> str:
    """An application-server body: a JSON string, or plain text."""
    try:
        text = response.content.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise MalformedResponse(f"{what}: body is not UTF-8 text") from exc
    value: Any = text
    if text.startswith(('"', "{", "[")):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise MalformedResponse(f"{what}: body is neither a JSON string nor text") from exc
    if not isinstance(value, str) or not value.strip():
        raise MalformedResponse(f"{what}: body is not a non-empty string")
    return value.strip()


class AppServerTokenProvider:
    """The v2.23+ tutorials' application server: ``POST /api/sessions``, then ``…/connections``."""

    def __init__(
        self,
        application_url: str,
        session_id: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        tls_hint: str = TLS_HINT,
    ) -> None:
        if not session_id:
            raise ConfigError(["session id: must not be empty"])
        self.session_id = session_id
        self._http = _HttpCaller(
            application_url,
            "application server url",
            auth=None,
            ssl_context=ssl_context,
            timeout=timeout,
            transport=transport,
            auth_hint="the application server refused this kiosk",
            tls_hint=tls_hint,
        )

    async def get_token(self) -> str:
        what, response = await self._http.post_2xx(
            "/api/sessions", {"customSessionId": self.session_id}
        )
        session_id = _text_or_json_string(what, response)
        path = f"/api/sessions/{quote(session_id, safe='')}/connections"
        what, response = await self._http.post_2xx(path, {})
        return _checked_token(what, _text_or_json_string(what, response))
