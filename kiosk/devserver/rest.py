"""The dev server's REST API (§1): aiohttp handlers, Basic auth, CORS, error JSON.

Status codes and bodies follow OpenVidu 2.22: 409/most 404/every 204 without a body, 400 with
``{timestamp, status, error, message, path}``, 401 with ``WWW-Authenticate: Basic realm="Realm"``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from kiosk.devserver.options import DevServerOptions
from kiosk.devserver.rpc.room import Room
from kiosk.devserver.state import (
    CUSTOM_SESSION_ID_RE,
    FORCED_CODECS,
    ROLES,
    ServerState,
    now_ms,
)
from kiosk.net import is_loopback_host

__all__ = ["PublicInfo", "add_routes", "make_auth_middleware", "make_cors_middleware"]

log = logging.getLogger("kiosk.devserver.rest")

API = "/openvidu/api"
PUBLIC_PATHS = {f"{API}/config/openvidu-publicurl"}
_STATE = web.AppKey("devserver_state", ServerState)
_ROOM = web.AppKey("devserver_room", Room)
_OPTIONS = web.AppKey("devserver_options", DevServerOptions)


@dataclass
class PublicInfo:
    """Mutable because the real port is known only after binding (port 0 in tests)."""

    public_url: str = ""


_PUBLIC: web.AppKey[PublicInfo] = web.AppKey("devserver_public", PublicInfo)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


def _error(request: web.Request, status: int, message: str) -> web.Response:
    body = {
        "timestamp": now_ms(),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": request.path,
    }
    return web.json_response(body, status=status)


def _empty(status: int) -> web.Response:
    return web.Response(status=status)


# --- middlewares -----------------------------------------------------------------------------


def _loopback_origin(origin: str) -> bool:
    try:
        host = (urlsplit(origin).hostname or "").lower()
    except ValueError:
        return False
    return host.endswith(".localhost") or is_loopback_host(host)


def make_cors_middleware(allowed_origins: Collection[str] = ()) -> Middleware:
    """CORS for browser apps on this machine (any port) and ``allowed_origins`` only.

    What the browser tests and tutorials need: an app served from ``localhost``/``127.0.0.1``
    calling the REST API with ``Authorization``. Other origins get no CORS headers, so a web page
    elsewhere cannot read the API with a secret it guessed (``MY_SECRET``). Pre-flights are
    answered without auth (§1.1); credentials (cookies) are never allowed.
    """
    extra = {o.rstrip("/").lower() for o in allowed_origins}

    @web.middleware
    async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=200)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = exc
        if response.prepared:  # e.g. the WebSocket upgrade: headers are already on the wire
            return response
        response.headers["Vary"] = "Origin"
        if origin is None or not (_loopback_origin(origin) or origin.lower() in extra):
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, X-Requested-With"
        )
        response.headers["Access-Control-Max-Age"] = "3600"
        return response

    return cors_middleware


def make_auth_middleware(secret: str) -> Middleware:
    """Basic auth ``OPENVIDUAPP:<secret>`` on ``/openvidu/api/`` except the public URL (§1.1)."""
    expected = f"OPENVIDUAPP:{secret}".encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        protected = path.startswith(f"{API}/") and path not in PUBLIC_PATHS
        if protected and not _authorized(request.headers.get("Authorization", ""), expected):
            response = _error(request, 401, "Unauthorized")
            response.headers["WWW-Authenticate"] = 'Basic realm="Realm"'
            return response
        return await handler(request)

    return auth


def _authorized(header: str, expected: bytes) -> bool:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return False
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, expected)


# --- body parsing ----------------------------------------------------------------------------


async def _json_body(request: web.Request, *, required: bool) -> dict[str, Any] | None:
    raw = await request.read()
    if not raw.strip():
        if required:
            raise _BadRequest("Required request body is missing")
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadRequest("JSON parse error: the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise _BadRequest("The request body must be a JSON object")
    return body


def _opt(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _BadRequest(f"Type error in some parameter: '{name}' must be {what}")
    return value


def _bool_query(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.lower() == "true"


# --- handlers --------------------------------------------------------------------------------


def _wrap(fn: Handler) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except _BadRequest as exc:
            return _error(request, exc.status, str(exc))

    return handler


async def post_session(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    body = await _json_body(request, required=False) or {}
    custom = _opt(body, "customSessionId", str, "a string") or ""
    if custom and not CUSTOM_SESSION_ID_RE.match(custom):
        raise _BadRequest(
            "Parameter 'customSessionId' is wrong. Must be an alphanumeric string [a-zA-Z0-9_-]"
        )
    media_mode = _opt(body, "mediaMode", str, "a string") or "ROUTED"
    recording_mode = _opt(body, "recordingMode", str, "a string") or "MANUAL"
    codec = _opt(body, "forcedVideoCodec", str, "a string") or "MEDIA_SERVER_PREFERRED"
    transcoding = _opt(body, "allowTranscoding", bool, "a boolean") or False
    props = _opt(body, "defaultRecordingProperties", dict, "an object")
    if media_mode not in ("ROUTED", "RELAYED"):
        raise _BadRequest(f"Some parameter is not valid. mediaMode '{media_mode}' is not defined")
    if recording_mode not in ("MANUAL", "ALWAYS"):
        raise _BadRequest(
            f"Some parameter is not valid. recordingMode '{recording_mode}' is not defined"
        )
    if codec not in FORCED_CODECS:
        raise _BadRequest(f"Invalid value for parameter 'forcedVideoCodec': {codec}")
    if custom and custom in state.sessions:
        return _empty(409)
    session = state.create_session(
        custom,
        media_mode=media_mode,
        recording_mode=recording_mode,
        default_recording_properties=props,
        forced_video_codec=codec,
        allow_transcoding=transcoding,
    )
    log.info("session %s created", session.session_id)
    return web.json_response(session.rest_json(pending_connections=True))


async def get_sessions(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    pending = _bool_query(request, "pendingConnections", False)
    content = [s.rest_json(pending_connections=pending) for s in state.sessions.values()]
    return web.json_response({"numberOfElements": len(content), "content": content})


async def get_session(request: web.Request) -> web.StreamResponse:
    session = request.app[_STATE].sessions.get(request.match_info["sessionId"])
    if session is None:
        return _empty(404)
    pending = _bool_query(request, "pendingConnections", False)
    return web.json_response(session.rest_json(pending_connections=pending))


async def delete_session(request: web.Request) -> web.StreamResponse:
    session_id = request.match_info["sessionId"]
    if session_id not in request.app[_STATE].sessions:
        return _empty(404)
    await request.app[_ROOM].close_session(session_id)
    log.info("session %s closed by REST", session_id)
    return _empty(204)


def _parse_connection_body(body: dict[str, Any]) -> dict[str, Any]:
    type_ = _opt(body, "type", str, "a string") or "WEBRTC"
    if type_ not in ("WEBRTC", "IPCAM"):
        raise _BadRequest(f"Parameter 'type' {type_} is not defined")
    if type_ == "IPCAM":
        raise _BadRequest("Parameter 'type' IPCAM is not supported by the dev server")
    data = _opt(body, "data", str, "a string") or ""
    _opt(body, "record", bool, "a boolean")
    role = _opt(body, "role", str, "a string") or "PUBLISHER"
    if role not in ROLES:
        raise _BadRequest(f"Parameter role {role} is not defined")
    kurento = _opt(body, "kurentoOptions", dict, "an object")
    ice = _opt(body, "customIceServers", list, "an array")
    for server in ice or []:
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            raise _BadRequest("Type error in some parameter: 'customIceServers' items need a 'url'")
    return {
        "role": role,
        "server_data": data,
        "kurento_options": kurento,
        "custom_ice_servers": ice,
    }


async def post_connection(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    session_id = request.match_info["sessionId"]
    body = await _json_body(request, required=True)
    assert body is not None
    args = _parse_connection_body(body)
    if session_id not in state.sessions:
        return _error(request, 404, f"Session {session_id} not found")
    conn = state.create_connection(session_id, **args)
    log.info("connection %s created in session %s (%s)", conn.connection_id, session_id, conn.role)
    return web.json_response(conn.rest_json())


async def get_connections(request: web.Request) -> web.StreamResponse:
    session = request.app[_STATE].sessions.get(request.match_info["sessionId"])
    if session is None:
        return _empty(404)
    pending = _bool_query(request, "pendingConnections", True)
    content = [
        c.rest_json() for c in session.connections.values() if pending or c.status == "active"
    ]
    return web.json_response({"numberOfElements": len(content), "content": content})


async def get_connection(request: web.Request) -> web.StreamResponse:
    session = request.app[_STATE].sessions.get(request.match_info["sessionId"])
    if session is None:
        return _empty(400)
    conn = session.connections.get(request.match_info["connectionId"])
    if conn is None:
        return _empty(404)
    return web.json_response(conn.rest_json())


async def delete_connection(request: web.Request) -> web.StreamResponse:
    session_id = request.match_info["sessionId"]
    session = request.app[_STATE].sessions.get(session_id)
    if session is None:
        return _empty(400)
    connection_id = request.match_info["connectionId"]
    conn = session.connections.get(connection_id)
    if conn is None:
        return _empty(404)
    if conn.status == "pending":
        del session.connections[connection_id]
    else:
        await request.app[_ROOM].evict(session_id, connection_id, "forceDisconnectByServer")
    return _empty(204)


async def delete_stream(request: web.Request) -> web.StreamResponse:
    session = request.app[_STATE].sessions.get(request.match_info["sessionId"])
    if session is None:
        return _empty(400)
    found = session.find_stream(request.match_info["streamId"])
    if found is None:
        return _empty(404)
    await request.app[_ROOM].unpublish(session, found[0], "forceUnpublishByServer", tell_owner=True)
    return _empty(204)


async def _body_naming_a_session(request: web.Request) -> tuple[dict[str, Any], str]:
    """A required JSON body with a mandatory ``session`` member: (body, session id)."""
    body = await _json_body(request, required=True)
    assert body is not None
    session_id = _opt(body, "session", str, "a string")
    if not session_id:
        raise _BadRequest("Parameter 'session' is mandatory")
    return body, session_id


async def post_signal(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    body, session_id = await _body_naming_a_session(request)
    to = body.get("to")
    if to is not None and not isinstance(to, list):
        raise _BadRequest("Type error in some parameter: 'to' must be an array")
    type_ = _opt(body, "type", str, "a string")
    data = _opt(body, "data", str, "a string")
    session = state.sessions.get(session_id)
    if session is None:
        return _empty(404)
    active = {c.connection_id: c for c in session.active_connections()}
    if not active:
        return _error(request, 406, f"Session {session_id} has no participant yet")
    if to:
        targets = []
        for entry in to:
            if not isinstance(entry, str) or entry not in active:
                return _error(
                    request, 406, f"Connection {str(entry)[:40]} is not in session {session_id}"
                )
            targets.append(active[entry])
    else:
        targets = list(active.values())
    request.app[_ROOM].send_signal(session, targets, type_=type_, data=data, from_id=None)
    return _empty(200)


async def post_token(request: web.Request) -> web.StreamResponse:
    """Deprecated ``POST /openvidu/api/tokens`` (§1.6)."""
    state = request.app[_STATE]
    body, session_id = await _body_naming_a_session(request)
    args = _parse_connection_body({k: v for k, v in body.items() if k != "session"})
    if session_id not in state.sessions:
        return _error(request, 404, f"Session {session_id} not found")
    conn = state.create_connection(session_id, **args)
    out: dict[str, Any] = {
        "id": conn.token,
        "token": conn.token,
        "createdAt": conn.created_at,
        "connectionId": conn.connection_id,
        "session": session_id,
        "data": conn.server_data,
        "role": conn.role,
    }
    if conn.kurento_options:
        out["kurentoOptions"] = conn.kurento_options
    return web.json_response(out)


async def get_config(request: web.Request) -> web.StreamResponse:
    options = request.app[_OPTIONS]
    public_url = request.app[_PUBLIC].public_url
    host = public_url.split("://", 1)[-1].split("/", 1)[0]
    name, _, port = host.rpartition(":")
    return web.json_response(
        {
            "VERSION": options.version,
            "DOMAIN_OR_PUBLIC_IP": name or host,
            "HTTPS_PORT": int(port) if port.isdigit() else 443,
            "OPENVIDU_PUBLICURL": public_url,
            "OPENVIDU_CDR": False,
            "OPENVIDU_STREAMS_VIDEO_MAX_RECV_BANDWIDTH": 1000,
            "OPENVIDU_STREAMS_VIDEO_MIN_RECV_BANDWIDTH": 300,
            "OPENVIDU_STREAMS_VIDEO_MAX_SEND_BANDWIDTH": 1000,
            "OPENVIDU_STREAMS_VIDEO_MIN_SEND_BANDWIDTH": 300,
            "OPENVIDU_STREAMS_FORCED_VIDEO_CODEC": "MEDIA_SERVER_PREFERRED",
            "OPENVIDU_STREAMS_ALLOW_TRANSCODING": False,
            "OPENVIDU_WEBRTC_SIMULCAST": False,
            "OPENVIDU_SESSIONS_GARBAGE_INTERVAL": 0,
            "OPENVIDU_SESSIONS_GARBAGE_THRESHOLD": 3600,
            "OPENVIDU_RECORDING": False,
            "OPENVIDU_WEBHOOK": False,
        }
    )


async def get_version(request: web.Request) -> web.StreamResponse:
    return web.Response(text=request.app[_OPTIONS].version)


async def get_public_url(request: web.Request) -> web.StreamResponse:
    url = request.app[_PUBLIC].public_url
    return web.Response(text=url if url.endswith("/") else url + "/")


async def accept_certificate(request: web.Request) -> web.StreamResponse:
    html = (
        "<!DOCTYPE html><html><head><title>kiosk devserver</title></head><body>"
        "<p>Certificate accepted. You can close this page and go back to your application.</p>"
        "</body></html>"
    )
    return web.Response(text=html, content_type="text/html")


def add_routes(
    app: web.Application,
    *,
    state: ServerState,
    room: Room,
    options: DevServerOptions,
    public: PublicInfo,
) -> None:
    """Register every REST route of §1 on ``app``."""
    app[_STATE] = state
    app[_ROOM] = room
    app[_OPTIONS] = options
    app[_PUBLIC] = public
    routes = [
        ("POST", f"{API}/sessions", post_session),
        ("GET", f"{API}/sessions", get_sessions),
        ("GET", f"{API}/sessions/{{sessionId}}", get_session),
        ("DELETE", f"{API}/sessions/{{sessionId}}", delete_session),
        ("POST", f"{API}/sessions/{{sessionId}}/connection", post_connection),
        ("GET", f"{API}/sessions/{{sessionId}}/connection", get_connections),
        ("GET", f"{API}/sessions/{{sessionId}}/connection/{{connectionId}}", get_connection),
        ("DELETE", f"{API}/sessions/{{sessionId}}/connection/{{connectionId}}", delete_connection),
        ("DELETE", f"{API}/sessions/{{sessionId}}/stream/{{streamId}}", delete_stream),
        ("POST", f"{API}/signal", post_signal),
        ("POST", f"{API}/tokens", post_token),
        ("GET", f"{API}/config", get_config),
        ("GET", f"{API}/config/openvidu-version", get_version),
        ("GET", f"{API}/config/openvidu-publicurl", get_public_url),
        ("GET", "/openvidu/accept-certificate", accept_certificate),
        ("GET", "/accept-certificate", accept_certificate),
    ]
    for method, path, fn in routes:
        app.router.add_route(method, path, _wrap(fn))
