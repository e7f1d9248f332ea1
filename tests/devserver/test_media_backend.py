"""AiortcMediaBackend driven directly by real aiortc client peers over loopback."""

from __future__ import annotations

import asyncio
import fractions
import gc
import math
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp

from kiosk.devserver.media import AiortcMediaBackend, PassthroughTrack
from kiosk.devserver.media_api import MediaBackend, ServerCandidate
from kiosk.errors import MediaError
from kiosk.media import ice
from kiosk.media.ice import IceSettings
from kiosk.media.patches import Patches
from kiosk.testing.waits import wait_until

pytestmark = pytest.mark.integration  # real aiortc peers / child processes

WIDTH, HEIGHT = 320, 240
PUB, SUB, SUB2 = "con_Pub0000001", "con_Sub0000001", "con_Sub0000002"
STREAM = f"str_CUS_Ab12_{PUB}"


# --- synthetic sources ---------------------------------------------------------------------


class ColorBars(VideoStreamTrack):
    """30 fps frames whose colour changes every frame."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        self.n += 1
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        image[:, :, 0] = (self.n * 7) % 256
        image[:, WIDTH // 2 :, 1] = 200
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


class Tone(MediaStreamTrack):
    """A 440 Hz sine, 20 ms frames at 48 kHz, paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        rate, count = 48000, 960
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self._samples / rate - time.monotonic()))
        t = (np.arange(count) + self._samples) / rate
        pcm = (np.sin(2 * math.pi * 440 * t) * 12000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, rate)
        self._samples += count
        return frame


# --- client side helpers -------------------------------------------------------------------


@dataclass
class Received:
    video_frames: int = 0
    video_size: tuple[int, int] | None = None
    audio_frames: int = 0
    audio_peak_rms: float = 0.0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _consume(track: MediaStreamTrack, got: Received) -> None:
    try:
        while True:
            frame = await track.recv()
            if isinstance(frame, av.VideoFrame):
                got.video_frames += 1
                got.video_size = (frame.width, frame.height)
            elif isinstance(frame, av.AudioFrame):
                got.audio_frames += 1
                samples = frame.to_ndarray().astype(np.float64)
                got.audio_peak_rms = max(got.audio_peak_rms, float(np.sqrt(np.mean(samples**2))))
    except MediaStreamError:
        pass


def _strip(sdp: str) -> str:
    return "".join(
        line for line in sdp.splitlines(keepends=True) if not line.startswith("a=candidate:")
    )


def _candidates(sdp: str) -> list[str]:
    return [line[2:] for line in sdp.splitlines() if line.startswith("a=candidate:")]


def _vp8_only(pc: RTCPeerConnection) -> None:
    # What the dev server's SDP munging (§8.4) guarantees: VP8 video.
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            caps = RTCRtpSender.getCapabilities("video").codecs
            transceiver.setCodecPreferences(
                [c for c in caps if c.mimeType in ("video/VP8", "video/rtx")]
            )


async def _apply_candidates(pc: RTCPeerConnection, emitted: list[ServerCandidate]) -> None:
    for c in emitted:
        parsed = candidate_from_sdp(c.candidate.split(":", 1)[1])
        parsed.sdpMid = c.sdp_mid
        parsed.sdpMLineIndex = c.sdp_mline_index
        await pc.addIceCandidate(parsed)


@dataclass
class Client:
    pc: RTCPeerConnection
    emitted: list[ServerCandidate]
    got: Received
    keyframe_requests: list[float] = field(default_factory=list)  # publisher: PLI/FIR received

    async def close(self) -> None:
        await self.pc.close()
        for task in self.got.tasks:
            task.cancel()
        await asyncio.gather(*self.got.tasks, return_exceptions=True)


def _receiving_pc(settings: IceSettings, got: Received) -> RTCPeerConnection:
    pc = RTCPeerConnection(ice.rtc_configuration(settings))

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        got.tasks.append(asyncio.ensure_future(_consume(track, got)))

    return pc


