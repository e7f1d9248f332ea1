"""Room methods of the dev server's JSON-RPC side: join, leave, evict, signals, properties.

§4.2 ``joinRoom``, §4.8–§4.12 and §4.15 (``sendMessage``, ``streamPropertyChanged``,
``leaveRoom``, ``videoData``, ``echo``, ``forceDisconnect``, ``forceUnpublish``), and the fan-out
the REST side uses too (:meth:`Room.evict`, :meth:`Room.close_session`, :meth:`Room.unpublish`,
:meth:`Room.send_signal`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from kiosk.devserver.media_api import MediaBackend
from kiosk.devserver.options import DevServerOptions
from kiosk.devserver.rpc.params import Params, RpcFail, not_streaming
from kiosk.devserver.rpc.sockets import RpcSession, Socket, Sockets
from kiosk.devserver.state import (
    Connection,
    ServerState,
    Session,
    StateError,
    new_final_user_id,
)
from kiosk.errors import MediaError

__all__ = ["Call", "Room", "active_participant", "release_quietly", "stream_owner"]

log = logging.getLogger("kiosk.devserver.rpc")

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


@dataclass(frozen=True)
class Call:
    """One request from a joined participant, as every method handler receives it."""

    sock: Socket
    rpc: RpcSession
    session: Session
    conn: Connection
    params: Params


async def release_quietly(what: str, awaitable: Awaitable[None]) -> None:
    """Await a media clean-up step; a failure is logged, never propagated."""
    try:
        await awaitable
    except MediaError as exc:
        log.warning("media %s failed: %s", what, exc)
    except Exception:
        log.exception("media %s failed", what)


def active_participant(session: Session, connection_id: str) -> Connection:
    """The active participant ``connection_id`` of ``session``, or error 102."""
    conn = session.connections.get(connection_id)
    if conn is None or conn.status != "active":
        raise RpcFail(102, f"User '{connection_id}' not found in session '{session.session_id}'")
    return conn


def stream_owner(session: Session, stream_id: str) -> Connection:
    """The participant publishing ``stream_id`` in ``session``, or error 105."""
    found = session.find_stream(stream_id)
    if found is None:
        raise RpcFail(105, f"Stream '{stream_id}' does not exist in Session '{session.session_id}'")
    return found[0]


def _require_moderator(call: Call, action: str) -> None:
    if call.conn.role != "MODERATOR":
        raise RpcFail(401, f"Unable to {action}. The user does not have a valid token")


class Room:
    """Participants of the dev server's sessions, as seen from their sockets."""

    def __init__(
        self,
        state: ServerState,
        options: DevServerOptions,
        sockets: Sockets,
        backend: MediaBackend,
    ) -> None:
        self.state = state
        self.options = options
        self.sockets = sockets
        self.backend = backend

    def participant(self, rpc: RpcSession) -> tuple[Session, Connection] | None:
        if rpc.session_id is None or rpc.connection_id is None:
            return None
        session = self.state.sessions.get(rpc.session_id)
        if session is None:
            return None
        conn = session.connections.get(rpc.connection_id)
        if conn is None or conn.status != "active":
            return None
        return session, conn

    def tell_others(
        self, session: Session, conn: Connection, method: str, params: dict[str, Any]
    ) -> None:
        """Notify every active participant of ``session`` but ``conn`` (each gets a copy)."""
        for other in session.active_connections():
            if other is not conn:
                self.sockets.notify(other.connection_id, method, dict(params))

    # --- joinRoom (§4.2) ---------------------------------------------------------------------

    async def join(self, sock: Socket, rpc: RpcSession, params: Params) -> dict[str, Any]:
        token = params.text("token")
        session_id = params.text("session")
        platform = params.text("platform")
        metadata = params.text("metadata")
        secret = params.text("secret")
        params.maybe_flag("recorder")
        sdk_version = params.text("sdkVersion")
        if not _SEMVER.match(sdk_version):
            raise RpcFail(
                -1, f"java.lang.RuntimeException:sdkVersion '{sdk_version[:40]}' is not semver"
            )
        if self.participant(rpc) is not None:
            raise RpcFail(104, "This WebSocket has already joined a session")
        session = self.state.sessions.get(session_id)
        if session is None:
            raise RpcFail(
                202, f"Unable to join session {session_id}. Session {session_id} cannot be found"
            )
        if secret and secret == self.options.secret:
            conn = self.state.create_connection(session_id, role="PUBLISHER")
        else:
            try:
                conn = self.state.consume_token(session_id, token)
            except StateError as exc:
                raise RpcFail(
                    401, f"Unable to join session {session_id}. Token is not valid"
                ) from exc
        self.state.activate(conn, client_data=metadata, platform=platform, ip=sock.ip)
        if sock.close_timer is not None:
            sock.close_timer.cancel()
            sock.close_timer = None
        rpc.session_id = session_id
        rpc.connection_id = conn.connection_id
        rpc.left = False
        rpc.prepared.clear()
        self.sockets.by_connection[conn.connection_id] = rpc
        assert conn.active_at is not None
        others = [c for c in session.active_connections() if c is not conn]
        value = []
        for other in others:
            entry: dict[str, Any] = {
                "id": other.connection_id,
                "createdAt": other.active_at,
                "metadata": other.metadata,
            }
            if other.stream is not None:
                entry["streams"] = [other.stream.rpc_json()]
            value.append(entry)
        joined = {"id": conn.connection_id, "createdAt": conn.active_at, "metadata": conn.metadata}
        self.tell_others(session, conn, "participantJoined", joined)
        log.info("%s joined session %s", conn.connection_id, session_id)
        result: dict[str, Any] = {
            "id": conn.connection_id,
            "finalUserId": new_final_user_id(),
            "createdAt": conn.active_at,
            "metadata": conn.metadata,
            "value": value,
            "session": session_id,
            "version": self.options.version,
            "mediaServer": self.options.media_server,
            "videoSimulcast": False,
            "record": conn.record,
            "role": conn.role,
        }
        if conn.custom_ice_servers:
            result["customIceServers"] = list(conn.custom_ice_servers)
        return result

    # --- leaving and eviction (§4.10, §5.4, §5.5) --------------------------------------------

    async def _remove(
        self, session_id: str, connection_id: str, reason: str, evicted: bool
    ) -> bool:
        session = self.state.sessions.get(session_id)
        if session is None:
            return False
        conn = session.connections.get(connection_id)
        if conn is None or conn.status != "active":
            return False
        gone = {"connectionId": connection_id, "reason": reason}
        if evicted:
            self.sockets.notify(connection_id, "participantEvicted", dict(gone))
        rpc = self.sockets.by_connection.pop(connection_id, None)
        self.state.remove_connection(session_id, connection_id)
        for other in session.active_connections():
            self.sockets.notify(other.connection_id, "participantLeft", dict(gone))
            if evicted:
                self.sockets.notify(other.connection_id, "participantEvicted", dict(gone))
        if rpc is not None:
            self.sockets.left(rpc)
        await release_quietly(f"release of {connection_id}", self.backend.release(connection_id))
        if (
            session.active
            and not session.active_connections()
            and self.state.sessions.get(session_id) is session
        ):
            self.state.remove_session(session_id)
            log.info("session %s closed: its last participant left", session_id)
        log.info("%s left session %s (%s)", connection_id, session_id, reason or "no reason")
        return True

    async def evict(self, session_id: str, connection_id: str, reason: str) -> bool:
        """Evict an active participant (REST delete, watchdog, forceDisconnect, session close)."""
        return await self._remove(session_id, connection_id, reason, evicted=True)

    async def close_session(self, session_id: str) -> None:
        """``DELETE /sessions/{id}``: evict everybody with ``sessionClosedByServer``."""
        session = self.state.sessions.get(session_id)
        if session is None:
            return
        for conn in list(session.active_connections()):
            await self.evict(session_id, conn.connection_id, "sessionClosedByServer")
        if self.state.sessions.get(session_id) is session:
            self.state.remove_session(session_id)

    async def unpublish(
        self, session: Session, owner: Connection, reason: str, *, tell_owner: bool
    ) -> None:
        """Drop ``owner``'s stream; others (and the owner if asked) get participantUnpublished."""
        stream = owner.stream
        if stream is None:
            return
        owner.stream = None
        self.state.drop_subscriptions(session, stream.stream_id)
        for rpc in self.sockets.rpc_sessions.values():
            rpc.prepared.discard(stream.stream_id)
        await release_quietly(
            f"unpublish of {stream.stream_id}", self.backend.unpublish(stream.stream_id)
        )
        params = {"connectionId": owner.connection_id, "reason": reason}
        for other in session.active_connections():
            if other is not owner or tell_owner:
                self.sockets.notify(other.connection_id, "participantUnpublished", dict(params))

    def send_signal(
        self,
        session: Session,
        to: list[Connection],
        *,
        type_: str | None,
        data: str | None,
        from_id: str | None,
    ) -> None:
        """Deliver a ``sendMessage`` notification (§5.8) to ``to``."""
        params: dict[str, Any] = {}
        if data is not None:
            params["data"] = data
        if type_ is not None:
            params["type"] = type_
        if from_id is not None:
            params["from"] = from_id
        for conn in to:
            self.sockets.notify(conn.connection_id, "sendMessage", dict(params))

    # --- method handlers ---------------------------------------------------------------------

    async def leave_room(self, call: Call) -> dict[str, Any]:
        await self._remove(
            call.session.session_id, call.conn.connection_id, "disconnect", evicted=False
        )
        return {}

    async def send_message(self, call: Call) -> dict[str, Any]:
        session = call.session
        text = call.params.text("message")
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise RpcFail(600, "Signal message must be the JSON text of an object")
        to = message.get("to")
        data = message.get("data")
        type_ = message.get("type")
        if (
            (to is not None and not isinstance(to, list))
            or (data is not None and not isinstance(data, str))
            or (type_ is not None and not isinstance(type_, str))
        ):
            raise RpcFail(600, "Signal message has a member of the wrong type (to/data/type)")
        active = {c.connection_id: c for c in session.active_connections()}
        if to:
            targets = []
            for entry in to:
                if not isinstance(entry, str) or entry not in active:
                    raise RpcFail(
                        601,
                        f"Signal destination '{str(entry)[:40]}' is not in session "
                        f"'{session.session_id}'",
                    )
                targets.append(active[entry])
        else:
            targets = list(active.values())
        self.send_signal(session, targets, type_=type_, data=data, from_id=call.conn.connection_id)
        return {}

    async def stream_property_changed(self, call: Call) -> dict[str, Any]:
        params, conn = call.params, call.conn
        params.text("streamId")
        prop = params.text("property")
        new_value = params.present("newValue")
        reason = params.text("reason")
        stream = conn.stream
        if stream is None:
            raise not_streaming(call.session.session_id, conn.connection_id)
        self.state.set_property(stream, prop, new_value)
        encoded: Any = (
            new_value if prop == "filter" else json.dumps(new_value, separators=(",", ":"))
        )
        out = {
            "connectionId": conn.connection_id,
            "streamId": stream.stream_id,
            "property": prop,
            "newValue": encoded,
            "reason": reason,
        }
        self.tell_others(call.session, conn, "streamPropertyChanged", out)
        return {}

    async def video_data(self, call: Call) -> dict[str, Any]:
        call.params.integer("height")
        call.params.integer("width")
        call.params.flag("videoActive")
        call.params.flag("audioActive")
        return {}

    async def echo(self, call: Call) -> dict[str, Any]:
        return {}

    async def force_disconnect(self, call: Call) -> dict[str, Any]:
        _require_moderator(call, "force disconnect")
        target = call.params.text("connectionId")
        active_participant(call.session, target)
        await self.evict(call.session.session_id, target, "forceDisconnectByUser")
        return {}

    async def force_unpublish(self, call: Call) -> dict[str, Any]:
        _require_moderator(call, "force unpublish")
        owner = stream_owner(call.session, call.params.text("streamId"))
        await self.unpublish(call.session, owner, "forceUnpublishByUser", tell_owner=True)
        return {}
