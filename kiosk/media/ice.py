"""The ICE loopback seam: the one place that decides which addresses WebRTC may use.

Why this exists
---------------
aioice (the ICE agent under aiortc) lists host candidates with
``aioice.ice.get_host_addresses()``, which deliberately skips ``127.0.0.1`` and offers the
machine's own LAN / private addresses instead. Tests, benches and the dev server's loopback mode
must never send media anywhere but loopback, so they need ICE to gather on ``127.0.0.1`` only
and to ignore remote candidates that are not loopback.

aiortc additionally falls back to a *public* STUN server (``stun.l.google.com``, from
``RTCIceGatherer.getDefaultIceServers()``) whenever ``RTCConfiguration.iceServers`` is ``None``
— which is the default. Loopback code must therefore build its configuration with
:func:`rtc_configuration` (``iceServers=[]``); :func:`install` also neutralises that default
while loopback mode is installed, as a safety net.

The seam
--------
* :class:`IceSettings` — plain value: ``host_addresses`` (empty = aioice default, all
  interfaces) and ``loopback_only`` (drop remote candidates that are not loopback).
  ``IceSettings.loopback()`` is what tests use.
* :func:`install` — process-wide. Replaces the module attribute
  ``aioice.ice.get_host_addresses`` (the function ``Connection.gather_candidates`` looks up at
  call time; checked against aioice 0.13 / aiortc 1.16) with one that returns
  ``settings.host_addresses`` (filtered by the IPv4/IPv6 flags aioice passes in). With
  ``loopback_only`` it also makes ``RTCIceGatherer.getDefaultIceServers()`` return ``[]`` so no
  STUN/TURN server is ever contacted, and connectivity checks arriving from a non-loopback
  address are dropped (no peer-reflexive candidates from the machine's LAN address).
  ``install(IceSettings())`` restores aioice's behaviour.
  Only the entry points call it, through :func:`kiosk.media.patches.install`, once at start
  before the first ``RTCPeerConnection`` gathers; library code checks with
  :func:`require_installed` and never installs.
* :func:`allowed_remote` / :func:`filter_sdp_candidates` — apply ``loopback_only`` to trickled
  candidates and to ``a=candidate`` lines of a remote SDP *before* handing them to aiortc
  (mDNS ``.local`` names are refused in loopback mode too: resolving them sends multicast).
  A section left without candidates also loses its ``a=end-of-candidates`` (see
  :func:`drop_empty_end_of_candidates`), so trickled candidates still count.
* :func:`rtc_configuration` — the ``RTCConfiguration`` to use with these settings.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcicetransport import RTCIceGatherer

from kiosk.errors import MediaError
from kiosk.net import is_loopback_host

__all__ = [
    "IceSettings",
    "allowed_remote",
    "candidate_ip",
    "current",
    "drop_empty_end_of_candidates",
    "filter_sdp_candidates",
    "install",
    "require_installed",
    "rtc_configuration",
]


@dataclass(frozen=True)
class IceSettings:
    """Which local addresses ICE gathers on, and whether remote candidates must be loopback."""

    host_addresses: tuple[str, ...] = ()  # empty = all interfaces (aioice default)
    loopback_only: bool = False  # drop remote candidates that are not loopback

    @classmethod
    def loopback(cls) -> IceSettings:
        """Settings for tests, benches and the dev server's loopback mode."""
        return cls(host_addresses=("127.0.0.1",), loopback_only=True)


_lock = threading.Lock()
_ORIGINAL_GET_HOST_ADDRESSES: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
_ORIGINAL_DEFAULT_ICE_SERVERS: Any = RTCIceGatherer.__dict__["getDefaultIceServers"]
_current = IceSettings()


def _no_default_ice_servers(cls: type[RTCIceGatherer]) -> list[RTCIceServer]:
    return []


_ORIGINAL_REQUEST_RECEIVED: Callable[..., None] = aioice.ice.Connection.request_received


def _loopback_request_received(
    self: aioice.ice.Connection, message: Any, addr: tuple[str, int], protocol: Any
) -> None:
    """Loopback mode: a connectivity check from a non-loopback address is dropped unanswered.

    Filtering announced candidates is not enough: a browser on this machine also sends checks
    from its LAN address, which aioice would accept as a peer-reflexive candidate.
    """
    if not is_loopback_host(addr[0]):
        return
    _ORIGINAL_REQUEST_RECEIVED(self, message, addr, protocol)