async def publish(
    backend: AiortcMediaBackend,
    settings: IceSettings,
    *,
    connection_id: str = PUB,
    stream_id: str = STREAM,
    trickle_only: bool = False,
) -> tuple[Client, str]:
    pc = RTCPeerConnection(ice.rtc_configuration(settings))
    pc.addTransceiver(Tone(), direction="sendonly")
    pc.addTransceiver(ColorBars(), direction="sendonly")
    _vp8_only(pc)
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    if trickle_only:  # browser style: candidates only through onIceCandidate, before the offer
        for candidate in _candidates(offer):
            await backend.add_client_candidate(connection_id, connection_id, candidate, "0", 0)
        await backend.add_client_candidate(connection_id, connection_id, "", "0", 0)
        offer = _strip(offer)
    emitted: list[ServerCandidate] = []
    answer = await backend.publish(connection_id, stream_id, offer, True, True, emitted.append)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await _apply_candidates(pc, emitted)
    client = Client(pc, emitted, Received())
    # Count the keyframe requests (RTCP PLI/FIR) that reach the publisher's video sender.
    video_sender = pc.getTransceivers()[1].sender
    original = video_sender._send_keyframe

    def counting_send_keyframe() -> None:
        client.keyframe_requests.append(time.monotonic())
        original()

    video_sender._send_keyframe = counting_send_keyframe  # type: ignore[method-assign]
    return client, answer


async def subscribe_client_offer(
    backend: AiortcMediaBackend,
    settings: IceSettings,
    subscriber_id: str = SUB,
    stream_id: str = STREAM,
    *,
    trickle_only: bool = False,
    video: bool = True,
) -> tuple[Client, str]:
    got = Received()
    pc = _receiving_pc(settings, got)
    pc.addTransceiver("audio", direction="recvonly")
    if video:
        pc.addTransceiver("video", direction="recvonly")
    _vp8_only(pc)
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    if trickle_only:  # candidates before the offer, endpointName = the publisher's id
        for candidate in _candidates(offer):
            await backend.add_client_candidate(subscriber_id, PUB, candidate, "0", 0)
        offer = _strip(offer)
    emitted: list[ServerCandidate] = []
    answer = await backend.subscribe(subscriber_id, stream_id, offer, emitted.append)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await _apply_candidates(pc, emitted)
    return Client(pc, emitted, got), answer


async def subscribe_server_offer(
    backend: AiortcMediaBackend,
    settings: IceSettings,
    subscriber_id: str = SUB,
    stream_id: str = STREAM,
) -> tuple[Client, str]:
    got = Received()
    pc = _receiving_pc(settings, got)
    emitted: list[ServerCandidate] = []
    offer = await backend.prepare_subscribe(subscriber_id, stream_id, emitted.append)
    assert emitted == []  # they come once the client has answered
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    for transceiver in pc.getTransceivers():
        transceiver.direction = "recvonly"
    await pc.setLocalDescription(await pc.createAnswer())
    # Browser style again: the answer without candidates, candidates trickled afterwards.
    answer = pc.localDescription.sdp
    await backend.complete_subscribe(subscriber_id, stream_id, _strip(answer))
    for candidate in _candidates(answer):
        await backend.add_client_candidate(subscriber_id, PUB, candidate, "0", 0)
    await _apply_candidates(pc, emitted)
    return Client(pc, emitted, got), offer


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def settings(loopback_ice: Patches) -> IceSettings:
    return loopback_ice.ice


@pytest.fixture
async def backend(settings: IceSettings) -> AsyncIterator[AiortcMediaBackend]:
    media = AiortcMediaBackend(settings)
    try:
        yield media
    finally:
        await media.close()


def _assert_routing(
    emitted: list[ServerCandidate], *, to: str, sender: str, endpoint: str, sdp: str
) -> None:
    assert emitted, "no server candidates were emitted"
    mids = [line[len("a=mid:") :] for line in sdp.splitlines() if line.startswith("a=mid:")]
    assert len(mids) == 2
    per_candidate: dict[str, set[tuple[str, int]]] = {}
    for c in emitted:
        assert c.to_connection_id == to
        assert c.sender_connection_id == sender
        assert c.endpoint_name == endpoint
        assert c.candidate.startswith("candidate:")
        assert ice.candidate_ip(c.candidate) == "127.0.0.1"
        per_candidate.setdefault(c.candidate, set()).add((c.sdp_mid, c.sdp_mline_index))
    for pairs in per_candidate.values():  # like Kurento: each candidate once per m-line
        assert pairs == {(mid, index) for index, mid in enumerate(mids)}


