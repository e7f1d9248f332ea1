"""What publisher and subscriber PeerConnections share: RPC seam, candidates, PC creation.

* :class:`RpcCaller` — the only thing media code knows about signaling (docs/architecture.md).
* :class:`PeerBase` — one ``RTCPeerConnection`` plus the candidate rules of protocol §5.10/§8.6:
  server candidates are buffered until the remote description is applied, non-loopback ones are
  dropped in loopback mode, and our own candidates (every ``a=candidate`` line of the local SDP)
  are trickled with ``onIceCandidate`` once the server has answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcicetransport import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp

from kiosk.errors import KioskError, MediaError
from kiosk.media import ice as ice_seam
from kiosk.media.ice import IceSettings
from kiosk.protocols import RpcCaller

log = logging.getLogger(__name__)

RPC_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class LocalCandidate:
    candidate: str  # "candidate:…" without "a="
    sdp_mid: str
    sdp_mline_index: int


def local_candidates(sdp: str) -> list[LocalCandidate]:
    """Every ``a=candidate`` line of an SDP with the mid and index of its m-section."""
    out: list[LocalCandidate] = []
    index = -1
    mid: str | None = None
    pending: list[str] = []

    def flush() -> None:
        if index >= 0:
            for line in pending:
                out.append(LocalCandidate(line, mid if mid is not None else str(index), index))
        pending.clear()

    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            flush()
            index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        elif line.startswith("a=candidate:"):
            pending.append(line[2:])
    flush()
    return out


def parse_candidate(
    candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
) -> RTCIceCandidate | None:
    """A trickled candidate string → aiortc candidate, or None if it is not one."""
    text = candidate.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if not text:
        return None  # end-of-candidates marker
    try:
        parsed = candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError):
        return None
    parsed.sdpMid = sdp_mid
    parsed.sdpMLineIndex = sdp_mline_index
    return parsed


def bundle_target(sdp: str) -> tuple[str, int] | None:
    """(mid, m-line index) of the first m-section of the SDP's BUNDLE group, if it has one.

    With BUNDLE every m-line shares that section's transport, so a candidate the server sends
    for any m-line of the group belongs there (aiortc ignores candidates aimed at bundled
    m-lines; Kurento sends each candidate once per m-line, §5.10 / §8.6 item 4).
    """
    group: list[str] = []
    mids: list[str] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("a=group:BUNDLE"):
            group = line.split()[1:]
        elif line.startswith("m="):
            mids.append("")
        elif line.startswith("a=mid:") and mids:
            mids[-1] = line[len("a=mid:") :]
    for mid in group:
        if mid in mids:
            return mid, mids.index(mid)
    return None


def make_configuration(ice: IceSettings, ice_servers: Sequence[RTCIceServer]) -> RTCConfiguration:
    """The PC configuration: never a STUN/TURN server in loopback mode, never aiortc's default."""
    if ice.loopback_only:
        return ice_seam.rtc_configuration(ice)
    return RTCConfiguration(iceServers=list(ice_servers))


class PeerBase:
    """One RTCPeerConnection with buffered remote candidates and own-candidate trickling."""

    def __init__(
        self,
        rpc: RpcCaller,
        endpoint_name: str,
        *,
        ice: IceSettings,
        ice_servers: Sequence[RTCIceServer] = (),
        rpc_timeout: float = RPC_TIMEOUT,
    ) -> None:
        self.rpc = rpc
        self.endpoint_name = endpoint_name
        self.ice = ice
        self.ice_servers = list(ice_servers)
        self.rpc_timeout = rpc_timeout
        ice_seam.require_installed(ice)  # the entry point installed it (kiosk.media.patches)
        self.pc = RTCPeerConnection(make_configuration(ice, self.ice_servers))
        self._remote_applied = False
        self._bundle: tuple[str, int] | None = None
        self._pending: list[RTCIceCandidate] = []
        self._closed = False
        self.candidates_added = 0
        self.candidates_dropped = 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    async def add_remote_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """A server ``iceCandidate`` for this PC: buffered until the remote SDP is applied."""
        if self._closed:
            return
        address = ice_seam.candidate_ip(candidate)
        if address is None or not ice_seam.allowed_remote(address, self.ice):
            self.candidates_dropped += 1
            return
        parsed = parse_candidate(candidate, sdp_mid, sdp_mline_index)
        if parsed is None:
            self.candidates_dropped += 1
            return
        if not self._remote_applied:
            self._pending.append(parsed)
            return
        await self._add(parsed)

    async def _add(self, candidate: RTCIceCandidate) -> None:
        if self._bundle is not None:
            candidate.sdpMid, candidate.sdpMLineIndex = self._bundle
        try:
            await self.pc.addIceCandidate(candidate)
            self.candidates_added += 1
        except Exception as exc:  # aiortc/aioice raise assorted errors for odd candidates
            self.candidates_dropped += 1
            log.debug("ignored ICE candidate for %s: %s", self.endpoint_name, exc)

    async def _apply_remote(self, sdp: str, kind: str, what: str) -> None:
        sdp = ice_seam.filter_sdp_candidates(sdp, self.ice)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        except Exception as exc:
            raise MediaError(f"{what}: the server's SDP {kind} was rejected: {exc}") from exc
        self._remote_applied = True
        self._bundle = bundle_target(sdp)
        pending, self._pending = self._pending, []
        for candidate in pending:
            await self._add(candidate)

    async def _set_local(self, what: str, offer: bool) -> str:
        try:
            desc = await (self.pc.createOffer() if offer else self.pc.createAnswer())
            await self.pc.setLocalDescription(desc)
        except Exception as exc:
            raise MediaError(f"{what}: could not create the local SDP: {exc}") from exc
        local = self.pc.localDescription
        if local is None:
            raise MediaError(f"{what}: no local SDP")
        return str(local.sdp)

    async def _trickle_own(self) -> None:
        """Send every local candidate with ``onIceCandidate`` (protocol §4.6, §8.6 item 5)."""
        local = self.pc.localDescription
        if local is None:
            return
        for cand in local_candidates(local.sdp):
            if self._closed:
                return
            await self.rpc.call(
                "onIceCandidate",
                {
                    "endpointName": self.endpoint_name,
                    "candidate": cand.candidate,
                    "sdpMid": cand.sdp_mid,
                    "sdpMLineIndex": cand.sdp_mline_index,
                },
                timeout=self.rpc_timeout,
            )

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.rpc.call(method, params, timeout=self.rpc_timeout)
        except KioskError:
            raise
        except Exception as exc:
            raise MediaError(f"{method}: {exc}") from exc

    async def close(self) -> None:
        """Close the PeerConnection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 10)
