"""Forced-video-codec SDP munging, as OpenVidu does it before handing an offer to Kurento (§8.4).

For every ``m=video`` section the payload types whose ``a=rtpmap`` is exactly
``<PT> <CODEC>/90000`` are kept, together with their RTX payload types
(``a=fmtp:<x> apt=<PT>``); the ``m=`` payload list is reduced to those, and the ``a=rtpmap``,
``a=fmtp`` and ``a=rtcp-fb`` lines of every other payload type of that section are removed.
Lines are re-joined with CRLF.

Difference from OpenVidu 2.22 (on purpose): the removal works per video section. OpenVidu
removes lines by payload-type *number* across the whole SDP (so an audio m-line sharing a number
with a removed video codec would lose its lines too) and also drops ``a=extmap`` lines whose id
equals a removed number; both are side effects of its implementation that no client relies on.
"""

from __future__ import annotations

import re

__all__ = ["ForcedCodecNotFound", "force_video_codec"]

_RTPMAP = re.compile(r"^a=rtpmap:(\d+)\s+([^/\s]+)/(\d+)")
_FMTP_APT = re.compile(r"^a=fmtp:(\d+)\s+.*\bapt=(\d+)")
_PT_LINE = re.compile(r"^a=(rtpmap|fmtp|rtcp-fb):(\d+)[\s]")


class ForcedCodecNotFound(Exception):
    """An ``m=video`` section of the offer has no payload type of the forced codec (→ 800)."""

    def __init__(self, codec: str, section_index: int) -> None:
        self.codec = codec
        self.section_index = section_index
        super().__init__(f"m-line {section_index} of the SDP offer has no {codec} payload type")


def _munge_video_section(lines: list[str], codec: str, index: int) -> list[str]:
    keep: list[str] = []
    for line in lines:
        m = _RTPMAP.match(line)
        if m and m.group(2) == codec and m.group(3) == "90000":
            keep.append(m.group(1))
    if not keep:
        raise ForcedCodecNotFound(codec, index)
    for line in lines:
        m = _FMTP_APT.match(line)
        if m and m.group(2) in keep and m.group(1) not in keep:
            keep.append(m.group(1))
    out: list[str] = []
    for i, line in enumerate(lines):
        if i == 0:
            parts = line.split(" ")
            head, payloads = parts[:3], parts[3:]
            out.append(" ".join(head + [p for p in payloads if p in keep]))
            continue
        m = _PT_LINE.match(line)
        if m and m.group(2) not in keep:
            continue
        out.append(line)
    return out


def force_video_codec(sdp: str, codec: str, *, allow_transcoding: bool = False) -> str:
    """Return ``sdp`` with every video section reduced to ``codec`` (e.g. ``"VP8"``).

    ``codec`` ``"NONE"`` (or empty) returns the SDP unchanged. Raises
    :class:`ForcedCodecNotFound` when a video section lacks the codec, unless
    ``allow_transcoding`` is true, in which case the SDP is returned unchanged.
    """
    if not codec or codec in ("NONE", "MEDIA_SERVER_PREFERRED"):
        return sdp
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    out: list[str] = list(sections[0])
    try:
        for index, section in enumerate(sections[1:]):
            if section[0].startswith("m=video"):
                out.extend(_munge_video_section(section, codec, index))
            else:
                out.extend(section)
    except ForcedCodecNotFound:
        if allow_transcoding:
            return sdp
        raise
    return "\r\n".join(out) + "\r\n"