async def _assert_flowing(got: Received) -> None:
    await wait_until(lambda: got.video_frames >= 5, 15, "subscriber video frames")
    assert got.video_size == (WIDTH, HEIGHT)
    first = got.video_frames
    await wait_until(lambda: got.video_frames >= first + 10, 10, "more video frames")
    await wait_until(lambda: got.audio_frames >= 25, 10, "subscriber audio frames")
    await wait_until(lambda: got.audio_peak_rms > 1000, 10, "non-silent audio")


# --- tests ---------------------------------------------------------------------------------


def test_backend_satisfies_protocol(settings: IceSettings) -> None:
    assert isinstance(AiortcMediaBackend(settings), MediaBackend)


async def test_publish_then_client_offer_subscribe_forwards_media(
    backend: AiortcMediaBackend, settings: IceSettings
) -> None:
    publisher, pub_answer = await publish(backend, settings, trickle_only=True)
    subscriber: Client | None = None
    try:
        assert "a=candidate" not in pub_answer
        assert "a=end-of-candidates" not in pub_answer
        assert pub_answer.count("a=recvonly") == 2
        _assert_routing(publisher.emitted, to=PUB, sender=PUB, endpoint=STREAM, sdp=pub_answer)
        # Let the publisher run first so the subscriber joins mid-stream and needs a keyframe.
        relay = backend.relay(STREAM, "video")
        assert relay is not None
        await wait_until(lambda: relay.frames >= 20, 15, "publisher video at the server")

        subscriber, sub_answer = await subscribe_client_offer(backend, settings)
        assert "a=candidate" not in sub_answer
        assert sub_answer.count("a=sendonly") == 2
        _assert_routing(
            subscriber.emitted, to=SUB, sender=PUB, endpoint=f"{SUB}_{STREAM}", sdp=sub_answer
        )
        await _assert_flowing(subscriber.got)

        # Joining mid-stream, the subscriber's keyframe was requested from the publisher.
        assert publisher.keyframe_requests
        # A subscriber's own PLI (a real RTCP packet) is forwarded to the publisher.
        await asyncio.sleep(0.3)  # past the PLI throttle interval
        before = len(publisher.keyframe_requests)
        receiver = subscriber.pc.getTransceivers()[1].receiver
        ssrc = receiver.getSynchronizationSources()[0].source
        await receiver._send_rtcp_pli(ssrc)
        await wait_until(
            lambda: len(publisher.keyframe_requests) > before, 5, "PLI forwarded to publisher"
        )

        # Passthrough: the subscriber PC sends the publisher's encoded frames, no encoder.
        server_sub_pc = [pc for pc in backend.peer_connections()][1]
        tracks = [s.track for s in server_sub_pc.getSenders()]
        assert all(isinstance(t, PassthroughTrack) for t in tracks)
        assert all(t.forwarded > 0 for t in tracks if isinstance(t, PassthroughTrack))
    finally:
        await publisher.close()
        if subscriber:
            await subscriber.close()


async def test_server_offer_subscribe_forwards_media(
    backend: AiortcMediaBackend, settings: IceSettings
) -> None:
    publisher, _ = await publish(backend, settings)
    subscriber: Client | None = None
    try:
        subscriber, offer = await subscribe_server_offer(backend, settings)
        assert "a=candidate" not in offer
        assert "a=end-of-candidates" not in offer
        assert offer.count("a=sendonly") == 2
        assert "VP8/90000" in offer and "H264" not in offer
        _assert_routing(
            subscriber.emitted, to=SUB, sender=PUB, endpoint=f"{SUB}_{STREAM}", sdp=offer
        )
        await _assert_flowing(subscriber.got)
    finally:
        await publisher.close()
        if subscriber:
            await subscriber.close()


