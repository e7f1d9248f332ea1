"""The small interfaces shared across layers, defined once.

* :class:`FrameSource` — what the screen needs from media: the newest decoded frame of a stream
  and a counter (``kiosk.media.sinks.LatestFrame`` satisfies it; tests use small fakes).
* :class:`RpcCaller` — what media code needs from signaling: one request/response call
  (``kiosk.openvidu.signaling.Signaling`` satisfies it; media never imports signaling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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


class RpcCaller(Protocol):
    """A JSON-RPC request/response call (raises RpcError, RpcTimeout, SignalingLost)."""

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - interface fixed by the architecture
    ) -> dict[str, Any]: ...
