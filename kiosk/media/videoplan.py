"""Who should receive video now (pure: no I/O, no clock of its own).

The kiosk receives a participant's video only while the screen has a place for it: a tile in
the strip or gallery, or the main view (:func:`kiosk.screen.layout.tiled_ids`). Everyone else
is subscribed audio-only (an offer with just the audio m-line). Decoding a stream nobody sees
is most of the receive cost, and a room of 16 on one screen shows fewer than 16.

Rules (:class:`VideoPlan`):

* ``receive_all`` (config ``media.receive_all_video``, for a server that refuses audio-only
  offers): every stream with video is received with video.
* Screen unknown (``tiled`` is ``None``: nothing drew a call yet, or no screen at all): video
  for everyone, as before this module.
* A participant with a tile gets video at once (a promotion).
* Hysteresis: a video subscription is kept ``keep_seconds`` after its tile went, so an
  active-speaker flip or a page of "next" presses does not thrash subscriptions; after that it
  is dropped to audio-only only while the participant is quiet (switching costs a short audio
  gap on OpenVidu 2.x, see docs/media.md), and at the latest after ``max_keep_seconds``.
* Promotions go first; at most ``max_switches`` switches are in flight at once.

The media session reports what each subscription carries (:class:`Receiving`) and starts the
:class:`Switch` es that :meth:`VideoPlan.switches` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_STREAMS_WITH_AUDIO_ONLY", "Receiving", "Switch", "VideoPlan", "VideoSettings"]

MAX_STREAMS_WITH_AUDIO_ONLY = 24
"""Remote streams subscribed at once when those without a tile are audio-only (video is then
bounded by the tiles on screen plus the hysteresis; an audio-only subscription decodes
no video)."""

Receiving = Literal["audio", "video", "switching"]
"""What a subscription carries now: ``switching`` = a new subscription is being negotiated."""


@dataclass(frozen=True, slots=True)
class VideoSettings:
    receive_all: bool = False
    keep_seconds: float = 10.0
    max_keep_seconds: float = 60.0
    max_switches: int = 2


@dataclass(frozen=True, slots=True)
class Switch:
    connection_id: str
    video: bool  # True: promote to audio+video; False: drop to audio-only


class VideoPlan:
    def __init__(self, settings: VideoSettings | None = None) -> None:
        self.settings = settings or VideoSettings()
        self._tiled: frozenset[str] | None = None
        self._order: tuple[str, ...] = ()
        self._last_tiled: dict[str, float] = {}  # connection id -> when it last had a tile
        self._known_at = 0.0  # when the screen first said who has a tile

    @property
    def known(self) -> bool:
        """True once a screen said who has a tile."""
        return self._tiled is not None

    def observe(self, now: float, tiled: Sequence[str] | None) -> None:
        """The connection ids that have a tile now, in screen order (``None``: no screen)."""
        if tiled is None:
            self._tiled = None
            return
        if self._tiled is None:
            self._known_at = now
        self._order = tuple(tiled)
        self._tiled = frozenset(tiled)
        for cid in self._tiled:
            self._last_tiled[cid] = now

    def forget(self, connection_id: str) -> None:
        self._last_tiled.pop(connection_id, None)

    def wants_video(
        self, connection_id: str, now: float, *, receiving: Receiving = "audio", quiet: bool = True
    ) -> bool:
        """Should ``connection_id`` (whose stream has video) be received with video now?"""
        if self.settings.receive_all or self._tiled is None:
            return True
        if connection_id in self._tiled:
            return True
        if receiving == "audio":
            return False
        # Video without a tile yet (subscribed before the screen knew): counts from then.
        away = now - self._last_tiled.get(connection_id, self._known_at)
        if away < self.settings.keep_seconds:
            return True
        return not quiet and away < self.settings.max_keep_seconds

    def switches(
        self,
        now: float,
        receiving: Mapping[str, Receiving],
        *,
        quiet: Iterable[str] = (),
    ) -> list[Switch]:
        """The switches to start now, given what every subscription with video carries.

        ``receiving`` holds only subscriptions that are up (or switching) of streams that have
        video; ``quiet`` the participants whose audio is below the speaking threshold.
        """
        silent = set(quiet)
        in_flight = sum(1 for r in receiving.values() if r == "switching")
        free = self.settings.max_switches - in_flight
        if free <= 0:
            return []
        rank = {cid: i for i, cid in enumerate(self._order)}
        promote: list[str] = []
        demote: list[str] = []
        for cid, now_receiving in receiving.items():
            if now_receiving == "switching":
                continue
            want = self.wants_video(cid, now, receiving=now_receiving, quiet=cid in silent)
            if want and now_receiving == "audio":
                promote.append(cid)
            elif not want and now_receiving == "video":
                demote.append(cid)
        promote.sort(key=lambda c: rank.get(c, len(rank)))
        out = [Switch(cid, True) for cid in promote] + [Switch(cid, False) for cid in demote]
        return out[:free]
