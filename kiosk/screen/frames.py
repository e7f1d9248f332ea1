"""What the screen needs from media: the newest decoded frame of a stream, and a counter.

``kiosk.media.sinks.LatestFrame`` satisfies :class:`FrameSource`; tests use small fakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import av


@runtime_checkable
class FrameSource(Protocol):
    """One per remote video stream, and one for the local camera."""

    @property
    def frame_count(self) -> int:
        """Frames received so far (monotonic); the screen redraws a tile only when it changes."""
        ...

    def latest(self) -> av.VideoFrame | None:
        """The newest decoded frame (never a queue), or ``None`` before the first one."""
        ...
