"""The call's long operations — token, join, resume, leave — each reporting its outcome to the
call machine as an event. The executor runs them one at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from kiosk import __version__
from kiosk.app import machine as m
from kiosk.app.wiring import (
    camera_settings_from_config,
    signaling_policy_from_config,
    video_settings_from_config,
)
from kiosk.errors import (
    KioskError,
    ResumeFailed,
    ServerTimeout,
    ServerUnreachable,
    SignalingError,
)
from kiosk.media import ice as ice_seam
from kiosk.media.devices import LocalMedia, open_local_media
from kiosk.media.session_media import MediaSession
from kiosk.openvidu.client import OpenViduClient
from kiosk.openvidu.events import ParticipantPublished
from kiosk.openvidu.signaling import SignalingTimeouts

if TYPE_CHECKING:
    from kiosk.app.kiosk import Kiosk

log = logging.getLogger(__name__)

RESUME_ATTEMPT_SECONDS = 3.0  # one `connect` attempt; repeated until the grace period ends
LEAVE_SECONDS = 4.0


class Operations:
    """Token, join, resume and leave for one :class:`~kiosk.app.kiosk.Kiosk`."""

    def __init__(self, kiosk: Kiosk) -> None:
        self.kiosk = kiosk
        self._token: str | None = None
        self._pump: asyncio.Task[None] | None = None

    async def fetch_token(self) -> None:
        k = self.kiosk
        if k.client is None and k.stats.first_remote_frame_at is None:
            k.stats.join_requested_at = k.stats.join_requested_at or k.clock()
        try:
            self._token = await k.tokens_for_session().get_token()
        except KioskError as exc:
            log.warning("token: %s", exc)
            # It answered (wrong secret, 5xx …) unless the error is about reaching it at all.
            k.server_reachable = not isinstance(exc, ServerUnreachable | ServerTimeout)
            k.post(m.TokenFailed(exc))
            return
        k.server_reachable = True
        k.post(m.TokenObtained())

    async def join(self) -> None:
        from kiosk.app.event_pump import pump_events

        k = self.kiosk
        token, self._token = self._token, None
        if token is None:
            k.post(m.JoinFailed(SignalingError("joinRoom: no token")))
            return
        await self.leave()  # drop any stale call first
        cfg = k.config
        client = OpenViduClient(
            cfg.session.name,
            ssl_context=k.tls,  # built once: loading the CA bundle blocked the loop 0.5 s
            ws_host_override=cfg.server.websocket_host,
            policy=signaling_policy_from_config(cfg),
            platform=f"kiosk {__version__} (Python aiortc; Linux)",
            timeouts=SignalingTimeouts(request_timeout=cfg.server.timeout_seconds),
        )
        try:
            join = await client.join(token)
        except KioskError as exc:
            log.warning("join: %s", exc)
            k.post(m.JoinFailed(exc))
            return
        except BaseException:  # cancelled, deadline, or an unexpected error: no socket left open
            with contextlib.suppress(Exception):
                await client.close()
            raise
        k.client = client
        k.stats.joins += 1
        if k.stats.joins > 1:  # a rejoin: measure its own join time
            k.stats.join_requested_at = k.clock()
            k.stats.first_remote_frame_at = None
        publish = cfg.session.role != "SUBSCRIBER"
        if publish and k.local_media is None:
            k.local_media = await asyncio.to_thread(self.open_local_media)
        media = MediaSession(
            client.rpc,
            join.connection_id,
            join.media_server,
            k.local_media if publish else None,
            k.ice,
            ice_seam.rtc_ice_servers(join.ice_servers, k.ice),
            k.mixer,
            stream_of=client.model.stream_of,
            video=video_settings_from_config(cfg),
            await_screen=True,  # the render loop says who has a tile (Kiosk._on_frame)
            workers=k.workers,
        )
        k.media = media
        if k.muted["audio"]:
            await media.set_muted("audio", True)
        if k.muted["video"]:
            await media.set_muted("video", True)
        # Subscriptions are seeded one way only: replaying who already publishes.
        for participant in list(client.model.participants.values()):
            if participant.stream is not None:
                media.handle(ParticipantPublished(participant.connection_id, participant.stream))
        self._pump = k.spawn(pump_events(k, client, media), "events")
        try:
            await media.start(publish=publish)
        except KioskError as exc:
            log.warning("publish: %s", exc)
        if media.publish_error:
            k.media_problems.append(f"not sending video: {media.publish_error}")
        k.post(m.Joined())

    def open_local_media(self) -> LocalMedia:
        """Camera and microphone (runs in a worker thread: device opening blocks)."""
        cfg = self.kiosk.config
        media = open_local_media(
            cfg.media.camera.device,
            cfg.media.microphone.device,
            cfg.session.name,
            camera_settings_from_config(cfg),
        )
        self.kiosk.media_problems = list(media.problems)
        return media

    async def resume(self, timeout_s: float) -> None:
        """Resume the same participant (``connect``) until the server's grace period is over.

        Short attempts, again and again: one long attempt would be stuck in the very outage
        that caused the loss and expire just when the network comes back (measured: a 20 s
        outage never resumed). Stops at once when the server answers "no" (it dropped us).
        """
        k = self.kiosk
        client = k.client
        if client is None:
            k.post(m.ResumeGaveUp(None))
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        error: KioskError = SignalingError(f"connect: no resume within {timeout_s:g} s")
        while (left := deadline - loop.time()) > 0.2:
            attempt = min(RESUME_ATTEMPT_SECONDS, left)
            try:
                await asyncio.wait_for(client.resume(open_timeout=attempt), attempt + 2.0)
            except ResumeFailed as exc:
                error = exc
                if exc.definitive:
                    break
            except (KioskError, TimeoutError) as exc:
                error = exc if isinstance(exc, KioskError) else error
            else:
                k.stats.resumes += 1
                k.post(m.Resumed())
                return
            await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))
        log.warning("resume: %s", error)
        k.post(m.ResumeGaveUp(error))

    async def leave_and_report(self) -> None:
        try:
            await asyncio.wait_for(self.leave(), LEAVE_SECONDS)
        except (TimeoutError, KioskError) as exc:
            log.warning("leave: %s", exc or "timed out")
        finally:
            self.kiosk.post(m.Left())

    async def leave(self) -> None:
        k = self.kiosk
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
        media, k.media = k.media, None
        client, k.client = k.client, None
        try:
            if media is not None:
                await media.close()
        finally:
            if client is not None:
                await client.leave()
        k.stream_stats.clear()
        k.reported.clear()

    def release_local_media(self) -> None:
        k = self.kiosk
        if k.local_media is not None:
            k.local_media.close()
            k.local_media = None
