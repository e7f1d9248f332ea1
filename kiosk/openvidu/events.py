"""Typed server notifications (protocol §5) and their tolerant parser.

``parse_notification`` never raises: a known method with a bad shape gives ``None`` (the caller
logs one line), an unknown method gives :class:`UnknownNotification`. Absent and ``null`` members
are treated alike (§3.3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kiosk.openvidu.jsonrpc import Notification

__all__ = [
    "Event",
    "IceCandidateReceived",
    "MediaErrorReceived",
    "ParticipantEvicted",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantPublished",
    "ParticipantUnpublished",
    "RecordingChanged",
    "SignalReceived",
    "StreamInfo",
    "StreamPropertyChanged",
    "UnknownNotification",
    "bounded_metadata",
    "cut_text",
    "decode_property_value",
    "parse_notification",
    "parse_stream",
    "parse_video_dimensions",
]


class _BadShape(Exception):
    pass


# --- hard limits on what a server or another participant can make us keep ------------------
# Cut here, where the text enters, so the screen, the log and the model only ever see the cut
# text (docs/reliability.md, "Limits").

MAX_NAME_CHARS = 64  # a participant's display name (clientData), drawn, logged and kept
MAX_METADATA_CHARS = 2048  # a connection's whole data string; longer ones keep only the name
MAX_METADATA_PARSE_CHARS = 1_000_000  # longer client data is not even parsed for its name
MAX_SIGNAL_CHARS = 1000  # the data of a signal (chat text)
MAX_TEXT_CHARS = 200  # reasons, signal types, recording names, media error texts
MAX_ID_CHARS = 256  # connection/stream ids and ICE candidate lines: longer is a bad shape
ELLIPSIS = "…"


def cut_text(text: str, limit: int) -> str:
    """``text`` if it is at most ``limit`` characters, else its start and an ellipsis (total
    ``limit``)."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS


def _client_name(client: str) -> str | None:
    """``clientData`` of the client part of a connection's data string, if it is one (§6.3)."""
    if len(client) > MAX_METADATA_PARSE_CHARS or not client.startswith("{"):
        return None
    try:
        parsed: Any = json.loads(client)
    except (ValueError, RecursionError):
        return None
    name = parsed.get("clientData") if isinstance(parsed, dict) else None
    return name if isinstance(name, str) else None


def bounded_metadata(metadata: str) -> str:
    """A connection's data string (``client%/%server``) no longer than ``MAX_METADATA_CHARS``.

    Short ones are kept as they are. From a longer one only the name survives: the client part
    becomes ``{"clientData": <name cut to MAX_NAME_CHARS>}`` (or the client text cut to that
    length when it is not such an object) and the server part is cut.
    """
    if len(metadata) <= MAX_METADATA_CHARS:
        return metadata
    client, sep, server = metadata.partition("%/%")
    name = _client_name(client)
    if name is not None:
        kept = json.dumps({"clientData": cut_text(name, MAX_NAME_CHARS)}, ensure_ascii=False)
    else:
        kept = cut_text(client, MAX_NAME_CHARS)
    if sep:
        kept += sep + cut_text(server, MAX_METADATA_CHARS - len(kept) - len(sep))
    return kept


@dataclass(frozen=True, slots=True)
class StreamInfo:
    stream_id: str
    created_at: int
    has_audio: bool
    has_video: bool
    audio_active: bool
    video_active: bool
    type_of_video: str | None
    frame_rate: float | None
    video_dimensions: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    connection_id: str
    created_at: int
    metadata: str


@dataclass(frozen=True, slots=True)
class ParticipantPublished:
    connection_id: str
    stream: StreamInfo


@dataclass(frozen=True, slots=True)
class ParticipantUnpublished:
    connection_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    connection_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParticipantEvicted:
    connection_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StreamPropertyChanged:
    connection_id: str
    stream_id: str
    property: str
    # audioActive/videoActive -> bool, videoDimensions -> (width, height), filter -> dict,
    # anything else -> the value as received.
    new_value: Any
    reason: str


