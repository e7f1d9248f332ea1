"""§8.4 forced-codec munging (kiosk.devserver.sdp)."""

from __future__ import annotations

import pytest

from kiosk.devserver.sdp import ForcedCodecNotFound, force_video_codec

HEAD = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
AUDIO = (
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:0\r\na=sendonly\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtcp-fb:111 transport-cc\r\na=rtpmap:0 PCMU/8000\r\n"
)
VIDEO = (
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 102 103\r\na=mid:1\r\na=sendonly\r\n"
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 goog-remb\r\n"
    "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\na=rtcp-fb:98 nack\r\n"
    "a=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n"
    "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n"
    "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n"
    "a=rtcp-fb:* ccm fir\r\na=ssrc:1 cname:x\r\n"
)


def test_video_section_is_reduced_to_vp8_and_its_rtx() -> None:
    out = force_video_codec(HEAD + AUDIO + VIDEO, "VP8")
    lines = out.split("\r\n")
    assert "m=video 9 UDP/TLS/RTP/SAVPF 96 97" in lines
    for kept in (
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtcp-fb:* ccm fir",
        "a=ssrc:1 cname:x",
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=mid:1",
    ):
        assert kept in lines, kept
    for gone in (
        "VP9",
        "H264",
        "apt=98",
        "apt=102",
        "a=rtcp-fb:98 nack",
        "a=rtpmap:99",
        "a=rtpmap:103",
    ):
        assert gone not in out, gone
    assert out.endswith("\r\n") and "\n" not in out.replace("\r\n", "")


def test_audio_section_and_session_part_are_untouched() -> None:
    out = force_video_codec(HEAD + AUDIO + VIDEO, "VP8")
    assert out.startswith(HEAD + AUDIO)


def test_missing_vp8_raises_unless_transcoding_is_allowed() -> None:
    no_vp8 = HEAD + AUDIO + VIDEO.replace("VP8/90000", "VP8X/90000")
    with pytest.raises(ForcedCodecNotFound) as info:
        force_video_codec(no_vp8, "VP8")
    assert info.value.codec == "VP8"
    assert force_video_codec(no_vp8, "VP8", allow_transcoding=True) == no_vp8


def test_codec_name_match_is_exact_and_case_sensitive() -> None:
    lower = HEAD + VIDEO.replace("VP8/90000", "vp8/90000")
    with pytest.raises(ForcedCodecNotFound):
        force_video_codec(lower, "VP8")


def test_every_video_section_is_munged_and_audio_only_passes() -> None:
    two = HEAD + VIDEO + VIDEO.replace("a=mid:1", "a=mid:2")
    out = force_video_codec(two, "VP8")
    assert out.count("m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n") == 2
    assert force_video_codec(HEAD + AUDIO, "VP8") == HEAD + AUDIO


def test_other_codecs_and_none() -> None:
    out = force_video_codec(HEAD + VIDEO, "H264")
    assert "m=video 9 UDP/TLS/RTP/SAVPF 102 103\r\n" in out and "VP8" not in out
    sdp = HEAD + VIDEO
    assert force_video_codec(sdp, "NONE") == sdp


def test_lf_only_input_is_rejoined_with_crlf() -> None:
    out = force_video_codec((HEAD + VIDEO).replace("\r\n", "\n"), "VP8")
    assert "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n" in out
