"""What the main process and a media worker say to each other (pure: no I/O).

On the wire (a Unix socket pair) every message is a frame: a 4-byte big-endian length, then the
body. A body is ``J`` + a JSON object with a ``"t"`` (type) key, or ``A`` + a binary audio
header + interleaved s16 PCM. Every frame is bounded (:data:`MAX_FRAME`) and every field is
checked on decoding: anything else raises :class:`BadMessage`, one line that never quotes the
message (an SDP or an ICE server credential may be in it).

main → worker: :class:`Hello` (first, once), :class:`Open`, :class:`RemoteDescription`,
:class:`RemoteCandidate`, :class:`Close`.
worker → main: :class:`Ready` (answer to hello), :class:`LocalDescription`, :class:`Applied`,
:class:`TrackStarted`, :class:`Failed`, :class:`Closed`, :class:`Audio`.

Candidates of the worker's own side are in its SDP (aiortc gathers before it answers), so the
main process trickles them from :class:`LocalDescription` like the in-process subscriber does.
"""

from __future__ import annotations

import json
import struct
import types
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from kiosk.errors import MediaError

__all__ = [
    "MAX_FRAME",
    "Applied",
    "Audio",
    "BadMessage",
    "Close",
    "Closed",
    "Failed",
    "Hello",
    "IceServerSpec",
    "LocalDescription",
    "Message",
    "Open",
    "Ready",
    "RemoteCandidate",
    "RemoteDescription",
    "TrackStarted",
    "decode",
    "encode",
    "read_frame",
]

MAX_FRAME = 256 * 1024  # one SDP is a few kB; one 20 ms stereo audio frame 3.8 kB
MAX_TEXT = 64 * 1024  # any one string field (SDPs)
MAX_SHORT = 1024  # ids, names, reasons, candidates
MAX_AUDIO_SAMPLES = 48000 // 10  # 100 ms per message at most
_LEN = struct.Struct(">I")
_AUDIO = struct.Struct(">IIBH")  # sub, sample_rate, channels, samples per channel


class BadMessage(MediaError):
    """A frame that is not a valid message (one line; never quotes the frame)."""


# --- main → worker --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IceServerSpec:
    urls: list[str]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class Hello:
    """Everything process-wide the worker needs: the same ICE seam and patches as the kiosk."""

    index: int
    host_addresses: list[str]
    loopback_only: bool
    marker_jitter: bool
    max_width: int
    max_height: int


@dataclass(frozen=True, slots=True)
class Open:
    """Start one subscription. ``slot``: the video slot's name (None: no video wanted)."""

    sub: int
    stream_id: str
    has_audio: bool
    has_video: bool
    flow: Literal["kurento", "mediasoup"]
    video: bool
    slot: str | None
    ice_servers: list[IceServerSpec] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RemoteDescription:
    sub: int
    sdp: str
    type: Literal["offer", "answer"]


@dataclass(frozen=True, slots=True)
class RemoteCandidate:
    sub: int
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True, slots=True)
class Close:
    sub: int


# --- worker → main --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@dataclass(frozen=True, slots=True)
class LocalDescription:
    """The worker's offer (client-offer flow, right after :class:`Open`) or its answer (to a
    remote offer). Its ``a=candidate`` lines are every local candidate."""

    sub: int
    sdp: str
    type: Literal["offer", "answer"]


@dataclass(frozen=True, slots=True)
class Applied:
    """A remote answer was applied."""

    sub: int


@dataclass(frozen=True, slots=True)
class TrackStarted:
    sub: int
    kind: Literal["audio", "video"]


@dataclass(frozen=True, slots=True)
class Failed:
    sub: int
    reason: str


@dataclass(frozen=True, slots=True)
class Closed:
    sub: int
    audio_dropped: int = 0  # audio frames dropped because the socket was full


@dataclass(frozen=True, slots=True)
class Audio:
    """20 ms or so of one subscription's audio: interleaved s16 PCM."""

    sub: int
    sample_rate: int
    channels: int
    pcm: bytes

    @property
    def samples(self) -> int:
        return len(self.pcm) // (2 * self.channels)


Message = (
    Hello
    | Open
    | RemoteDescription
    | RemoteCandidate
    | Close
    | Ready
    | LocalDescription
    | Applied
    | TrackStarted
    | Failed
    | Closed
    | Audio
)

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Hello,
        Open,
        RemoteDescription,
        RemoteCandidate,
        Close,
        Ready,
        LocalDescription,
        Applied,
        TrackStarted,
        Failed,
        Closed,
    )
}


