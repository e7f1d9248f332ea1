"""Sans-I/O JSON-RPC 2.0 core for the OpenVidu signaling channel (protocol §3).

``JsonRpcProtocol.request`` numbers requests (ids start at 0) and encodes them;
``JsonRpcProtocol.parse`` classifies one received frame. The server side (the dev server) builds
its frames with :func:`encode_response`, :func:`encode_error` and :func:`encode_notification`, so
both ends of the channel share one encoder. ``parse`` never raises: anything that is
not a well-formed response, error or notification becomes :class:`Malformed`, whose ``reason``
never quotes the frame (frames may carry tokens).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_FRAME_BYTES",
    "ErrorResponse",
    "Frame",
    "JsonRpcProtocol",
    "Malformed",
    "Notification",
    "Response",
    "encode_error",
    "encode_notification",
    "encode_response",
]

MAX_FRAME_BYTES = 1 << 20
"""Frames larger than this (in bytes or characters) are rejected without parsing."""


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    id: int | None
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Malformed:
    reason: str  # never contains the raw frame (it may hold a token)


Frame = Response | ErrorResponse | Notification | Malformed


# OpenVidu method names are short identifiers; anything else is treated as garbage so that a
# hostile "method" string never reaches a log line.
_METHOD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")


def _encode(message: dict[str, Any], *, allow_nan: bool = True) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=allow_nan)


# Server frames echo values that peers sent (Python's json accepts NaN), so they are encoded as
# leniently as they were parsed; the client's own requests are strict JSON.


def encode_response(request_id: int, result: Any) -> str:
    """A result frame (server side): usually an object; ``closeSession`` answers a string."""
    return _encode({"id": request_id, "result": result, "jsonrpc": "2.0"})


def encode_error(request_id: int | None, code: int, message: str) -> str:
    """An error frame (server side). ``message`` must never hold a token or secret."""
    return _encode(
        {"id": request_id, "error": {"code": code, "message": message}, "jsonrpc": "2.0"}
    )


def encode_notification(method: str, params: dict[str, Any]) -> str:
    """A notification frame (server side): no id, never answered."""
    return _encode({"method": method, "params": params, "jsonrpc": "2.0"})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class JsonRpcProtocol:
    """Request numbering, encoding and frame classification. No I/O."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._next_id = 0
        self._max = max_frame_bytes

    @property
    def next_id(self) -> int:
        return self._next_id

    def request(self, method: str, params: dict[str, Any] | None) -> tuple[int, str]:
        """Return ``(id, text)`` of a request. ``params=None`` omits the member (``ping``)."""
        if params is not None and "sessionId" in params and method != "connect":
            # §3.2: the JSON-RPC library strips params.sessionId and rebinds the request.
            raise ValueError(f"{method}: params must not contain 'sessionId'")
        request_id = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        return request_id, _encode(message, allow_nan=False)

    def parse(self, data: str | bytes) -> Frame:
        """Classify one frame. Never raises."""
        try:
            return self._parse(data)
        except Exception as exc:  # defensive: parse must survive anything
            return Malformed(f"unparsable frame ({type(exc).__name__})")

    def _parse(self, data: str | bytes) -> Frame:
        if isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
            if len(raw) > self._max:
                return Malformed(f"frame too large ({len(raw)} bytes)")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return Malformed("frame is not valid UTF-8")
        elif isinstance(data, str):
            text = data
            if len(text) > self._max:
                return Malformed(f"frame too large ({len(text)} characters)")
        else:
            return Malformed("frame is neither text nor bytes")
        try:
            obj = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            return Malformed("frame nests too deeply")
        except ValueError:
            return Malformed("frame is not JSON")
        if isinstance(obj, list):
            return Malformed("frame is a JSON array (batches are not supported)")
        if not isinstance(obj, dict):
            return Malformed(f"frame is a JSON {type(obj).__name__}, not an object")
        return _classify(obj)


def _classify(obj: dict[str, Any]) -> Frame:
    if "method" in obj:
        method = obj["method"]
        if not isinstance(method, str) or not _METHOD_NAME.fullmatch(method):
            return Malformed("notification method is not a method name")
        if obj.get("id") is not None:
            return Malformed("server sent a request (with an id); servers only notify")
        params = obj.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return Malformed(f"{method}: notification params are not an object")
        return Notification(method=method, params=params)
    raw_id = obj.get("id")
    if raw_id is not None and not _is_int(raw_id):
        return Malformed("response id is not an integer")
    if obj.get("error") is not None:
        error = obj["error"]
        if not isinstance(error, dict):
            return Malformed("error member is not an object")
        code = error.get("code")
        if isinstance(code, float) and code.is_integer() and math.isfinite(code):
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            return Malformed("error code is not an integer")
        message = error.get("message")
        if message is None:
            message = ""
        if not isinstance(message, str):
            return Malformed("error message is not a string")
        return ErrorResponse(id=raw_id, code=code, message=message)
    if "result" in obj:
        if raw_id is None:
            return Malformed("response without an id")
        result = obj["result"]
        if not isinstance(result, dict):
            result = {"value": result}
        return Response(id=raw_id, result=result)
    return Malformed("frame is neither a response, an error nor a notification")
