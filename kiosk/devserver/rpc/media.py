"""Media methods of the dev server's JSON-RPC side (§4.3–§4.7, §4.13).

``publishVideo``, ``receiveVideoFrom`` (client offer or server answer), ``prepareReceiveVideoFrom``,
``unsubscribeFromVideo``, ``onIceCandidate``, ``unpublishVideo`` and ``reconnectStream``. Offers
are munged to the session's forced codec (§8.4) before the :class:`MediaBackend` sees them; its
``MediaError`` becomes error 302/303 (204 without media); its server candidates become
``iceCandidate`` notifications (§5.10).
"""

from __future__ import annotations

import logging
from typing import Any

from kiosk.devserver.media_api import MediaBackend, NoMediaBackend, ServerCandidate
from kiosk.devserver.rpc.params import Params, RpcFail, not_streaming
from kiosk.devserver.rpc.room import (
    Call,
    Room,
    active_participant,
    release_quietly,
    stream_owner,
)
from kiosk.devserver.rpc.sockets import RpcSession, Sockets
from kiosk.devserver.sdp import ForcedCodecNotFound, force_video_codec
from kiosk.devserver.state import TYPES_OF_VIDEO, Connection, Session, Stream, new_stream_id, now_ms
from kiosk.errors import MediaError

__all__ = ["MediaMethods"]

log = logging.getLogger("kiosk.devserver.rpc")


def _munge(session: Session, sdp: str) -> str:
    try:
        return force_video_codec(
            sdp, session.forced_video_codec_resolved, allow_transcoding=session.allow_transcoding
        )
    except ForcedCodecNotFound as exc:
        raise RpcFail(
            800, f"Error forcing codec: the SDP has no {exc.codec} payload type for a video m-line"
        ) from exc