def install(settings: IceSettings) -> None:
    """Make aioice gather host candidates only on ``settings.host_addresses`` (process-wide).

    Idempotent; the latest call wins. ``IceSettings()`` restores aioice's defaults.
    """
    global _current
    for address in settings.host_addresses:
        ipaddress.ip_address(address)  # ValueError names the bad address
    with _lock:
        if settings.host_addresses:
            fixed = tuple(settings.host_addresses)

            def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
                out: list[str] = []
                for address in fixed:
                    version = ipaddress.ip_address(address).version
                    if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
                        out.append(address)
                return out

            setattr(aioice.ice, "get_host_addresses", get_host_addresses)  # noqa: B010
        else:
            setattr(aioice.ice, "get_host_addresses", _ORIGINAL_GET_HOST_ADDRESSES)  # noqa: B010
        if settings.loopback_only:
            setattr(  # noqa: B010
                RTCIceGatherer, "getDefaultIceServers", classmethod(_no_default_ice_servers)
            )
            setattr(  # noqa: B010
                aioice.ice.Connection, "request_received", _loopback_request_received
            )
        else:
            setattr(  # noqa: B010
                RTCIceGatherer, "getDefaultIceServers", _ORIGINAL_DEFAULT_ICE_SERVERS
            )
            setattr(  # noqa: B010
                aioice.ice.Connection, "request_received", _ORIGINAL_REQUEST_RECEIVED
            )
        _current = settings


def current() -> IceSettings:
    """The settings last passed to :func:`install` (``IceSettings()`` if never called)."""
    return _current


def require_installed(settings: IceSettings) -> None:
    """Raise MediaError when ``settings`` restrict ICE but the process-wide seam differs.

    A peer connection built with loopback settings while aioice still gathers on every
    interface would offer this machine's LAN addresses: refuse instead of leaking.
    """
    if (settings.host_addresses or settings.loopback_only) and _current != settings:
        raise MediaError(
            f"ICE settings {settings} are not installed (installed: {_current}); "
            "call kiosk.media.patches.install() at start"
        )


def rtc_configuration(settings: IceSettings) -> RTCConfiguration:
    """An ``RTCConfiguration`` with no STUN/TURN server at all (host candidates only).

    aiortc treats ``iceServers=None`` as "use Google's public STUN server", so this always
    passes an explicit empty list. Used for loopback and for the dev server; a client that
    needs the TURN/STUN servers from ``joinRoom`` (§8.6) builds its own configuration.
    """
    return RTCConfiguration(iceServers=[])


def allowed_remote(candidate_ip: str, settings: IceSettings) -> bool:
    """Whether a remote candidate with this address (or hostname) may be used."""
    if not settings.loopback_only:
        return True
    try:
        return ipaddress.ip_address(candidate_ip.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname (e.g. mDNS "….local"): resolving it leaves loopback


def candidate_ip(candidate: str) -> str | None:
    """The connection address of an ICE candidate string (with or without ``a=``/``candidate:``).

    Grammar (RFC 8839): ``candidate:<foundation> <component> <transport> <priority>
    <address> <port> typ <type> …``. Returns ``None`` when the string is not a candidate.
    """
    text = candidate.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    parts = text.split()
    if len(parts) < 8 or parts[6] != "typ":
        return None
    return parts[4]


def filter_sdp_candidates(sdp: str, settings: IceSettings) -> str:
    """Drop the ``a=candidate`` lines whose address ``allowed_remote`` refuses.

    Line endings are preserved (SDP uses CRLF). Without ``loopback_only`` the SDP is unchanged.
    """
    if not settings.loopback_only:
        return sdp
    kept: list[str] = []
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:"):
            address = candidate_ip(line)
            if address is None or not allowed_remote(address, settings):
                continue
        kept.append(line)
    return drop_empty_end_of_candidates("".join(kept))


def drop_empty_end_of_candidates(sdp: str) -> str:
    """Remove ``a=end-of-candidates`` from every section that has no ``a=candidate`` line.

    aioice treats end-of-candidates without any candidate as "this component has no pairs",
    prunes it, and then gathers nothing and ignores candidates trickled later. A section left
    empty (all candidates filtered, or a client that trickles) must stay open for trickle.
    """
    lines = sdp.splitlines(keepends=True)
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    out: list[str] = []
    for section in sections:
        if not any(line.startswith("a=candidate:") for line in section):
            section = [line for line in section if not line.startswith("a=end-of-candidates")]
        out.extend(section)
    return "".join(out)


class IceServerLike(Protocol):
    """What a joinRoom result's ICE server looks like (``kiosk.openvidu.client.IceServer``)."""

    @property
    def urls(self) -> tuple[str, ...]: ...

    @property
    def username(self) -> str | None: ...

    @property
    def credential(self) -> str | None: ...


def rtc_ice_servers(servers: Iterable[IceServerLike], settings: IceSettings) -> list[RTCIceServer]:
    """aiortc ICE servers for a peer connection; none at all in loopback mode.

    In loopback mode a STUN/TURN server would be traffic off this machine, so the servers the
    OpenVidu server offers are ignored there.
    """
    if settings.loopback_only:
        return []
    return [
        RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
        for s in servers
    ]
