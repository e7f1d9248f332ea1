"""Pure state of the dev server: sessions, connections, tokens, streams and their ids (§1, §6).

No I/O here. ``rest.py`` and ``rpc/`` change this state and then do the network side
(notifications, media) themselves. JSON shapes for REST (§1.3, §1.4) and for the JSON-RPC stream
objects (§5.2) are produced here so that both sides agree.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "FORCED_CODECS",
    "ROLES",
    "TYPES_OF_VIDEO",
    "Connection",
    "ServerState",
    "Session",
    "StateError",
    "Stream",
    "full_metadata",
    "new_connection_id",
    "new_final_user_id",
    "new_rpc_session_id",
    "new_session_id",
    "new_stream_id",
    "new_token_value",
    "now_ms",
]

Role = Literal["SUBSCRIBER", "PUBLISHER", "MODERATOR"]
ROLES: tuple[str, ...] = ("SUBSCRIBER", "PUBLISHER", "MODERATOR")
TYPES_OF_VIDEO: tuple[str, ...] = ("CAMERA", "SCREEN", "CUSTOM", "IPCAM")
FORCED_CODECS: tuple[str, ...] = ("MEDIA_SERVER_PREFERRED", "NONE", "VP8", "VP9", "H264")
CUSTOM_SESSION_ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")

_ALNUM = string.ascii_letters + string.digits
_BASE32 = "0123456789abcdefghijklmnopqrstuv"


def now_ms() -> int:
    return int(time.time() * 1000)


def _alnum(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _upper() -> str:
    return secrets.choice(string.ascii_uppercase)


def new_session_id() -> str:
    """``ses_`` + 1 uppercase letter + 9 alphanumerics (§6.1)."""
    return f"ses_{_upper()}{_alnum(9)}"


def new_connection_id() -> str:
    """``con_`` + 1 uppercase letter + 9 alphanumerics (§6.1)."""
    return f"con_{_upper()}{_alnum(9)}"


def new_token_value() -> str:
    """``tok_`` + 1 uppercase letter + 15 alphanumerics (§6.1)."""
    return f"tok_{_upper()}{_alnum(15)}"


def new_stream_id(connection_id: str, has_video: bool, type_of_video: str | None) -> str:
    """``str_<CAM|SCR|CUS|IPC|MIC>_<X><3 alnum>_<connectionId>`` (§6.1)."""
    kind = (type_of_video or "")[:3].upper() if has_video and type_of_video else "MIC"
    return f"str_{kind}_{_upper()}{_alnum(3)}_{connection_id}"


def new_rpc_session_id() -> str:
    """130-bit random number written in base 32 (``0-9a-v``), 26 characters (§6.1)."""
    value = secrets.randbits(130)
    chars = []
    for _ in range(26):
        chars.append(_BASE32[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_final_user_id() -> str:
    return secrets.token_hex(8).upper()


def full_metadata(client_data: str, server_data: str) -> str:
    """Client data and server data combined as clients see them (§6.3)."""
    if client_data and server_data:
        return f"{client_data}%/%{server_data}"
    return client_data or server_data


class StateError(Exception):
    """A state change was refused. ``kind`` says why (mapped to HTTP/RPC codes by callers)."""

    def __init__(
        self,
        kind: Literal["not_found", "conflict", "bad_token", "not_active", "not_publishing"],
        message: str,
    ) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass
class Stream:
    stream_id: str
    created_at: int
    has_audio: bool
    has_video: bool
    audio_active: bool | None = None
    video_active: bool | None = None
    type_of_video: str | None = None
    frame_rate: int | None = None
    video_dimensions: str | None = None
    filter: dict[str, Any] = field(default_factory=dict)

    def rpc_json(self) -> dict[str, Any]:
        """Stream object of ``participantPublished`` / ``joinRoom.value[].streams`` (§5.2).

        Optional members the publisher did not send are absent (no nulls on JSON-RPC, §3.3).
        """
        out: dict[str, Any] = {
            "id": self.stream_id,
            "createdAt": self.created_at,
            "hasAudio": self.has_audio,
            "hasVideo": self.has_video,
        }
        optional = {
            "audioActive": self.audio_active,
            "videoActive": self.video_active,
            "typeOfVideo": self.type_of_video,
            "frameRate": self.frame_rate,
            "videoDimensions": self.video_dimensions,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        out["filter"] = dict(self.filter)
        return out

    def rest_json(self) -> dict[str, Any]:
        """Entry of a connection's ``publishers`` list (§1.4)."""
        media: dict[str, Any] = {"hasAudio": self.has_audio}
        if self.has_audio:
            media["audioActive"] = self.audio_active
        media["hasVideo"] = self.has_video
        if self.has_video:
            media["videoActive"] = self.video_active
            media["typeOfVideo"] = self.type_of_video
            media["frameRate"] = self.frame_rate
            media["videoDimensions"] = self.video_dimensions
        media["filter"] = dict(self.filter)
        return {"createdAt": self.created_at, "streamId": self.stream_id, "mediaOptions": media}


