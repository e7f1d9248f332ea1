"""pytest fixtures shipped with kiosk (``pytest_plugins = ["kiosk.testing.fixtures"]``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kiosk.media import patches
from kiosk.media.ice import IceSettings

__all__ = ["loopback_ice"]


@pytest.fixture
def loopback_ice() -> Iterator[patches.Patches]:
    """The process-wide aioice/aiortc patches as the entry points install them, on loopback.

    ICE gathers on 127.0.0.1 only, no STUN server, video frames released on the RTP marker bit;
    what was installed before is restored afterwards.
    """
    with patches.installed(IceSettings.loopback()) as installed:
        yield installed
