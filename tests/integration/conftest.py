"""Every test here runs real WebRTC in this process: the loopback ICE seam is installed."""

from __future__ import annotations

import pytest

from kiosk.media.patches import Patches


@pytest.fixture(autouse=True)
def _loopback(loopback_ice: Patches) -> Patches:
    return loopback_ice