@dataclass
class Connection:
    connection_id: str
    session_id: str
    created_at: int
    token: str
    role: str = "PUBLISHER"
    server_data: str = ""
    record: bool = True
    kurento_options: dict[str, Any] | None = None
    custom_ice_servers: list[dict[str, Any]] = field(default_factory=list)
    status: Literal["pending", "active"] = "pending"
    active_at: int | None = None
    client_data: str | None = None
    platform: str | None = None
    ip: str | None = None
    location: str | None = None
    stream: Stream | None = None
    subscriptions: dict[str, int] = field(default_factory=dict)  # stream id -> createdAt

    @property
    def metadata(self) -> str:
        return full_metadata(self.client_data or "", self.server_data)

    def rest_json(self) -> dict[str, Any]:
        """Connection JSON (§1.3 pending, §1.4 active), explicit nulls included."""
        active = self.status == "active"
        return {
            "id": self.connection_id,
            "object": "connection",
            "status": self.status,
            "connectionId": self.connection_id,
            "sessionId": self.session_id,
            "createdAt": self.created_at,
            "activeAt": self.active_at,
            "location": self.location,
            "ip": self.ip,
            "platform": self.platform,
            "token": self.token,
            "type": "WEBRTC",
            "record": self.record,
            "role": self.role,
            "kurentoOptions": self.kurento_options,
            "customIceServers": list(self.custom_ice_servers),
            "rtspUri": None,
            "adaptativeBitrate": None,
            "onlyPlayWithSubscribers": None,
            "networkCache": None,
            "serverData": self.server_data,
            "clientData": self.client_data,
            "publishers": ([self.stream.rest_json()] if self.stream else []) if active else None,
            "subscribers": (
                [{"createdAt": t, "streamId": s} for s, t in self.subscriptions.items()]
                if active
                else None
            ),
        }


DEFAULT_RECORDING_PROPERTIES: dict[str, Any] = {
    "name": "",
    "hasAudio": True,
    "hasVideo": True,
    "outputMode": "COMPOSED",
    "recordingLayout": "BEST_FIT",
    "resolution": "1280x720",
    "frameRate": 25,
    "shmSize": 536870912,
}


@dataclass
class Session:
    session_id: str
    created_at: int
    custom_session_id: str = ""
    media_mode: str = "ROUTED"
    recording_mode: str = "MANUAL"
    default_recording_properties: dict[str, Any] = field(
        default_factory=lambda: dict(DEFAULT_RECORDING_PROPERTIES)
    )
    forced_video_codec: str = "MEDIA_SERVER_PREFERRED"
    forced_video_codec_resolved: str = "VP8"
    allow_transcoding: bool = False
    connections: dict[str, Connection] = field(default_factory=dict)
    active: bool = False  # someone has joined at least once

    def active_connections(self) -> list[Connection]:
        return [c for c in self.connections.values() if c.status == "active"]

    def find_stream(self, stream_id: str) -> tuple[Connection, Stream] | None:
        for conn in self.active_connections():
            if conn.stream is not None and conn.stream.stream_id == stream_id:
                return conn, conn.stream
        return None

    def rest_json(self, *, pending_connections: bool) -> dict[str, Any]:
        conns = [
            c.rest_json()
            for c in self.connections.values()
            if pending_connections or c.status == "active"
        ]
        return {
            "id": self.session_id,
            "object": "session",
            "sessionId": self.session_id,
            "createdAt": self.created_at,
            "recording": False,
            "mediaMode": self.media_mode,
            "recordingMode": self.recording_mode,
            "defaultRecordingProperties": dict(self.default_recording_properties),
            "customSessionId": self.custom_session_id,
            "forcedVideoCodec": self.forced_video_codec,
            "forcedVideoCodecResolved": self.forced_video_codec_resolved,
            "allowTranscoding": self.allow_transcoding,
            "connections": {"numberOfElements": len(conns), "content": conns},
        }