@dataclass(frozen=True, slots=True)
class SignalReceived:
    type: str  # without the "signal:" prefix ("chat"; "signal" when the sender gave no type)
    data: str
    from_connection_id: str | None  # None for server-originated signals (REST /signal)
    full_type: str = ""  # as on the wire ("signal:chat")


@dataclass(frozen=True, slots=True)
class IceCandidateReceived:
    sender_connection_id: str
    endpoint_name: str
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True, slots=True)
class MediaErrorReceived:
    error: str


@dataclass(frozen=True, slots=True)
class RecordingChanged:
    started: bool
    recording_id: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class UnknownNotification:
    method: str


Event = (
    ParticipantJoined
    | ParticipantPublished
    | ParticipantUnpublished
    | ParticipantLeft
    | ParticipantEvicted
    | StreamPropertyChanged
    | SignalReceived
    | IceCandidateReceived
    | MediaErrorReceived
    | RecordingChanged
    | UnknownNotification
)


# --- member accessors ---------------------------------------------------------------------


def _req_str(params: dict[str, Any], key: str) -> str:
    """An id: a non-empty string of at most ``MAX_ID_CHARS``."""
    value = params.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise _BadShape(key)
    return value


def _opt_str(
    params: dict[str, Any], key: str, default: str = "", *, limit: int = MAX_TEXT_CHARS
) -> str:
    """An optional text, cut to ``limit`` characters."""
    value = params.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _BadShape(key)
    return cut_text(value, limit)


def _opt_int(params: dict[str, Any], key: str, default: int = 0) -> int:
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        raise _BadShape(key)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        return int(value)
    raise _BadShape(key)


def _opt_bool(params: dict[str, Any], key: str, default: bool) -> bool:
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise _BadShape(key)


def parse_video_dimensions(value: Any) -> tuple[int, int] | None:
    """``'{"width":640,"height":480}'`` (or the decoded object) → ``(640, 480)``; else None."""
    if isinstance(value, str):
        if len(value) > 10_000:
            return None
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if not isinstance(value, dict):
        return None
    width, height = value.get("width"), value.get("height")
    ok = all(
        isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1_000_000
        for v in (width, height)
    )
    if not ok:
        return None
    assert isinstance(width, int | float) and isinstance(height, int | float)
    return int(width), int(height)


def parse_stream(obj: Any) -> StreamInfo | None:
    """Parse a stream object (§5.2) from ``participantPublished`` or ``joinRoom`` ``value``."""
    if not isinstance(obj, dict):
        return None
    try:
        has_audio = _opt_bool(obj, "hasAudio", False)
        has_video = _opt_bool(obj, "hasVideo", False)
        frame_rate_raw = obj.get("frameRate")
        frame_rate: float | None = None
        if isinstance(frame_rate_raw, int | float) and not isinstance(frame_rate_raw, bool):
            frame_rate = float(frame_rate_raw)
        type_of_video = obj.get("typeOfVideo")
        return StreamInfo(
            stream_id=_req_str(obj, "id"),
            created_at=_opt_int(obj, "createdAt"),
            has_audio=has_audio,
            has_video=has_video,
            audio_active=_opt_bool(obj, "audioActive", has_audio),
            video_active=_opt_bool(obj, "videoActive", has_video),
            type_of_video=cut_text(type_of_video, MAX_TEXT_CHARS)
            if isinstance(type_of_video, str)
            else None,
            frame_rate=frame_rate,
            video_dimensions=parse_video_dimensions(obj.get("videoDimensions")),
        )
    except _BadShape:
        return None


