"""A tiny stand-in for OpenVidu+Kurento used by the media tests.

It plays the server side of the RPC calls with real aiortc PeerConnections, the Kurento way:
answers (and server offers) carry no ``a=candidate`` lines; every server candidate is delivered
as an ``IceCandidateReceived`` event, the publisher's ones *before* the ``publishVideo`` response.
Published media is relayed to subscribers with ``MediaRelay``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from kiosk.errors import RpcError
from kiosk.media.peer import local_candidates, parse_candidate
from kiosk.openvidu.events import IceCandidateReceived

Deliver = Callable[[str, IceCandidateReceived], Awaitable[None]]
ALICE, BOB = "con_Alice00001", "con_Bob0000002"  # connection ids of the two participants


def strip_candidates(sdp: str) -> str:
    return "".join(
        line
        for line in sdp.splitlines(keepends=True)
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )


@dataclass
class Published:
    connection_id: str
    stream_id: str
    pc: RTCPeerConnection
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)


class FakeServer:
    """Server side for one session; ``client(connection_id)`` gives that participant's RPC."""

    def __init__(self, deliver: Deliver, *, only_last_mline: bool = False) -> None:
        self.deliver = deliver
        # worst case: candidates for the last m-line only, by index (no sdpMid)
        self.only_last_mline = (
            only_last_mline  # (to_connection_id, event) -> feeds the client's media code
        )
        self.relay = MediaRelay()
        self.published: dict[str, Published] = {}  # by stream id
        self.subscriptions: dict[tuple[str, str], RTCPeerConnection] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (caller, method, params)
        self.remote_candidates: dict[str, int] = {}  # endpoint key -> count
        self._counter = 0

    def client(self, connection_id: str) -> FakeRpc:
        return FakeRpc(self, connection_id)

    def _pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=[]))

    async def _send_candidates(
        self, pc: RTCPeerConnection, to: str, sender: str, endpoint: str
    ) -> None:
        assert pc.localDescription is not None
        candidates = local_candidates(pc.localDescription.sdp)
        if self.only_last_mline:
            last = max(c.sdp_mline_index for c in candidates)
            candidates = [c for c in candidates if c.sdp_mline_index == last]
        for cand in candidates:
            await self.deliver(
                to,
                IceCandidateReceived(
                    sender_connection_id=sender,
                    endpoint_name=endpoint,
                    candidate=cand.candidate,
                    sdp_mid=None if self.only_last_mline else cand.sdp_mid,
                    sdp_mline_index=cand.sdp_mline_index,
                ),
            )

    async def handle(self, caller: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((caller, method, params))
        if method == "publishVideo":
            return await self._publish(caller, params)
        if method == "receiveVideoFrom":
            return await self._receive(caller, params)
        if method == "prepareReceiveVideoFrom":
            return await self._prepare(caller, params)
        if method == "onIceCandidate":
            await self._candidate(caller, params)
            return {}
        if method == "unpublishVideo":
            for sid, pub in list(self.published.items()):
                if pub.connection_id == caller:
                    del self.published[sid]
                    await pub.pc.close()
            return {}
        if method == "unsubscribeFromVideo":
            for (sub, sid), pc in list(self.subscriptions.items()):
                if sub == caller and sid.endswith(params["sender"]):
                    del self.subscriptions[(sub, sid)]
                    await pc.close()
            return {}
        if method == "streamPropertyChanged":
            return {}
        raise RpcError(method, -1, "not implemented by the fake server")

    async def _publish(self, caller: str, params: dict[str, Any]) -> dict[str, Any]:
        self._counter += 1
        stream_id = f"str_CUS_{self._counter:04d}_{caller}"
        pc = self._pc()
        pub = Published(caller, stream_id, pc)

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            pub.tracks[track.kind] = track

        await pc.setRemoteDescription(RTCSessionDescription(params["sdpOffer"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.published[stream_id] = pub
        # Kurento: candidates may arrive before the response
        await self._send_candidates(pc, caller, caller, stream_id)
        assert pc.localDescription is not None
        return {
            "sdpAnswer": strip_candidates(pc.localDescription.sdp),
            "id": stream_id,
            "createdAt": 1,
        }

    async def _receive(self, caller: str, params: dict[str, Any]) -> dict[str, Any]:
        stream_id = params["sender"]
        pub = self.published.get(stream_id)
        if pub is None:
            raise RpcError("receiveVideoFrom", 105, "stream not found")
        if "sdpAnswer" in params:
            pc = self.subscriptions[(caller, stream_id)]
            await pc.setRemoteDescription(RTCSessionDescription(params["sdpAnswer"], "answer"))
            return {}
        old = self.subscriptions.pop((caller, stream_id), None)
        if old is not None:
            await old.close()
        pc = self._pc()
        self.subscriptions[(caller, stream_id)] = pc
        await pc.setRemoteDescription(RTCSessionDescription(params["sdpOffer"], "offer"))
        for kind in ("audio", "video"):
            if kind in pub.tracks:
                pc.addTrack(self.relay.subscribe(pub.tracks[kind]))
        await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        answer = strip_candidates(pc.localDescription.sdp)
        asyncio.get_running_loop().create_task(
            self._send_candidates(pc, caller, pub.connection_id, f"{caller}_{stream_id}")
        )
        return {"sdpAnswer": answer}

    async def _prepare(self, caller: str, params: dict[str, Any]) -> dict[str, Any]:
        stream_id = params["sender"]
        pub = self.published[stream_id]
        pc = self._pc()
        self.subscriptions[(caller, stream_id)] = pc
        for kind in ("audio", "video"):
            if kind in pub.tracks:
                pc.addTransceiver(self.relay.subscribe(pub.tracks[kind]), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        offer = strip_candidates(pc.localDescription.sdp)
        asyncio.get_running_loop().create_task(
            self._send_candidates(pc, caller, pub.connection_id, f"{caller}_{stream_id}")
        )
        return {"sdpOffer": offer}

    async def _candidate(self, caller: str, params: dict[str, Any]) -> None:
        endpoint = params["endpointName"]
        if endpoint == caller:
            pcs = [p.pc for p in self.published.values() if p.connection_id == caller]
        else:
            pcs = [
                pc
                for (sub, sid), pc in self.subscriptions.items()
                if sub == caller and sid.endswith(endpoint)
            ]
        assert pcs, f"candidate for unknown endpoint {endpoint}"
        cand = parse_candidate(params["candidate"], params["sdpMid"], params["sdpMLineIndex"])
        assert cand is not None
        key = f"{caller}/{endpoint}"
        self.remote_candidates[key] = self.remote_candidates.get(key, 0) + 1
        for pc in pcs:
            await pc.addIceCandidate(cand)

    async def close(self) -> None:
        pcs = [p.pc for p in self.published.values()] + list(self.subscriptions.values())
        for pc in pcs:
            await pc.close()


class FakeRpc:
    """The ``RpcCaller`` one participant's media code gets."""

    def __init__(self, server: FakeServer, connection_id: str) -> None:
        self.server = server
        self.connection_id = connection_id

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        return await asyncio.wait_for(
            self.server.handle(self.connection_id, method, dict(params or {})), timeout or 10
        )