class ServerState:
    """Every session, connection and token of one dev server.

    ``ws_base`` is the token prefix (``wss://host:port`` or ``ws://host:port``, no trailing
    slash, no path; §2.1).
    """

    def __init__(self, *, ws_base: str, default_codec: str = "VP8") -> None:
        self.ws_base = ws_base
        self.default_codec = default_codec
        self.sessions: dict[str, Session] = {}

    # --- sessions ------------------------------------------------------------------------

    def resolve_codec(self, forced_video_codec: str) -> str:
        if forced_video_codec == "MEDIA_SERVER_PREFERRED":
            return self.default_codec
        return forced_video_codec

    def create_session(
        self,
        custom_session_id: str = "",
        *,
        media_mode: str = "ROUTED",
        recording_mode: str = "MANUAL",
        default_recording_properties: dict[str, Any] | None = None,
        forced_video_codec: str = "MEDIA_SERVER_PREFERRED",
        allow_transcoding: bool = False,
    ) -> Session:
        if custom_session_id:
            if custom_session_id in self.sessions:
                raise StateError("conflict", f"session {custom_session_id} already exists")
            session_id = custom_session_id
        else:
            session_id = new_session_id()
            while session_id in self.sessions:  # pragma: no cover - astronomically unlikely
                session_id = new_session_id()
        props = dict(DEFAULT_RECORDING_PROPERTIES)
        props.update(default_recording_properties or {})
        session = Session(
            session_id=session_id,
            created_at=now_ms(),
            custom_session_id=custom_session_id,
            media_mode=media_mode,
            recording_mode=recording_mode,
            default_recording_properties=props,
            forced_video_codec=forced_video_codec,
            forced_video_codec_resolved=self.resolve_codec(forced_video_codec),
            allow_transcoding=allow_transcoding,
        )
        self.sessions[session_id] = session
        return session

    def get_session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise StateError("not_found", f"session {session_id} not found")
        return session

    def remove_session(self, session_id: str) -> Session | None:
        """Forget a session and with it every pending token."""
        return self.sessions.pop(session_id, None)

    # --- connections ---------------------------------------------------------------------

    def create_connection(
        self,
        session_id: str,
        *,
        role: str = "PUBLISHER",
        server_data: str = "",
        kurento_options: dict[str, Any] | None = None,
        custom_ice_servers: list[dict[str, Any]] | None = None,
    ) -> Connection:
        session = self.get_session(session_id)
        connection_id = new_connection_id()
        while connection_id in session.connections:  # pragma: no cover
            connection_id = new_connection_id()
        token = f"{self.ws_base}?sessionId={session_id}&token={new_token_value()}"
        conn = Connection(
            connection_id=connection_id,
            session_id=session_id,
            created_at=now_ms(),
            token=token,
            role=role,
            server_data=server_data,
            kurento_options=kurento_options,
            custom_ice_servers=list(custom_ice_servers or []),
        )
        session.connections[connection_id] = conn
        return conn

    def consume_token(self, session_id: str, token: str) -> Connection:
        """Find the pending connection holding ``token`` in ``session_id``; single use (§2.4).

        Raises ``StateError("not_found")`` for an unknown session and ``StateError("bad_token")``
        for a token that is unknown, already used or of another session. The connection stays
        ``pending`` until :meth:`activate`.
        """
        session = self.get_session(session_id)
        for conn in session.connections.values():
            if conn.status == "pending" and secrets.compare_digest(conn.token, token):
                return conn
        raise StateError("bad_token", f"token not valid for session {session_id}")

    def activate(
        self,
        conn: Connection,
        *,
        client_data: str,
        platform: str,
        ip: str | None,
    ) -> None:
        session = self.get_session(conn.session_id)
        conn.status = "active"
        conn.active_at = now_ms()
        conn.client_data = client_data
        conn.platform = platform
        conn.ip = ip
        conn.location = "unknown"
        session.active = True

    def remove_connection(self, session_id: str, connection_id: str) -> Connection | None:
        """Drop a connection; other participants' subscriptions to its stream go too."""
        session = self.sessions.get(session_id)
        if session is None:
            return None
        conn = session.connections.pop(connection_id, None)
        if conn is not None and conn.stream is not None:
            self.drop_subscriptions(session, conn.stream.stream_id)
        return conn

    @staticmethod
    def drop_subscriptions(session: Session, stream_id: str) -> list[str]:
        """Remove every subscription to ``stream_id``; return the subscriber connection ids."""
        dropped = []
        for other in session.connections.values():
            if other.subscriptions.pop(stream_id, None) is not None:
                dropped.append(other.connection_id)
        return dropped

    def is_empty(self, session_id: str) -> bool:
        session = self.sessions.get(session_id)
        return session is None or not session.active_connections()

    # --- streams -------------------------------------------------------------------------

    @staticmethod
    def set_property(stream: Stream, prop: str, value: Any) -> None:
        """Store a ``streamPropertyChanged`` value (§4.9)."""
        if prop == "audioActive" and isinstance(value, bool):
            stream.audio_active = value
        elif prop == "videoActive" and isinstance(value, bool):
            stream.video_active = value
        elif prop == "videoDimensions":
            stream.video_dimensions = value if isinstance(value, str) else json.dumps(value)
        elif prop == "filter" and isinstance(value, dict):
            stream.filter = dict(value)
