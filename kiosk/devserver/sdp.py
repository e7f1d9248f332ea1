"""SDP text helpers of the dev server: forced-codec munging (§8.4) and Kurento-style candidates.

Candidates: the media backend's answers and offers carry no ``a=candidate`` lines
(:func:`strip_candidates`); their candidates (:func:`local_candidates`) go out once per m-line
(:func:`mlines`) as ``iceCandidate`` notifications instead.

Forced-video-codec munging, as OpenVidu does it before handing an offer to Kurento (§8.4):

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
from dataclasses import dataclass

__all__ = [
    "ForcedCodecNotFound",
    "MLine",
    "first_video_codec",
    "force_video_codec",
    "local_candidates",
    "mlines",
    "strip_candidates",
]

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


# --- m-lines and candidates -------------------------------------------------------------------


@dataclass(frozen=True)
class MLine:
    index: int
    mid: str
    kind: str


def mlines(sdp: str) -> list[MLine]:
    out: list[MLine] = []
    kind = ""
    mid: str | None = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            if kind:
                out.append(MLine(len(out), mid if mid is not None else str(len(out)), kind))
            kind = line[2:].split(" ", 1)[0]
            mid = None
        elif line.startswith("a=mid:") and kind:
            mid = line[len("a=mid:") :].strip()
    if kind:
        out.append(MLine(len(out), mid if mid is not None else str(len(out)), kind))
    return out


def local_candidates(sdp: str) -> list[str]:
    """Unique ``candidate:…`` values of an SDP, in order."""
    seen: dict[str, None] = {}
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            seen.setdefault(line[2:].strip(), None)
    return list(seen)


def strip_candidates(sdp: str) -> str:
    kept = [
        line
        for line in sdp.splitlines(keepends=True)
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    ]
    return "".join(kept)


def first_video_codec(sdp: str) -> str | None:
    """The encoding name of the first payload type of the first video m-line."""
    lines = sdp.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("m=video"):
            parts = line.split()
            if len(parts) < 4 or parts[1] == "0":
                return None
            first = parts[3]
            for other in lines[i + 1 :]:
                if other.startswith("m="):
                    break
                if other.startswith(f"a=rtpmap:{first} "):
                    return other.split(" ", 1)[1].split("/", 1)[0]
            return None
    return None
