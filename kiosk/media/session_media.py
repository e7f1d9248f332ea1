"""All media of one joined session: our publication and one subscription per remote stream.

``MediaSession`` is driven by the client: ``start()`` after ``joinRoom`` (publishes if there is
local media), then ``handle(event)`` for every typed event — the streams already present at join
arrive as replayed ``ParticipantPublished`` events. It never blocks the caller: negotiations run
as tasks it owns, and ``close()`` ends them all (every PC closed, every drain task stopped).

Candidate routing (protocol §5.10): an ``IceCandidateReceived`` whose ``sender_connection_id`` is
our own id goes to the publisher PC, otherwise to the subscriber PC of that remote connection.

Ownership: the session owns its PCs, drain tasks and the ``LatestFrame`` objects in ``frames``;
it does NOT own stream or participant state — that is the session model's
(:class:`~kiosk.openvidu.session_model.SessionModel`), read through ``stream_of``. The caller
owns ``local_media`` (the tracks survive ``close()`` so a re-join can publish them again) and the
``mixer`` (the session only adds/removes its participants). Pass ``start(publish=False)`` for a
SUBSCRIBER role.

Video only where the screen shows it (:mod:`kiosk.media.videoplan`): the owner of the screen
calls :meth:`MediaSession.update_video` with the connection ids that have a tile; a stream
without one is subscribed audio-only. Gaining or losing a tile switches the subscription with a
new one (``reconnectStream``: OpenVidu 2.x has one endpoint per publisher and subscriber and
no renegotiation, docs/media.md). The old subscription stays wired (its frames on the tile, its
audio in the mixer) until the new one delivers: its audio takes over at its first audio frame
(the mixer keeps the buffer and level history), its video at its first video frame. With
``await_screen`` no subscription starts before the first :meth:`update_video`.

Media workers (``media.workers``, :mod:`kiosk.media.workers`): given a started ``WorkerPool``,
every subscription is a :class:`~kiosk.media.workers.remote.RemoteSubscriber` (its peer
connection in a worker process, its frames a ``SlotFrames`` over shared memory, its audio a
piped track into the mixer); :meth:`MediaSession._new_subscriber` is the one place that picks.
A worker subscription that fails once up (its worker died) lands in ``errors`` like any failed
subscription, and is re-subscribed from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias

import av
from aiortc import RTCIceServer
from aiortc.mediastreams import MediaStreamTrack

from kiosk.errors import KioskError
from kiosk.media.devices import LocalMedia
from kiosk.media.ice import IceSettings
from kiosk.media.publisher import MediaKind, Publisher
from kiosk.media.sinks import AudioMixer, LatestFrame
from kiosk.media.subscriber import Flow, Subscriber
from kiosk.media.subscriptions import SubscriptionPlan
from kiosk.media.videoplan import (
    MAX_STREAMS_WITH_AUDIO_ONLY,
    Receiving,
    Switch,
    VideoPlan,
    VideoSettings,
)
from kiosk.openvidu.events import (
    Event,
    IceCandidateReceived,
    ParticipantEvicted,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantUnpublished,
    StreamInfo,
    StreamPropertyChanged,
)
from kiosk.owned_tasks import OwnedTasks
from kiosk.protocols import RpcCaller

log = logging.getLogger(__name__)

NEGOTIATION_SECONDS = 20.0  # one subscription: offer/answer and our candidates sent
FIRST_MEDIA_SECONDS = 5.0  # a switched subscription: its first frame, else it takes over anyway
QUIET_DBFS = -45.0  # below this a participant is quiet: a video drop's audio gap goes unheard

PublishState = Literal["off", "publishing", "published", "failed"]
if TYPE_CHECKING:  # the workers' modules load only when a pool exists (start-up time)
    from kiosk.media.workers.pool import WorkerPool
    from kiosk.media.workers.remote import RemoteSubscriber
    from kiosk.media.workers.slots import SlotFrames

    # A subscription in this process, or one whose peer connection runs in a media worker
    # (kiosk.media.workers; chosen in one place: MediaSession._new_subscriber).
    AnySubscriber: TypeAlias = Subscriber | RemoteSubscriber
    Frames: TypeAlias = LatestFrame | SlotFrames


class MediaSession:
    def __init__(
        self,
        rpc: RpcCaller,
        own_connection_id: str,
        media_server: str,
        local_media: LocalMedia | None,
        ice: IceSettings,
        ice_servers: Sequence[RTCIceServer] = (),
        mixer: AudioMixer | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] | None = None,
        stream_of: Callable[[str], StreamInfo | None] | None = None,
        video: VideoSettings | None = None,
        await_screen: bool = False,
        workers: WorkerPool | None = None,
    ) -> None:
        self.rpc = rpc
        self.own_connection_id = own_connection_id
        self.flow: Flow = "mediasoup" if media_server == "mediasoup" else "kurento"
        self.local_media = local_media
        self.ice = ice
        self.ice_servers = list(ice_servers)
        self.mixer = mixer
        self._clock = clock
        self._on_change = on_change
        # The current stream of a remote connection, from its owner (the session model).
        self._stream_of = stream_of
        self.publisher: Publisher | None = None
        self.publish_state: PublishState = "off"
        self.publish_error: str | None = None
        # Subscriber peer connections in media worker processes when a pool is given (its
        # owner, the kiosk, starts and stops it); in this process otherwise.
        self.workers = workers if workers is not None and workers.count > 0 else None
        self.subscribers: dict[str, AnySubscriber] = {}  # by remote connection id
        self.frames: dict[str, Frames] = {}  # by remote connection id
        self.errors: dict[str, str] = {}  # stream id -> last subscribe error (one line)
        self.local_frame: LatestFrame | None = None  # self-view of our own video
        self._muted: dict[MediaKind, bool] = {"audio": False, "video": False}
        self._seen: set[str] = set()  # stream ids ever subscribed (dedupe)
        # How many streams, how many negotiations at once, backoff: kiosk.media.subscriptions.
        # Who receives video (kiosk.media.videoplan); the screen's owner feeds it tiles.
        self.video = VideoPlan(video)
        self._await_screen = await_screen
        self._incoming: dict[str, AnySubscriber] = {}  # a switch in flight, by connection id
        self._audio_of: dict[str, AnySubscriber] = {}  # a switched subscription the mixer plays
        audio_only = await_screen and not self.video.settings.receive_all
        self.plan = SubscriptionPlan(
            **({"max_streams": MAX_STREAMS_WITH_AUDIO_ONLY} if audio_only else {})
        )
        self._announced: dict[str, StreamInfo] = {}  # held or waiting, not yet negotiated
        self._retry: asyncio.TimerHandle | None = None
        self._tasks = OwnedTasks("media task")  # logged if one dies
        self._closed = False

    # --- task bookkeeping ----------------------------------------------------------------

    def _changed(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception as exc:
                log.warning("media change callback failed: %s", exc)

    # --- start ---------------------------------------------------------------------------

    async def start(self, *, publish: bool = True) -> None:
        """Publish local media if any.

        Returns after publishing completed (or failed: see ``publish_state``/``publish_error``);
        subscriptions continue in the background.
        """
        if publish and self.local_media is not None and self.local_media.can_publish:
            await self._publish()

    async def _publish(self) -> None:
        media = self.local_media
        if media is None or not media.can_publish or self._closed:
            return
        if media.video is not None and self.local_frame is None:
            self.local_frame = LatestFrame(self._clock)
        pub = Publisher(
            self.rpc,
            self.own_connection_id,
            media.audio,
            media.video,
            ice=self.ice,
            ice_servers=self.ice_servers,
            type_of_video=media.type_of_video,
            frame_rate=media.frame_rate,
            video_dimensions=media.video_dimensions,
            audio_active=not self._muted["audio"],
            video_active=not self._muted["video"],
            on_video_frame=self.local_frame.feed if self.local_frame is not None else None,
        )
        self.publisher = pub
        self.publish_state = "publishing"
        self.publish_error = None
        try:
            await pub.publish()
        except KioskError as exc:
            self.publish_state = "failed"
            self.publish_error = str(exc)
            log.warning("publishing failed: %s", exc)
            await pub.close()
            if self.publisher is pub:
                self.publisher = None
        else:
            self.publish_state = "published" if self.publisher is pub else self.publish_state
        self._changed()

    async def republish(self) -> None:
        """Drop our publication (``unpublishVideo``) and publish anew (new stream id)."""
        old, self.publisher = self.publisher, None
        if old is not None:
            try:
                await old.unpublish()
            except KioskError as exc:  # already gone on the server side: publish anyway
                log.info("unpublishVideo before republish failed: %s", exc)
        self.publish_state = "off"
        await self._publish()

    async def set_muted(self, kind: MediaKind, muted: bool) -> None:
        """Mute/unmute our audio or video (remembered across republish)."""
        self._muted[kind] = muted
        if self.publisher is not None:
            await self.publisher.set_muted(kind, muted)
        self._changed()

    def muted(self, kind: MediaKind) -> bool:
        return self._muted[kind]

    # --- subscriptions -------------------------------------------------------------------

    def _subscribe(self, connection_id: str, stream: StreamInfo) -> None:
        if self._closed or connection_id == self.own_connection_id:
            return
        if stream.stream_id in self._seen:
            return
        self._seen.add(stream.stream_id)
        self._announced[connection_id] = stream
        self.plan.want(connection_id, stream.stream_id)
        self._start_due()

    def _start_due(self) -> None:
        """Start the negotiations the plan allows now (cap, a few at once, backoff)."""
        if self._closed or (self._await_screen and not self.video.known):
            return
        for cid in self.plan.due(self._clock()):
            stream = self._announced.get(cid)
            if stream is None:  # nothing to negotiate with: forget it
                self.plan.drop(cid)
                continue
            self.plan.started(cid)
            self._tasks.spawn(self._negotiate(cid, stream), f"subscribe-{cid}")

    async def _negotiate(self, connection_id: str, stream: StreamInfo) -> None:
        ok = False
        try:
            ok = await self._open_subscriber(connection_id, stream)
        finally:
            phase = self.plan.phase(connection_id)
            if phase == "pending":
                if ok:
                    self.plan.succeeded(connection_id)
                    frames = self.frames.get(connection_id)
                    if frames is not None:  # the stall timer counts from now, not the offer
                        frames.started_at = self._clock()
                else:
                    self.plan.failed(connection_id, self._clock())
                    self._schedule_retry()
            elif phase is None and ok and not self._closed:  # they left while we negotiated
                await self._close_subscriber(connection_id)
            self._start_due()

    def _schedule_retry(self) -> None:
        """One timer for the earliest backoff to end (re-armed after it fired)."""
        at = self.plan.next_retry_at()
        if self._closed or at is None:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, at - self._clock())
        if self._retry is not None and self._retry.when() <= when:
            return
        if self._retry is not None:
            self._retry.cancel()
        self._retry = loop.call_at(when, self._retry_due)

    def _retry_due(self) -> None:
        self._retry = None
        self._start_due()
        self._schedule_retry()

    async def _open_subscriber(self, connection_id: str, stream: StreamInfo) -> bool:
        """Negotiate one subscription; True when it is up (False: logged, closed)."""
        await self._close_subscriber(connection_id)
        video = self.video.wants_video(connection_id, self._clock())
        mixer = self.mixer

        def on_audio(track: MediaStreamTrack) -> None:
            if mixer is not None:
                mixer.add_track(connection_id, track)

        sub, frames = self._new_subscriber(connection_id, stream, video, on_audio)
        if frames is not None:
            self.frames[connection_id] = frames
        self.subscribers[connection_id] = sub
        self._changed()
        try:
            await asyncio.wait_for(sub.subscribe(), NEGOTIATION_SECONDS)
        except Exception as exc:  # KioskError, the deadline, or an aiortc fault: all a failure
            why = str(exc) if isinstance(exc, KioskError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TimeoutError):
                why = f"no answer within {NEGOTIATION_SECONDS:g} s"
            self.errors[stream.stream_id] = why
            log.warning("subscribing to %s failed: %s", stream.stream_id, why)
            if self.subscribers.get(connection_id) is sub:
                await self._close_subscriber(connection_id)
                self._changed()
            return False
        self.errors.pop(stream.stream_id, None)
        return True

    def _new_subscriber(
        self,
        connection_id: str,
        stream: StreamInfo,
        video: bool,
        on_audio: Callable[[MediaStreamTrack], None],
        *,
        replace: bool = False,
    ) -> tuple[AnySubscriber, Frames | None]:
        """The one place that picks an in-process or a worker subscriber, and its frames.

        An audio-only subscription of a video stream has no frames: its tile shows initials.
        """
        if self.workers is not None:
            remote = self.workers.subscriber(
                self.rpc,
                stream,
                connection_id,
                self.flow,
                ice_servers=self.ice_servers,
                on_audio_track=on_audio,
                on_failed=self._worker_failed,
                video=video,
                replace=replace,
                clock=self._clock,
            )
            return remote, remote.frames
        frames = LatestFrame(self._clock) if video or not stream.has_video else None
        sub = Subscriber(
            self.rpc,
            stream,
            connection_id,
            self.flow,
            ice=self.ice,
            ice_servers=self.ice_servers,
            on_video_track=frames.attach if frames is not None else None,
            on_audio_track=on_audio,
            video=video,
            replace=replace,
        )
        return sub, frames

    def _worker_failed(self, sub: RemoteSubscriber, why: str) -> None:
        """A worker subscription that was up failed (its worker died): reported like any
        failed subscription, so the machine re-subscribes it (with the plan's backoff)."""
        cid = sub.publisher_connection_id
        if self._closed or sub not in (self.subscribers.get(cid), self._incoming.get(cid)):
            return
        self.errors[sub.stream_id] = why
        log.warning("subscription to %s failed: %s", sub.stream_id, why)
        self._changed()

    async def _close_subscriber(self, connection_id: str) -> None:
        self._audio_of.pop(connection_id, None)
        incoming = self._incoming.pop(connection_id, None)
        if incoming is not None:
            await incoming.close()
        sub = self.subscribers.pop(connection_id, None)
        frames = self.frames.pop(connection_id, None)
        if self.mixer is not None:
            await self.mixer.discard(connection_id)
        if frames is not None:
            await frames.stop()
        if sub is not None:
            await sub.close()

    def current_stream(self, connection_id: str) -> StreamInfo | None:
        """The stream of a remote connection as its owner knows it now (or as subscribed)."""
        if self._stream_of is not None:
            return self._stream_of(connection_id)
        sub = self.subscribers.get(connection_id)
        return sub.stream if sub is not None else None

    async def resubscribe(self, stream_id: str) -> bool:
        """Tear down and renegotiate the subscription of ``stream_id``; False if unknown or
        not active (a negotiation of it is pending, or it waits out a backoff)."""
        for cid, sub in list(self.subscribers.items()):
            if sub.stream_id == stream_id:
                if not self.plan.may_resubscribe(cid):
                    log.debug("not re-subscribing %s: %s", stream_id, self.plan.phase(cid))
                    return False
                stream = self.current_stream(cid) or sub.stream
                self._announced[cid] = stream
                self.plan.started(cid)
                with contextlib.suppress(KioskError):
                    await self.rpc.call("unsubscribeFromVideo", {"sender": cid})
                await self._negotiate(cid, stream)
                return True
        return False

    def _forget(self, connection_id: str) -> None:
        self.plan.drop(connection_id)
        self.video.forget(connection_id)
        self._announced.pop(connection_id, None)
        self._tasks.spawn(self._close_subscriber(connection_id), f"unsubscribe-{connection_id}")
        self._start_due()  # a held place may be free for a waiting stream
        self._changed()

    # --- video where the screen shows it ---------------------------------------------------

    def update_video(self, now: float, tiled: Sequence[str] | None) -> None:
        """The remote connection ids that have a place on screen now (screen order); start the
        switches the video plan asks for. Cheap: called once per drawn frame."""
        if self._closed:
            return
        was_known = self.video.known
        self.video.observe(now, tiled)
        if not was_known and self.video.known:
            self._start_due()
        if self.flow != "kurento":  # server-offer flow: video is always received
            return
        receiving: dict[str, Receiving] = {}
        untiled_video = False
        shown = set(tiled) if tiled is not None else set()
        for cid, sub in self.subscribers.items():
            if not sub.stream.has_video:
                continue
            if cid in self._incoming:
                receiving[cid] = "switching"
            elif self.plan.phase(cid) == "active":
                receiving[cid] = "video" if sub.video else "audio"
                untiled_video = untiled_video or (sub.video and cid not in shown)
        if not receiving:
            return
        quiet: set[str] = set()
        if untiled_video:  # only then do levels matter
            levels = self.levels()
            quiet = {cid for cid in receiving if levels.get(cid, -1e9) < QUIET_DBFS}
        for switch in self.video.switches(now, receiving, quiet=quiet):
            self._start_switch(switch)

    def receiving_video(self, connection_id: str) -> bool:
        """True when video of ``connection_id`` is being received (frames arrive)."""
        sub = self.subscribers.get(connection_id)
        frames = self.frames.get(connection_id)
        return sub is not None and sub.video and frames is not None and frames.frame_count > 0

    def _start_switch(self, switch: Switch) -> None:
        cid = switch.connection_id
        old = self.subscribers.get(cid)
        if old is None or cid in self._incoming or self._closed:
            return
        stream = self.current_stream(cid) or old.stream

        def on_audio(track: MediaStreamTrack) -> None:
            self._tasks.spawn(self._take_audio(cid, sub, track), f"audio-switch-{cid}")

        sub, frames = self._new_subscriber(cid, stream, switch.video, on_audio, replace=True)
        if not switch.video:
            frames = None
        self._incoming[cid] = sub
        self.plan.started(cid)  # counts as a negotiation; no re-subscribe meanwhile
        log.info("%s video of %s", "receiving" if switch.video else "dropping", cid)
        self._tasks.spawn(self._switch(cid, old, sub, frames), f"switch-{cid}")

    async def _take_audio(self, cid: str, sub: AnySubscriber, track: MediaStreamTrack) -> None:
        """Drain the new subscription's audio; at its first frame it feeds the mixer."""
        try:
            first = await track.recv()
        except Exception:  # MediaStreamError: ended before a frame
            return
        if self.mixer is None or self._closed:
            return
        if self._incoming.get(cid) is sub or self.subscribers.get(cid) is sub:
            self.mixer.switch_track(cid, track, first if isinstance(first, av.AudioFrame) else None)
            self._audio_of[cid] = sub

    async def _switch(
        self, cid: str, old: AnySubscriber, sub: AnySubscriber, frames: Frames | None
    ) -> None:
        try:
            await asyncio.wait_for(sub.subscribe(), NEGOTIATION_SECONDS)
        except Exception as exc:
            why = str(exc) if isinstance(exc, KioskError) else f"{type(exc).__name__}: {exc}"
            log.warning("switching the subscription of %s failed: %s", cid, why)
            if self._incoming.get(cid) is sub:
                del self._incoming[cid]
            await sub.close()
            if frames is not None:
                await frames.stop()
            if self.plan.phase(cid) == "pending":
                # The server dropped the old endpoint with the request: subscribe anew later.
                await self._close_subscriber(cid)
                self.plan.failed(cid, self._clock())
                self._schedule_retry()
                self._changed()
            return
        # Up: wait (bounded) for the first frame of what it brings, then it takes over.
        deadline = self._clock() + FIRST_MEDIA_SECONDS
        while self._incoming.get(cid) is sub and self._clock() < deadline:
            if frames is not None and frames.frame_count > 0:
                break
            if frames is None and self._audio_from(cid, sub):
                break
            await asyncio.sleep(0.01)
        if self._incoming.get(cid) is not sub:  # left or closed meanwhile
            await sub.close()
            if frames is not None:
                await frames.stop()
            return
        del self._incoming[cid]
        self.subscribers[cid] = sub
        old_frames = self.frames.pop(cid, None)
        if frames is not None:
            frames.started_at = self._clock()
            self.frames[cid] = frames
        if self.plan.phase(cid) == "pending":
            self.plan.succeeded(cid)
        self._changed()
        if old_frames is not None:
            await old_frames.stop()
        await old.close()
        self._start_due()

    def _audio_from(self, cid: str, sub: AnySubscriber) -> bool:
        """True once the mixer plays this subscription's audio (or there is none to play)."""
        return self.mixer is None or not sub.stream.has_audio or self._audio_of.get(cid) is sub

    # --- events --------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Apply one server event (never blocks; negotiation runs in owned tasks)."""
        if self._closed:
            return
        if isinstance(event, IceCandidateReceived):
            self._route_candidate(event)
        elif isinstance(event, ParticipantPublished):
            self._subscribe(event.connection_id, event.stream)
        elif isinstance(event, ParticipantUnpublished):
            if event.connection_id == self.own_connection_id:
                pub, self.publisher = self.publisher, None
                self.publish_state = "off"
                if pub is not None:
                    self._tasks.spawn(pub.close(), "close-publisher")
                self._changed()
            else:
                self._forget(event.connection_id)
        elif isinstance(event, ParticipantLeft | ParticipantEvicted):
            if event.connection_id != self.own_connection_id:
                self._forget(event.connection_id)
        elif isinstance(event, StreamPropertyChanged):
            self._property(event)

    def _route_candidate(self, event: IceCandidateReceived) -> None:
        peer: Publisher | AnySubscriber | None
        if event.sender_connection_id == self.own_connection_id:
            peer = self.publisher
        else:
            sender = event.sender_connection_id
            # A switch in flight: the server's endpoint for this publisher is the new one.
            peer = self._incoming.get(sender) or self.subscribers.get(sender)
        if peer is None:
            log.debug("ICE candidate for unknown endpoint %s dropped", event.endpoint_name)
            return
        self._tasks.spawn(
            peer.add_remote_candidate(event.candidate, event.sdp_mid, event.sdp_mline_index),
            "add-candidate",
        )

    def _property(self, event: StreamPropertyChanged) -> None:
        """Only what the PCs and sinks need: video switched back on restarts the stall timer.
        (The stream's state itself is the session model's.)"""
        sub = self.subscribers.get(event.connection_id)
        if sub is None or (event.stream_id and event.stream_id != sub.stream_id):
            return
        if event.property == "videoActive" and event.new_value is True:
            frames = self.frames.get(event.connection_id)
            if frames is not None:
                frames.started_at = self._clock()  # restart the stall timer
        self._changed()

    # --- status --------------------------------------------------------------------------

    def levels(self) -> dict[str, float]:
        """dBFS per remote connection id (from the mixer)."""
        return {} if self.mixer is None else self.mixer.levels()

    def stalled(self, now: float, stall_seconds: float) -> list[str]:
        """Stream ids of subscribed, active video streams without a frame for a while.

        ``now`` is on the session's clock (``time.monotonic`` by default).
        """
        out: list[str] = []
        for cid, sub in self.subscribers.items():
            if self.plan.phase(cid) != "active":  # negotiating or backing off: not a stall
                continue
            stream = self.current_stream(cid)
            frames = self.frames.get(cid)
            if stream is None or frames is None or not (stream.has_video and stream.video_active):
                continue
            if frames.stalled(now, stall_seconds):
                out.append(sub.stream_id)
        return out

    # --- close ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close every PC and stop every task this session started (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for cid in list(self.subscribers):
            await self._close_subscriber(cid)
        for cid in list(self.frames):
            frames = self.frames.pop(cid)
            await frames.stop()
        pub, self.publisher = self.publisher, None
        if pub is not None:
            await pub.close()
        self.publish_state = "off"