def decode_property_value(prop: str, value: Any) -> Any:
    """Decode a ``streamPropertyChanged.newValue`` (§5.7). Raises ValueError on bad shapes."""
    if prop in ("audioActive", "videoActive"):
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise ValueError(prop)
    if prop == "videoDimensions":
        decoded: Any = value
        if isinstance(decoded, str):
            try:
                decoded = json.loads(decoded)  # first pass: the JSON string of the JSON text
            except (ValueError, RecursionError) as exc:
                raise ValueError(prop) from exc
        dims = parse_video_dimensions(decoded)  # second pass (or an already decoded object)
        if dims is None:
            raise ValueError(prop)
        return dims
    if prop == "filter":
        if isinstance(value, dict):
            return value
        raise ValueError(prop)
    return value


# --- notification parsing -----------------------------------------------------------------


def _parse(method: str, p: dict[str, Any]) -> Event:
    if method == "participantJoined":
        return ParticipantJoined(
            connection_id=_req_str(p, "id"),
            created_at=_opt_int(p, "createdAt"),
            metadata=bounded_metadata(_opt_str(p, "metadata", limit=MAX_METADATA_PARSE_CHARS)),
        )
    if method == "participantPublished":
        streams = p.get("streams")
        if not isinstance(streams, list) or not streams:
            raise _BadShape("streams")
        stream = parse_stream(streams[0])
        if stream is None:
            raise _BadShape("streams")
        return ParticipantPublished(connection_id=_req_str(p, "id"), stream=stream)
    if method in ("participantUnpublished", "participantLeft", "participantEvicted"):
        cid, reason = _req_str(p, "connectionId"), _opt_str(p, "reason")
        if method == "participantUnpublished":
            return ParticipantUnpublished(connection_id=cid, reason=reason)
        if method == "participantLeft":
            return ParticipantLeft(connection_id=cid, reason=reason)
        return ParticipantEvicted(connection_id=cid, reason=reason)
    if method == "streamPropertyChanged":
        prop = _req_str(p, "property")
        try:
            value = decode_property_value(prop, p.get("newValue"))
        except ValueError as exc:
            raise _BadShape("newValue") from exc
        return StreamPropertyChanged(
            connection_id=_req_str(p, "connectionId"),
            stream_id=_opt_str(p, "streamId", limit=MAX_ID_CHARS),
            property=prop,
            new_value=value,
            reason=_opt_str(p, "reason"),
        )
    if method == "sendMessage":
        full_type = _opt_str(p, "type", "signal")
        short = full_type[len("signal:") :] if full_type.startswith("signal:") else full_type
        sender = p.get("from")
        if sender is not None and (not isinstance(sender, str) or len(sender) > MAX_ID_CHARS):
            raise _BadShape("from")
        return SignalReceived(
            type=short,
            data=_opt_str(p, "data", limit=MAX_SIGNAL_CHARS),
            from_connection_id=sender or None,
            full_type=full_type,
        )
    if method == "iceCandidate":
        index = p.get("sdpMLineIndex")
        return IceCandidateReceived(
            sender_connection_id=_req_str(p, "senderConnectionId"),
            endpoint_name=_opt_str(p, "endpointName"),
            candidate=_opt_str(p, "candidate", limit=MAX_ID_CHARS * 4),
            sdp_mid=_opt_str(p, "sdpMid") if p.get("sdpMid") is not None else None,
            sdp_mline_index=_opt_int(p, "sdpMLineIndex") if index is not None else None,
        )
    if method == "mediaError":
        return MediaErrorReceived(error=_opt_str(p, "error"))
    if method in ("recordingStarted", "recordingStopped"):
        return RecordingChanged(
            started=method == "recordingStarted",
            recording_id=_opt_str(p, "id"),
            name=_opt_str(p, "name"),
            reason=_opt_str(p, "reason"),
        )
    return UnknownNotification(method=method)


def parse_notification(notification: Notification) -> Event | None:
    """Turn a notification into a typed event; ``None`` if a known method has a bad shape."""
    try:
        params = notification.params if isinstance(notification.params, dict) else None
        if params is None or not isinstance(notification.method, str):
            return None
        return _parse(notification.method, params)
    except (_BadShape, ValueError, TypeError, KeyError):
        return None
