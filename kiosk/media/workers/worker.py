"""The media worker process: subscriber peer connections on a loop of their own.

Started by :class:`kiosk.media.workers.pool.WorkerPool` as ``python -m
kiosk.media.workers.worker FD`` (spawned, never forked: the main process has threads), where FD
is its end of a Unix socket pair. The first message is :class:`~.messages.Hello`: the worker
installs the same process-wide patches as the kiosk (:func:`kiosk.media.patches.install`: the
ICE seam — loopback only holds here too — and the marker-bit jitter buffer), answers
:class:`~.messages.Ready`, then serves subscriptions:

* :class:`~.messages.Open` → an ``RTCPeerConnection`` (the rules of
  :class:`kiosk.media.peer.PeerBase`); in the client-offer flow (Kurento) it answers with its
  offer at once, in the server-offer flow (mediasoup) it waits for the remote offer;
* remote descriptions and candidates are applied; every JSON-RPC call stays in the main process;
* a video track is drained into the subscription's shared-memory slot, newest frame only;
* an audio track becomes 48 kHz s16 PCM messages; when the socket's buffer is full the frame is
  dropped (and counted), never queued.

It exits when the main process goes away (end of file on the socket) or on SIGTERM, closing
every peer connection first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from typing import Any, Literal

import av
from aiortc import RTCIceServer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk import eventloop
from kiosk.errors import KioskError
from kiosk.media import ice as ice_seam
from kiosk.media import patches
from kiosk.media.peer import PeerBase
from kiosk.media.publisher import prefer_vp8
from kiosk.media.workers import messages as msg
from kiosk.media.workers.slots import SlotWriter

log = logging.getLogger("kiosk.media.worker")

AUDIO_HIGH_WATER = 64 * 1024  # bytes waiting in the socket's buffer: beyond this, drop audio
AUDIO_RATE = 48000


class _NoRpc:
    """The worker never talks to OpenVidu: PeerBase's RPC seam must stay unused here."""

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the RpcCaller interface
    ) -> dict[str, Any]:
        raise KioskError(f"{method}: not available in a media worker")


