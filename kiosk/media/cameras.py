"""Which camera ``media.camera.device: auto`` means: the first real V4L2 capture device.

Pure file-system lookups (no PyAV, no opening), so ``kiosk check-config`` can use it too.
USB cameras have stable names under ``/dev/v4l/by-id/`` (``…-video-index0`` is the capture
node); those come first. Otherwise the first ``/dev/videoN`` whose driver is not one of the
Raspberry Pi's codec/ISP/camera-frontend nodes (which are video devices but not cameras).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["NOT_CAMERAS", "find_camera"]

# Video4Linux nodes on a Raspberry Pi that are not cameras (codecs, ISP, CSI frontends).
NOT_CAMERAS = re.compile(r"bcm2835-codec|bcm2835-isp|rpivid|rp1-cfe|pispbe|hevc|unicam", re.I)


def _index(path: Path) -> int:
    digits = re.sub(r"\D", "", path.name)
    return int(digits) if digits else 1 << 30


def find_camera(
    dev: Path = Path("/dev"), sysfs: Path = Path("/sys/class/video4linux")
) -> str | None:
    """The device path of the first camera, or None when there is none."""
    by_id = sorted((dev / "v4l" / "by-id").glob("*-video-index0"))
    if by_id:
        return str(by_id[0])
    for node in sorted(dev.glob("video[0-9]*"), key=_index):
        try:
            name = (sysfs / node.name / "name").read_text(encoding="utf-8", errors="replace")
        except OSError:
            name = ""
        if not NOT_CAMERAS.search(name):
            return str(node)
    return None
