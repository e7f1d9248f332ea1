"""Attribute py-spy raw samples of one thread (default the kiosk's loop thread) to categories.

    py-spy record --native --threads -r 50 -d 15 -p PID -f raw -o prof.txt
    .venv/bin/python bench/loop_profile.py prof.txt [MainThread]

A stack counts for the first category (in the order below) any of whose keys occurs in any of
its frames; "idle" is time inside epoll. Prints a markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import collections
import sys

CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("SRTP unprotect (pylibsrtp)", ("unprotect", "srtp_")),
    ("RTP/RTCP parse (aiortc.rtp)", ("aiortc/rtp.py",)),
    (
        "RTP receive path, jitter buffer",
        ("rtcrtpreceiver.py", "jitterbuffer.py", "kiosk/media/jitter.py"),
    ),
    ("DTLS transport, RTCP", ("rtcdtlstransport.py", "rtcrtpsender.py")),
    ("ICE (aioice)", ("aioice/",)),
    ("audio mixer", ("kiosk/media/sinks.py", "AudioMixer", "resample")),
    ("drawing", ("kiosk/screen/", "pygame")),
    ("signaling, app logic", ("kiosk/openvidu/", "kiosk/app/", "websockets/", "json/")),
    (
        "subscription set-up",
        ("rtcpeerconnection.py", "kiosk/media/subscriber.py", "kiosk/media/peer.py"),
    ),
    ("UDP datagram path", ("datagram_received", "udp.c", "uv__udp")),
    ("idle (epoll)", ("epoll_wait", "uv__io_poll")),
]
OTHER = "other (asyncio/uvloop machinery)"


def attribute(
    lines: list[str], thread: str
) -> tuple[collections.Counter[str], collections.Counter[str]]:
    cats: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, n = line.rstrip().rpartition(" ")
        if not stack or not n.isdigit():
            continue
        head = stack.split(";", 1)[0]
        threads[head.split(": ", 1)[-1]] += int(n)
        if thread not in head:
            continue
        frames = stack.split(";")
        label = next(
            (name for name, keys in CATEGORIES if any(k in f for f in frames for k in keys)),
            OTHER,
        )
        cats[label] += int(n)
    return cats, threads


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    thread = argv[1] if len(argv) > 1 else "MainThread"
    with open(argv[0], encoding="utf-8") as f:
        cats, threads = attribute(f.readlines(), thread)
    print("samples per thread:", dict(threads.most_common()))
    busy = sum(k for c, k in cats.items() if not c.startswith("idle"))
    print(f"| {thread} | samples | of its busy samples |\n|---|---|---|")
    for label, k in cats.most_common():
        share = "–" if label.startswith("idle") else f"{100 * k / max(1, busy):.0f} %"
        print(f"| {label} | {k} | {share} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