class Link:
    """The worker's end of the socket: framed writes, audio dropped instead of queued."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def send(self, message: msg.Message) -> None:
        if not self.writer.is_closing():
            self.writer.write(msg.encode(message))

    def can_send_audio(self) -> bool:
        transport = self.writer.transport
        return not self.writer.is_closing() and (
            transport.get_write_buffer_size() < AUDIO_HIGH_WATER
        )


class WorkerSubscription(PeerBase):
    """One subscription: a recvonly PC whose media goes to a slot (video) and the link (audio)."""

    def __init__(self, open_msg: msg.Open, link: Link, ice: ice_seam.IceSettings) -> None:
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in open_msg.ice_servers
        ]
        # the slot first: if it cannot be attached no peer connection is left behind
        self.slot = SlotWriter.attach(open_msg.slot) if open_msg.slot else None
        try:
            super().__init__(_NoRpc(), open_msg.stream_id, ice=ice, ice_servers=servers)
        except BaseException:
            if self.slot is not None:
                self.slot.close()
            raise
        self.sub = open_msg.sub
        self.open_msg = open_msg
        self.link = link
        self.audio_dropped = 0
        self.video_frames = 0
        self._drains: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            kind: Literal["audio", "video"] = "video" if track.kind == "video" else "audio"
            loop = asyncio.get_running_loop()
            drain = self._drain_video(track) if kind == "video" else self._drain_audio(track)
            self._drains.append(loop.create_task(drain, name=f"worker-{kind}-{self.sub}"))
            self.link.send(msg.TrackStarted(self.sub, kind))

        @self.pc.on("connectionstatechange")
        def _on_state() -> None:
            if self.pc.connectionState == "failed" and not self.closed:
                self.link.send(msg.Failed(self.sub, "the peer connection failed"))

    async def start(self) -> None:
        """Client-offer flow: add the transceivers and send our offer."""
        if self.open_msg.flow != "kurento":
            return
        if self.open_msg.has_audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        if self.open_msg.has_video and self.open_msg.video:
            prefer_vp8(self.pc.addTransceiver("video", direction="recvonly"))
        offer = await self._set_local("receiveVideoFrom", offer=True)
        self.link.send(msg.LocalDescription(self.sub, offer, "offer"))

    async def remote(self, description: msg.RemoteDescription) -> None:
        if description.type == "answer":
            await self._apply_remote(description.sdp, "answer", "receiveVideoFrom")
            self.link.send(msg.Applied(self.sub))
            return
        await self._apply_remote(description.sdp, "offer", "prepareReceiveVideoFrom")
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"
        answer = await self._set_local("receiveVideoFrom", offer=False)
        self.link.send(msg.LocalDescription(self.sub, answer, "answer"))

    async def _drain_video(self, track: MediaStreamTrack) -> None:
        backlog = getattr(track, "_queue", None)  # see kiosk.media.sinks.LatestFrame._drain
        try:
            while True:
                frame = await track.recv()
                self.video_frames += 1
                if isinstance(backlog, asyncio.Queue):
                    while not backlog.empty():
                        newer = backlog.get_nowait()
                        if newer is None:
                            backlog.put_nowait(None)
                            break
                        self.video_frames += 1
                        frame = newer
                if isinstance(frame, av.VideoFrame) and self.slot is not None:
                    self.slot.write(frame, self.video_frames)
        except MediaStreamError:
            pass

    async def _drain_audio(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                if not self.link.can_send_audio():
                    self.audio_dropped += 1
                    continue
                for out in resampler.resample(frame):
                    pcm = out.to_ndarray().tobytes()
                    self.link.send(msg.Audio(self.sub, AUDIO_RATE, 2, pcm))
        except MediaStreamError:
            pass

    async def close(self) -> None:
        for task in self._drains:
            task.cancel()
        for task in self._drains:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._drains.clear()
        await super().close()
        if self.slot is not None:
            self.slot.close()
            self.slot = None


class Worker:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.link = Link(writer)
        self.subs: dict[int, WorkerSubscription] = {}
        self.ice = ice_seam.IceSettings()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        hello = msg.decode(await msg.read_frame(self.reader))
        if not isinstance(hello, msg.Hello):
            raise msg.BadMessage("the first message is not hello")
        self.ice = ice_seam.IceSettings(tuple(hello.host_addresses), hello.loopback_only)
        patches.install(self.ice, marker_jitter=hello.marker_jitter)
        self.link.send(msg.Ready(os.getpid()))
        while True:
            try:
                body = await msg.read_frame(self.reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the main process went away
            try:
                message = msg.decode(body)
            except msg.BadMessage as exc:
                log.warning("media worker: %s", exc)
                continue
            self._dispatch(message)

    def _dispatch(self, message: msg.Message) -> None:
        if isinstance(message, msg.Open):
            self._spawn(self._open(message))
        elif isinstance(message, msg.RemoteDescription):
            sub = self.subs.get(message.sub)
            if sub is not None:
                self._spawn(self._guard(sub, sub.remote(message)))
        elif isinstance(message, msg.RemoteCandidate):
            sub = self.subs.get(message.sub)
            if sub is not None:
                coro = sub.add_remote_candidate(
                    message.candidate, message.sdp_mid, message.sdp_mline_index
                )
                self._spawn(self._guard(sub, coro))
        elif isinstance(message, msg.Close):
            self._spawn(self._close(message.sub))
        else:
            log.warning("media worker: unexpected %s message", type(message).__name__)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, sub: WorkerSubscription, coro: Any) -> None:
        try:
            await coro
        except Exception as exc:
            why = str(exc) if isinstance(exc, KioskError) else f"{type(exc).__name__}: {exc}"
            self.link.send(msg.Failed(sub.sub, why))

    async def _open(self, message: msg.Open) -> None:
        if message.sub in self.subs:
            await self._close(message.sub)
        try:
            sub = WorkerSubscription(message, self.link, self.ice)
        except Exception as exc:
            why = str(exc) if isinstance(exc, KioskError) else f"{type(exc).__name__}: {exc}"
            self.link.send(msg.Failed(message.sub, why))
            return
        self.subs[message.sub] = sub
        await self._guard(sub, sub.start())

    async def _close(self, sub_id: int) -> None:
        sub = self.subs.pop(sub_id, None)
        if sub is None:
            self.link.send(msg.Closed(sub_id))
            return
        await sub.close()
        self.link.send(msg.Closed(sub_id, sub.audio_dropped))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for sub_id in list(self.subs):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.subs.pop(sub_id).close(), 5)


async def _main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock, limit=msg.MAX_FRAME + 16)
    worker = Worker(reader, writer)
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    loop.add_signal_handler(signal.SIGTERM, me.cancel)
    try:
        await worker.run()
    except asyncio.CancelledError:
        pass
    finally:
        await worker.close()
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m kiosk.media.workers.worker FD", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=os.environ.get("KIOSK_WORKER_LOG", "WARNING").upper(),
        format=f"media worker {os.getpid()}: %(levelname)s %(name)s: %(message)s",
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the main process decides
    try:
        eventloop.run(_main(int(args[0])))
    except msg.BadMessage as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