class MediaMethods:
    """The handlers of the media methods; negotiation itself is the backend's."""

    def __init__(self, room: Room, sockets: Sockets, backend: MediaBackend) -> None:
        self.room = room
        self.sockets = sockets
        self.backend = backend

    def emit(self, cand: ServerCandidate) -> None:
        """The backend's CandidateSink; safe to call from another thread."""
        self.sockets.notify_threadsafe(
            cand.to_connection_id,
            "iceCandidate",
            {
                "senderConnectionId": cand.sender_connection_id,
                "endpointName": cand.endpoint_name,
                "sdpMLineIndex": cand.sdp_mline_index,
                "sdpMid": cand.sdp_mid,
                "candidate": cand.candidate,
            },
        )

    def _fail(self, exc: MediaError, code: int) -> RpcFail:
        if isinstance(self.backend, NoMediaBackend):
            return RpcFail(204, str(exc))
        return RpcFail(code, str(exc))

    async def publish_video(self, call: Call) -> dict[str, Any]:
        params, session, conn = call.params, call.session, call.conn
        if conn.role == "SUBSCRIBER":
            raise RpcFail(401, "Unable to publish video. The user does not have a valid token")
        sdp_offer = params.text("sdpOffer")
        params.flag("doLoopback")
        has_audio = params.flag("hasAudio")
        has_video = params.flag("hasVideo")
        audio_active = params.maybe_flag("audioActive")
        video_active = params.maybe_flag("videoActive")
        type_of_video = (
            params.text("typeOfVideo") if has_video else params.maybe_text("typeOfVideo")
        )
        if type_of_video is not None and type_of_video not in TYPES_OF_VIDEO:
            raise RpcFail(
                -1, f"java.lang.RuntimeException:typeOfVideo '{type_of_video[:20]}' is not valid"
            )
        frame_rate = params.maybe_integer("frameRate")
        dims = params.maybe_text("videoDimensions")
        if params.maybe_object("filter"):
            raise RpcFail(406, "Unable to apply filter: the dev server does not support filters")
        if conn.stream is not None:
            raise RpcFail(106, f"User '{conn.connection_id}' is already publishing")
        munged = _munge(session, sdp_offer)
        stream_id = new_stream_id(conn.connection_id, has_video, type_of_video)
        try:
            answer = await self.backend.publish(
                conn.connection_id, stream_id, munged, has_audio, has_video, self.emit
            )
        except MediaError as exc:
            raise self._fail(exc, 302) from exc
        if self.room.participant(call.rpc) is None or conn.stream is not None:
            await release_quietly(f"unpublish of {stream_id}", self.backend.unpublish(stream_id))
            raise RpcFail(105, f"User '{conn.connection_id}' left while publishing")
        stream = Stream(
            stream_id=stream_id,
            created_at=now_ms(),
            has_audio=has_audio,
            has_video=has_video,
            audio_active=audio_active,
            video_active=video_active,
            type_of_video=type_of_video if has_video else None,
            frame_rate=frame_rate,
            video_dimensions=dims,
        )
        conn.stream = stream
        published = {"id": conn.connection_id, "streams": [stream.rpc_json()]}
        self.room.tell_others(session, conn, "participantPublished", published)
        log.info("%s publishes %s", conn.connection_id, stream_id)
        return {"sdpAnswer": answer, "id": stream_id, "createdAt": stream.created_at}

    @staticmethod
    def _sender_stream(session: Session, conn: Connection, sender: str) -> Stream:
        pub_id = sender[sender.rfind("con_") :] if "con_" in sender else sender
        pub = active_participant(session, pub_id)
        if pub is conn:
            raise RpcFail(105, f"User '{conn.connection_id}' cannot subscribe to itself")
        if pub.stream is None or pub.stream.stream_id != sender:
            raise not_streaming(session.session_id, pub_id)
        return pub.stream

    async def _drop_subscription(self, conn: Connection, rpc: RpcSession, stream_id: str) -> None:
        had = conn.subscriptions.pop(stream_id, None) is not None
        if had or stream_id in rpc.prepared:
            rpc.prepared.discard(stream_id)
            await release_quietly(
                f"unsubscribe of {conn.connection_id} from {stream_id}",
                self.backend.unsubscribe(conn.connection_id, stream_id),
            )

    async def receive_video_from(self, call: Call) -> dict[str, Any]:
        params, session, conn, rpc = call.params, call.session, call.conn, call.rpc
        sender = params.text("sender")
        sdp_offer = params.maybe_text("sdpOffer")
        sdp_answer = params.maybe_text("sdpAnswer")
        if sdp_offer is None and sdp_answer is None:
            raise params.missing("sdpOffer")
        stream = self._sender_stream(session, conn, sender)
        if sdp_offer is not None:
            munged = _munge(session, sdp_offer)
            await self._drop_subscription(conn, rpc, stream.stream_id)
            try:
                answer = await self.backend.subscribe(
                    conn.connection_id, stream.stream_id, munged, self.emit
                )
            except MediaError as exc:
                raise self._fail(exc, 303) from exc
            conn.subscriptions[stream.stream_id] = now_ms()
            return {"sdpAnswer": answer}
        assert sdp_answer is not None
        if stream.stream_id not in rpc.prepared:
            raise RpcFail(
                303,
                f"No prepared subscription to '{stream.stream_id}': "
                "call prepareReceiveVideoFrom first",
            )
        try:
            await self.backend.complete_subscribe(conn.connection_id, stream.stream_id, sdp_answer)
        except MediaError as exc:
            raise self._fail(exc, 302) from exc
        rpc.prepared.discard(stream.stream_id)
        conn.subscriptions[stream.stream_id] = now_ms()
        return {}

    async def prepare_receive_video_from(self, call: Call) -> dict[str, Any]:
        params, session, conn, rpc = call.params, call.session, call.conn, call.rpc
        sender = params.text("sender")
        params.flag("reconnect")
        stream = self._sender_stream(session, conn, sender)
        await self._drop_subscription(conn, rpc, stream.stream_id)
        try:
            offer = await self.backend.prepare_subscribe(
                conn.connection_id, stream.stream_id, self.emit
            )
        except MediaError as exc:
            raise self._fail(exc, 303) from exc
        rpc.prepared.add(stream.stream_id)
        try:
            offer = _munge(session, offer)
        except RpcFail:
            await self._drop_subscription(conn, rpc, stream.stream_id)
            raise
        return {"sdpOffer": offer}

    async def unsubscribe_from_video(self, call: Call) -> dict[str, Any]:
        pub = active_participant(call.session, call.params.text("sender"))
        if pub.stream is not None:
            await self._drop_subscription(call.conn, call.rpc, pub.stream.stream_id)
        return {}

    async def on_ice_candidate(self, call: Call) -> dict[str, Any]:
        params = call.params
        endpoint = params.text("endpointName")
        candidate = params.text("candidate")
        sdp_mid = params.text("sdpMid")
        index = params.integer("sdpMLineIndex")
        try:
            await self.backend.add_client_candidate(
                call.conn.connection_id, endpoint, candidate, sdp_mid, index
            )
        except MediaError as exc:
            raise RpcFail(303, str(exc)) from exc
        return {}

    async def unpublish_video(self, call: Call) -> dict[str, Any]:
        if call.conn.stream is None:
            raise not_streaming(call.session.session_id, call.conn.connection_id)
        await self.room.unpublish(call.session, call.conn, "unpublish", tell_owner=False)
        return {}

    async def reconnect_stream(self, call: Call) -> dict[str, Any]:
        params, session, conn = call.params, call.session, call.conn
        stream_id = params.text("stream")
        sdp_string = params.maybe_text("sdpString")
        sdp_offer = params.maybe_text("sdpOffer")
        if conn.stream is not None and conn.stream.stream_id == stream_id:
            raise RpcFail(
                302,
                "reconnectStream of your own published stream is not supported by the dev "
                "server: unpublish and publish again",
            )
        stream_owner(session, stream_id)
        if sdp_offer is not None:
            inner = {"sender": stream_id, "sdpOffer": sdp_offer}
        elif sdp_string is not None:
            inner = {"sender": stream_id, "sdpAnswer": sdp_string}
        else:
            raise params.missing("sdpOffer")
        again = Call(call.sock, call.rpc, session, conn, Params("receiveVideoFrom", inner))
        return await self.receive_video_from(again)