async def test_two_subscribers_and_unsubscribe(
    backend: AiortcMediaBackend, settings: IceSettings
) -> None:
    publisher, _ = await publish(backend, settings)
    clients = [publisher]
    try:
        first, _ = await subscribe_client_offer(backend, settings, SUB, trickle_only=True)
        second, _ = await subscribe_server_offer(backend, settings, SUB2)
        clients += [first, second]
        await _assert_flowing(first.got)
        await _assert_flowing(second.got)

        await backend.unsubscribe(SUB, STREAM)
        await wait_until(lambda: first.pc.connectionState != "connected", 15, "first drops")
        count = second.got.video_frames
        await wait_until(lambda: second.got.video_frames > count + 10, 10, "second continues")

        # The same subscriber can subscribe again after unsubscribing.
        again, _ = await subscribe_client_offer(backend, settings, SUB)
        clients.append(again)
        await _assert_flowing(again.got)
    finally:
        for client in clients:
            await client.close()


async def test_non_loopback_client_candidates_are_dropped(
    backend: AiortcMediaBackend, settings: IceSettings
) -> None:
    # Queued before the endpoint exists, then applied: only the loopback one survives.
    bogus = "candidate:9 1 udp 2130706431 192.168.77.5 40000 typ host"
    await backend.add_client_candidate(PUB, PUB, bogus, "0", 0)
    publisher, _ = await publish(backend, settings)
    try:
        await backend.add_client_candidate(PUB, PUB, bogus.replace("77.5", "77.6"), "1", 1)
        await backend.add_client_candidate(PUB, PUB, "", "0", 0)  # end of candidates: fine
        server_pc = next(iter(backend.peer_connections()))
        transport = server_pc.getTransceivers()[0].receiver.transport.transport
        remote = [c.ip for c in transport.getRemoteCandidates()]
        assert remote and set(remote) == {"127.0.0.1"}
    finally:
        await publisher.close()


async def test_errors_are_media_errors(backend: AiortcMediaBackend, settings: IceSettings) -> None:
    with pytest.raises(MediaError, match="not published"):
        await backend.prepare_subscribe(SUB, STREAM, lambda c: None)
    with pytest.raises(MediaError, match="publishVideo"):
        await backend.publish(PUB, STREAM, "v=0\r\nnot sdp\r\n", True, True, lambda c: None)
    assert list(backend.peer_connections()) == []
    publisher, _ = await publish(backend, settings)
    try:
        with pytest.raises(MediaError, match="already publishing"):
            await backend.publish(PUB, STREAM, "v=0\r\n", True, True, lambda c: None)
        with pytest.raises(MediaError, match="own stream"):
            await backend.prepare_subscribe(PUB, STREAM, lambda c: None)
        with pytest.raises(MediaError, match="no pending server offer"):
            await backend.complete_subscribe(SUB, STREAM, "v=0\r\n")
        # Unknown stream / subscriber: housekeeping is a no-op, not an error.
        await backend.unsubscribe(SUB, "str_CAM_Zz99_con_Nobody")
        await backend.unpublish("str_CAM_Zz99_con_Nobody")
        await backend.release("con_Nobody")
    finally:
        await publisher.close()


def _threads() -> int:
    # The loop's default executor (threads "asyncio_N") is a bounded pool that the client
    # peers' encoders grow on demand; every other thread (decoders, …) must be gone.
    return sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))