# --- encoding -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, IceServerSpec):
        return {"urls": value.urls, "username": value.username, "credential": value.credential}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def encode(message: Message) -> bytes:
    """One frame (length prefix included). Raises :class:`BadMessage` if it is too large."""
    if isinstance(message, Audio):
        if message.channels not in (1, 2) or len(message.pcm) % (2 * message.channels):
            raise BadMessage("audio message: PCM does not match its channel count")
        head = _AUDIO.pack(message.sub, message.sample_rate, message.channels, message.samples)
        body = b"A" + head + message.pcm
    else:
        data = {f.name: _plain(getattr(message, f.name)) for f in fields(message)}
        data["t"] = type(message).__name__
        body = b"J" + json.dumps(data, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise BadMessage(f"{type(message).__name__} message of {len(body)} bytes is too large")
    return _LEN.pack(len(body)) + body


# --- decoding -------------------------------------------------------------------------------


def _check(name: str, value: Any, hint: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _check(name, value, inner)
    if origin is Literal:
        if value not in get_args(hint):
            raise BadMessage(f"field {name}: not one of {', '.join(map(str, get_args(hint)))}")
        return value
    if origin is list:
        (inner,) = get_args(hint)
        if not isinstance(value, list) or len(value) > 16:
            raise BadMessage(f"field {name}: expected a short list")
        return [_check(name, v, inner) for v in value]
    if hint is IceServerSpec:
        if not isinstance(value, dict):
            raise BadMessage(f"field {name}: expected an ICE server")
        return IceServerSpec(
            urls=_check(name, value.get("urls"), list[str]),
            username=_check(name, value.get("username"), str | None),
            credential=_check(name, value.get("credential"), str | None),
        )
    if hint is bool:
        if not isinstance(value, bool):
            raise BadMessage(f"field {name}: expected true/false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            raise BadMessage(f"field {name}: expected a small non-negative integer")
        return value
    if hint is str:
        limit = MAX_TEXT if name == "sdp" else MAX_SHORT
        if not isinstance(value, str) or len(value) > limit:
            raise BadMessage(f"field {name}: expected a string of at most {limit} characters")
        return value
    raise BadMessage(f"field {name}: unsupported type")  # pragma: no cover - a coding error


def _decode_json(body: bytes) -> Message:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("message is not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("message is not a JSON object")
    kind = data.get("t")
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadMessage("message of an unknown type")
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            raise BadMessage(f"{kind} message: field {f.name} missing")
        values[f.name] = _check(f.name, data[f.name], hints[f.name])
    extra = set(data) - {f.name for f in fields(cls)} - {"t"}
    if extra:
        raise BadMessage(f"{kind} message: unexpected field {sorted(extra)[0][:40]}")
    message: Message = cls(**values)
    return message


def _decode_audio(body: bytes) -> Audio:
    if len(body) < _AUDIO.size:
        raise BadMessage("audio message: short header")
    sub, rate, channels, samples = _AUDIO.unpack_from(body, 0)
    pcm = body[_AUDIO.size :]
    if channels not in (1, 2) or not 8000 <= rate <= 96000:
        raise BadMessage("audio message: bad format")
    if samples > MAX_AUDIO_SAMPLES or len(pcm) != samples * channels * 2:
        raise BadMessage("audio message: PCM length does not match its header")
    return Audio(sub, rate, channels, bytes(pcm))


def decode(body: bytes) -> Message:
    """One frame's body (without the length prefix) → a message, or :class:`BadMessage`."""
    if len(body) > MAX_FRAME:
        raise BadMessage("message too large")
    if body[:1] == b"J":
        return _decode_json(body[1:])
    if body[:1] == b"A":
        return _decode_audio(body[1:])
    raise BadMessage("message of an unknown kind")


async def read_frame(reader: Any) -> bytes:
    """One frame body from an ``asyncio.StreamReader`` (raises ``IncompleteReadError`` at EOF,
    :class:`BadMessage` for a length out of bounds)."""
    head = await reader.readexactly(_LEN.size)
    (size,) = _LEN.unpack(head)
    if size == 0 or size > MAX_FRAME:
        raise BadMessage(f"frame length {size} out of bounds")
    body: bytes = await reader.readexactly(size)
    return body
