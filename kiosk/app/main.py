"""``kiosk run``: arguments and entry (what systemd starts)."""

from __future__ import annotations

import argparse

from kiosk import eventloop
from kiosk.app.kiosk import Kiosk
from kiosk.app.stalls import freeze_startup_heap
from kiosk.config import load_config
from kiosk.logsetup import setup_logging
from kiosk.media import patches


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        default="/etc/kiosk/config.yaml",
        help="configuration file (default /etc/kiosk/config.yaml)",
    )
    parser.add_argument("--duration", type=float, help="leave and exit after S seconds")


def main_from_args(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    setup_logging(config.logging.level, config.logging.format)
    kiosk = Kiosk(config)
    # ICE seam, and video frames released on the RTP marker bit (−33 ms latency)
    patches.install(kiosk.ice)
    # Full collections then skip what lives as long as the process (they blocked rejoins).
    freeze_startup_heap()
    return eventloop.run(kiosk.run(duration=args.duration))
