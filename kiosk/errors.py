"""The one error tree of the kiosk.

Every error a user or an admin can cause or see is a :class:`KioskError`. ``str(err)`` is a
single line that names the thing at fault (a config key, an HTTP status, an RPC method, a device)
and, where it helps, what to check. Library errors are converted at the module boundary that
talks to the library (``raise SignalingLost(...) from exc``); nothing above that boundary sees
``httpx``, ``websockets``, ``aiortc`` or ``gpiozero`` exceptions.

``retry_after_hint`` tells the call state machine how to back off: ``"short"`` for transient
faults (unreachable, timeout, socket lost), ``"long"`` for faults a human must fix (wrong secret,
rejected token, untrusted certificate), ``None`` when the error is not about reaching the server.
Secrets and tokens never appear in messages: build messages from ids and statuses only.
"""

from __future__ import annotations

from typing import Literal

RetryHint = Literal["short", "long"] | None


class KioskError(Exception):
    """Base of every kiosk error. ``str()`` is one line, fit for a log and for the screen."""

    retry_after_hint: RetryHint = None

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


# --- configuration -------------------------------------------------------------------------


class ConfigError(KioskError):
    """The configuration file is missing, unreadable, not YAML, or has invalid values.

    ``problems`` holds one line per problem, each starting with the key path
    (``server.url: expected https://… or http://…, got 'ftp://x'``).
    """

    def __init__(self, problems: list[str], *, source: str = "") -> None:
        self.problems = list(problems) or ["invalid configuration"]
        self.source = source
        prefix = f"{source}: " if source else ""
        first = self.problems[0]
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{prefix}{first}{more}")


# --- getting a token (REST / application server) -------------------------------------------


class TokenError(KioskError):
    """Getting a session and a token from the server failed."""

    retry_after_hint: RetryHint = "short"


class AuthenticationFailed(TokenError):
    """401/403 from the REST API or the application server: wrong secret or credentials."""

    retry_after_hint: RetryHint = "long"


class TlsUntrusted(TokenError):
    """The server's certificate is not trusted."""

    retry_after_hint: RetryHint = "long"


class ServerUnreachable(TokenError):
    """DNS failure, connection refused, host or network unreachable."""


class ServerTimeout(TokenError):
    """The server accepted the connection but did not answer in time."""


class ServerRejected(TokenError):
    """The server answered with an unexpected 4xx/5xx status."""

    def __init__(self, message: str, *, status: int) -> None:
        self.status = status
        super().__init__(message)
        # 5xx and 404 (session vanished between calls) are worth a quick retry; other 4xx
        # mean the request itself is wrong and will stay wrong.
        self.retry_after_hint = "short" if status >= 500 or status in (404, 409, 429) else "long"


class MalformedResponse(TokenError):
    """The server answered 2xx but the body is not what the protocol promises."""


# --- signaling (JSON-RPC over WebSocket) -----------------------------------------------------


class SignalingError(KioskError):
    """Anything that goes wrong on the JSON-RPC WebSocket."""

    retry_after_hint: RetryHint = "short"


class SignalingLost(SignalingError):
    """The WebSocket could not be opened, or dropped, or stopped answering pings."""


class RpcTimeout(SignalingError):
    """A request got no response in time (the server never answers some requests)."""

    def __init__(self, method: str, timeout: float) -> None:
        self.method = method
        self.timeout = timeout
        super().__init__(f"{method}: no response from the server within {timeout:g} s")


class RpcError(SignalingError):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        self.method = method
        self.code = code
        self.server_message = message
        super().__init__(f"{method}: server error {code}: {message}")
        # 401 on joinRoom = token rejected (used, unknown, other session): a new token may help
        # once, but a loop of them means something a human must fix.
        self.retry_after_hint = "long" if code == 401 else "short"


class ResumeFailed(SignalingError):
    """`connect` on a new socket failed: the server has dropped our RPC session; join anew.

    ``definitive`` is True when the server answered and refused (error 40007 …): trying again
    cannot help. False when the server could not be reached: another attempt may still resume.
    """

    def __init__(self, message: str, *, definitive: bool = False) -> None:
        self.definitive = definitive
        super().__init__(message)


class Evicted(SignalingError):
    """The server evicted this participant (or closed the session)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"removed from the session by the server (reason: {reason or 'none given'})"
        )


# --- media, display, hardware ----------------------------------------------------------------


class OperationFailed(KioskError):
    """A call operation (token, join, resume) ended with an error nobody mapped to this tree —
    a bug or a library fault. The machine treats it like a transient failure: retry with the
    short backoff."""

    retry_after_hint: RetryHint = "short"


class MediaError(KioskError):
    """WebRTC negotiation or media processing failed."""


class DeviceUnavailable(MediaError):
    """A camera, microphone or speaker is missing, busy or not permitted."""

    def __init__(self, kind: str, device: str, why: str) -> None:
        self.kind = kind
        self.device = device
        super().__init__(f"{kind} '{device}' unavailable: {why}")


class DisplayError(KioskError):
    """The display could not be opened (e.g. the SDL video driver is unavailable)."""


class HardwareError(KioskError):
    """GPIO buttons or LEDs could not be set up."""


# --- added by the OpenVidu client ------------------------------------------------------------


class InvalidToken(TokenError):
    """A token is not an OpenVidu token URL (``ws[s]://host[:port]?sessionId=…&token=…``)."""

    retry_after_hint: RetryHint = "long"


class FleetError(KioskError):
    """The fleet link (MQTT broker) failed: unreachable, refused our login, or dropped us.

    Never about the call: the kiosk goes on as before and the link retries on its own.
    """


# --- added by the room features (calendar) -------------------------------------------------


class CalendarError(KioskError):
    """A room calendar could not be read (unreachable, refused, too large, not iCalendar).

    The message names the calendar by scheme and host only: a calendar URL may carry a secret
    in its path (private ICS addresses), so the path is never shown.
    """

    retry_after_hint: RetryHint = "short"