async def test_release_cycles_leak_nothing(
    backend: AiortcMediaBackend, settings: IceSettings
) -> None:
    async def cycle(refs: list[weakref.ref[RTCPeerConnection]], flow: int) -> None:
        publisher, _ = await publish(backend, settings)
        if flow == 0:
            subscriber, _ = await subscribe_client_offer(backend, settings)
        else:
            subscriber, _ = await subscribe_server_offer(backend, settings)
        server_pcs = list(backend.peer_connections())
        refs.extend(weakref.ref(pc) for pc in server_pcs)
        await wait_until(lambda: subscriber.got.video_frames >= 1, 15, "first frame")
        await backend.release(SUB if flow == 0 else PUB)
        await backend.release(PUB if flow == 0 else SUB)
        assert list(backend.peer_connections()) == []
        # Closed by the backend itself, not because the clients went away.
        assert [pc.connectionState for pc in server_pcs] == ["closed", "closed"]
        del server_pcs
        await publisher.close()
        await subscriber.close()

    # Warm up once: aiortc/aioice create lazily some process-wide things (executor threads).
    await cycle([], 0)
    await asyncio.sleep(0.2)
    gc.collect()
    base_threads = _threads()
    base_tasks = len(asyncio.all_tasks())

    refs: list[weakref.ref[RTCPeerConnection]] = []
    for i in range(20):
        await cycle(refs, i % 2)
    assert len(refs) == 40

    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        alive = [r for r in refs if r() is not None]
        threads = _threads()
        tasks = len(asyncio.all_tasks())
        if (not alive and threads <= base_threads and tasks <= base_tasks) or (
            time.monotonic() > deadline
        ):
            break
        await asyncio.sleep(0.1)
    assert alive == [], f"{len(alive)} RTCPeerConnection(s) still alive"
    assert threads <= base_threads, [t.name for t in threading.enumerate()]
    assert not [t for t in threading.enumerate() if t.name.endswith("-decoder")]
    assert tasks <= base_tasks, [repr(t) for t in asyncio.all_tasks()]


async def test_unpublish_ends_subscriptions(
    backend: AiortcMediaBackend, settings: IceSettings
) -> None:
    publisher, _ = await publish(backend, settings)
    subscriber: Client | None = None
    try:
        subscriber, _ = await subscribe_client_offer(backend, settings)
        await _assert_flowing(subscriber.got)
        server_pcs = list(backend.peer_connections())
        await backend.unpublish(STREAM)
        assert list(backend.peer_connections()) == []
        assert [pc.connectionState for pc in server_pcs] == ["closed", "closed"]
        sub = subscriber
        await wait_until(lambda: sub.pc.connectionState in ("closed", "failed"), 15, "sub ends")
        with pytest.raises(MediaError, match="not published"):
            await subscribe_client_offer(backend, settings)
        # The publisher may publish again (a new stream id).
        again, _ = await publish(backend, settings, stream_id=f"str_CUS_Cd34_{PUB}")
        await again.close()
    finally:
        await publisher.close()
        if subscriber:
            await subscriber.close()


async def test_audio_only_stream(backend: AiortcMediaBackend, settings: IceSettings) -> None:
    pc = RTCPeerConnection(ice.rtc_configuration(settings))
    pc.addTransceiver(Tone(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    emitted: list[ServerCandidate] = []
    answer = await backend.publish(
        PUB, STREAM, pc.localDescription.sdp, True, False, emitted.append
    )
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await _apply_candidates(pc, emitted)
    publisher = Client(pc, emitted, Received())
    subscriber: Client | None = None
    try:
        assert backend.relay(STREAM, "video") is None
        subscriber, offer = await subscribe_server_offer(backend, settings)
        assert "m=audio" in offer and "m=video" not in offer
        got = subscriber.got
        await wait_until(lambda: got.audio_peak_rms > 1000, 15, "non-silent audio")
        assert got.video_frames == 0
    finally:
        await publisher.close()
        if subscriber:
            await subscriber.close()


async def test_audio_only_offer_is_answered_audio_only(
    backend: AiortcMediaBackend, settings: IceSettings
) -> None:
    """Like Kurento behind OpenVidu 2.x: an offer without m=video gets audio and no video."""
    publisher, _ = await publish(backend, settings)
    audio_only: Client | None = None
    full: Client | None = None
    try:
        audio_only, answer = await subscribe_client_offer(backend, settings, video=False)
        assert "m=audio" in answer and "m=video" not in answer
        got = audio_only.got
        await wait_until(lambda: got.audio_peak_rms > 1000, 15, "non-silent audio")
        video = backend.relay(STREAM, "video")
        audio = backend.relay(STREAM, "audio")
        assert video is not None and audio is not None
        assert (audio.consumers, video.consumers) == (1, 0)  # nothing sent on video
        # A second subscriber with video gets it from the same publication.
        full, _ = await subscribe_client_offer(backend, settings, subscriber_id="con_other")
        await _assert_flowing(full.got)
        assert got.video_frames == 0
        assert video.consumers == 1
    finally:
        for client in (publisher, audio_only, full):
            if client is not None:
                await client.close()
