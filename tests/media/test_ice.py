"""The ICE loopback seam: WebRTC in tests stays on 127.0.0.1 and never contacts STUN/TURN."""

from __future__ import annotations

import asyncio

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcicetransport import RTCIceGatherer

from kiosk.media import ice
from kiosk.media.ice import IceSettings
from kiosk.media.patches import Patches

ORIGINAL_GET_HOST_ADDRESSES = aioice.ice.get_host_addresses


@pytest.fixture
def loopback(loopback_ice: Patches) -> IceSettings:
    return loopback_ice.ice


def _candidate_lines(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


def test_loopback_settings() -> None:
    settings = IceSettings.loopback()
    assert settings.host_addresses == ("127.0.0.1",)
    assert settings.loopback_only is True
    assert IceSettings() == IceSettings(host_addresses=(), loopback_only=False)


def test_allowed_remote() -> None:
    lo = IceSettings.loopback()
    assert ice.allowed_remote("127.0.0.1", lo)
    assert ice.allowed_remote("127.0.0.5", lo)
    assert ice.allowed_remote("::1", lo)
    assert not ice.allowed_remote("192.168.1.20", lo)
    assert not ice.allowed_remote("10.0.0.1", lo)
    assert not ice.allowed_remote("8.8.8.8", lo)
    # mDNS names would need multicast resolution: refused in loopback mode.
    assert not ice.allowed_remote("2a1f6e0c-1111-2222-3333-444455556666.local", lo)
    assert ice.allowed_remote("192.168.1.20", IceSettings())


def test_filter_sdp_candidates_keeps_loopback_and_crlf() -> None:
    sdp = (
        "v=0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"
        "a=candidate:2 1 udp 2130706431 192.168.1.20 40001 typ host\r\n"
        "a=candidate:3 1 udp 1694498815 203.0.113.7 40002 typ srflx raddr 0.0.0.0 rport 0\r\n"
        "a=candidate:4 1 udp 2130706431 abcd.local 40003 typ host\r\n"
        "a=end-of-candidates\r\n"
    )
    out = ice.filter_sdp_candidates(sdp, IceSettings.loopback())
    assert _candidate_lines(out) == ["a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"]
    assert out.endswith("a=end-of-candidates\r\n")
    assert "\r\n" in out and "\n" not in out.replace("\r\n", "")
    assert ice.filter_sdp_candidates(sdp, IceSettings()) == sdp


def test_candidate_ip() -> None:
    assert ice.candidate_ip("candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host") == "127.0.0.1"
    assert ice.candidate_ip("a=candidate:1 1 udp 5 10.1.2.3 4 typ host") == "10.1.2.3"
    assert ice.candidate_ip("") is None
    assert ice.candidate_ip("garbage") is None


def test_install_rejects_bad_address() -> None:
    with pytest.raises(ValueError):
        ice.install(IceSettings(host_addresses=("not-an-ip",)))


def test_install_and_restore() -> None:
    before = ice.current()
    try:
        ice.install(IceSettings.loopback())
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == []
        assert RTCIceGatherer.getDefaultIceServers() == []
        assert ice.rtc_configuration(IceSettings.loopback()).iceServers == []
        ice.install(IceSettings())
        assert aioice.ice.get_host_addresses is ORIGINAL_GET_HOST_ADDRESSES
        assert RTCIceGatherer.getDefaultIceServers() != []  # aiortc's own default is back
    finally:
        ice.install(before)


@pytest.mark.integration
async def test_two_peers_connect_over_loopback_only(loopback: IceSettings) -> None:
    private = set(ORIGINAL_GET_HOST_ADDRESSES(use_ipv4=True, use_ipv6=True))
    a = RTCPeerConnection(ice.rtc_configuration(loopback))
    b = RTCPeerConnection(ice.rtc_configuration(loopback))
    try:
        channel = a.createDataChannel("ping")
        got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        @b.on("datachannel")
        def on_datachannel(remote: object) -> None:
            @remote.on("message")  # type: ignore[attr-defined,untyped-decorator]
            def on_message(message: str) -> None:
                if not got.done():
                    got.set_result(message)

        @channel.on("open")
        def on_open() -> None:
            channel.send("hello over loopback")

        await a.setLocalDescription(await a.createOffer())
        offer = a.localDescription
        await b.setRemoteDescription(
            RTCSessionDescription(ice.filter_sdp_candidates(offer.sdp, loopback), offer.type)
        )
        await b.setLocalDescription(await b.createAnswer())
        answer = b.localDescription
        await a.setRemoteDescription(
            RTCSessionDescription(ice.filter_sdp_candidates(answer.sdp, loopback), answer.type)
        )

        assert await asyncio.wait_for(got, timeout=15) == "hello over loopback"
        assert a.connectionState == "connected"

        for sdp in (offer.sdp, answer.sdp):
            lines = _candidate_lines(sdp)
            assert lines, "no local candidates at all"
            for line in lines:
                address = ice.candidate_ip(line)
                assert address == "127.0.0.1", line
                assert address not in private - {"127.0.0.1"}
                assert " typ host" in line  # no srflx/relay: no STUN/TURN was contacted
        # The pair in use is loopback on both ends.
        transport = a.sctp.transport.transport  # type: ignore[union-attr]
        pair = transport._connection._nominated  # aioice internals, read-only check
        assert pair
        for candidate_pair in pair.values():
            assert candidate_pair.local_candidate.host == "127.0.0.1"
            assert candidate_pair.remote_candidate.host == "127.0.0.1"
    finally:
        await a.close()
        await b.close()


def test_section_left_without_candidates_stays_open_for_trickle() -> None:
    # aioice prunes a component on end-of-candidates without candidates and then ignores
    # trickled ones: a section emptied by the filter must lose its end-of-candidates.
    sdp = (
        "v=0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=candidate:2 1 udp 2130706431 192.168.1.20 40001 typ host\r\n"
        "a=end-of-candidates\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"
        "a=end-of-candidates\r\n"
    )
    out = ice.filter_sdp_candidates(sdp, IceSettings.loopback())
    audio, video = out.split("m=video")
    assert "a=end-of-candidates" not in audio and "a=candidate" not in audio
    assert "a=candidate:1 " in video and "a=end-of-candidates" in video
    assert ice.drop_empty_end_of_candidates("v=0\r\na=end-of-candidates\r\n") == "v=0\r\n"
