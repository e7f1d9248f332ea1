"""The real client against our dev server: openvidu-browser (2.22.0 and 2.32.2) in headless
Chromium and a kiosk OpenViduClient join the same dev-server session.

Signaling: each side shows the other's clientData name, signals pass both ways, leaving is seen.
Media (dev server with its aiortc backend, kiosk with a MediaSession): video and audio flow both
ways with real content, and mutes show on the other side. See docs/interop.md.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from kiosk.devserver.media import AiortcMediaBackend
from kiosk.devserver.server import DevServer, DevServerOptions
from kiosk.media.devices import LocalMedia
from kiosk.media.ice import IceSettings
from kiosk.media.patches import Patches
from kiosk.media.session_media import MediaSession
from kiosk.media.sinks import AudioMixer
from kiosk.media.testpattern import TestPatternTrack
from kiosk.media.tone import ToneTrack
from kiosk.openvidu.client import (
    ConnectionLost,
    ConnectionResumed,
    EvictedSelf,
    OpenViduClient,
    QueueItem,
    RosterChanged,
)
from kiosk.openvidu.events import ParticipantPublished, SignalReceived
from kiosk.openvidu.tls import make_ssl_context
from kiosk.openvidu.tokens import RestTokenProvider
from kiosk.testing.waits import wait_until
from tests.interop.ovb_harness import (
    DEFAULT_WAIT,
    VERSIONS,
    BrowserPeer,
    Chromium,
    PageServer,
    require_tools,
    with_timeout,
)

# One Chromium for the whole module (launching it costs ~2 s); every test gets its own browser
# context. So every test and fixture here runs in the module's event loop.
pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

BROWSER_NAME = "Alice Browser ✓"
KIOSK_NAME = "Kiosk-Lobby"
_session_ids = itertools.count(1)

T = TypeVar("T")
BrowserFactory = Callable[[str], Awaitable[BrowserPeer]]
KioskFactory = Callable[..., OpenViduClient]


@dataclass
class Room:
    """A running dev server (TLS, self-signed), the page server and a fresh session id."""

    server: DevServer
    pages: PageServer
    session_id: str

    async def token(self) -> str:
        """A fresh single-use token for this room, from the dev server's REST API."""

        provider = RestTokenProvider(
            self.server.url,
            self.server.options.secret,
            self.session_id,
            ssl_context=make_ssl_context(verify=False),
            timeout=10.0,
        )
        return await with_timeout(provider.get_token(), "REST token from the dev server")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chromium() -> AsyncIterator[Chromium]:
    require_tools()
    browser = Chromium()
    await with_timeout(browser.start(), "Chromium launch", 40)
    try:
        yield browser
    finally:
        await browser.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def room() -> AsyncIterator[Room]:
    require_tools()

    # A short reconnection grace keeps the reconnection test fast.
    server = DevServer(DevServerOptions(port=0, tls=True, grace_seconds=1.0))
    pages = PageServer()
    await with_timeout(server.start(), "dev server start")
    try:
        await pages.start()
        yield Room(server, pages, f"InteropRoom{next(_session_ids)}")
    finally:
        await pages.stop()
        await with_timeout(server.stop(), "dev server stop")


@pytest_asyncio.fixture(loop_scope="module")
async def browser_factory(chromium: Chromium) -> AsyncIterator[BrowserFactory]:
    """Open browser contexts on demand; every one is closed at teardown, whatever happened."""
    opened: list[BrowserPeer] = []

    async def open_peer(version: str) -> BrowserPeer:
        peer = await with_timeout(chromium.new_peer(version), "new browser context")
        opened.append(peer)
        return peer

    yield open_peer
    for peer in opened:
        try:
            await peer.close()
        except Exception as exc:  # the module's Chromium.stop() still ends it
            print(f"closing a browser context failed: {exc!r}")


@pytest_asyncio.fixture(loop_scope="module")
async def kiosk_factory() -> AsyncIterator[KioskFactory]:
    """Kiosk OpenViduClients; each is left (bounded) at teardown."""

    clients: list[OpenViduClient] = []

    def make(name: str = KIOSK_NAME) -> OpenViduClient:
        client = OpenViduClient(name, ssl_context=make_ssl_context(verify=False))
        clients.append(client)
        return client

    yield make
    for client in clients:
        try:
            await asyncio.wait_for(client.leave(), 10)
        except Exception as exc:
            print(f"kiosk leave failed: {exc!r}")


async def next_event(client: OpenViduClient, kind: type[T], what: str, limit: float = 20.0) -> T:
    """The next event of type *kind* on ``client.events`` (others are skipped); bounded."""
    deadline = time.monotonic() + limit
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"kiosk: timed out after {limit:.0f} s waiting for {what}", pytrace=False)
        try:
            item = await asyncio.wait_for(client.events.get(), left)
        except TimeoutError:
            continue
        if isinstance(item, kind):
            return item


def names_seen_by_browser(log: list[dict[str, Any]]) -> dict[str, str | None]:
    """connectionId -> parsed clientData name, from the page's remote connectionCreated events."""
    return {
        str(e["connectionId"]): e.get("name")
        for e in log
        if e.get("event") == "connectionCreated" and not e.get("local")
    }


VERSION_PARAMS = [pytest.param(v, id=f"ovb-{v}") for v in VERSIONS]


@pytest.mark.parametrize("version", VERSION_PARAMS)
@pytest.mark.parametrize("kiosk_first", [False, True], ids=["browser-first", "kiosk-first"])
async def test_names_both_ways(
    room: Room,
    browser_factory: BrowserFactory,
    kiosk_factory: KioskFactory,
    version: str,
    kiosk_first: bool,
) -> None:
    """Browser and kiosk each show the other's clientData name, whoever joined first.

    First joiner learns of the second through ``participantJoined``; the second one learns of the
    first through the ``joinRoom`` result's ``value``.
    """
    kiosk = kiosk_factory()
    browser_token = await room.token()
    kiosk_token = await room.token()
    browser = await browser_factory(version)
    url = room.pages.page_url(
        version=version, token=browser_token, name=BROWSER_NAME, publish=False
    )

    if kiosk_first:
        join = await with_timeout(kiosk.join(kiosk_token), "kiosk joinRoom")
        await browser.open(url)
        browser_id = await browser.wait_connected()
    else:
        await browser.open(url)
        browser_id = await browser.wait_connected()
        join = await with_timeout(kiosk.join(kiosk_token), "kiosk joinRoom")
    kiosk_id = join.connection_id
    assert kiosk_id != browser_id

    # Browser: a connectionCreated for the kiosk, with the name parsed as the seed app does.
    log = await browser.wait_for(
        lambda log: kiosk_id in names_seen_by_browser(log), f"connectionCreated for {kiosk_id}"
    )
    assert names_seen_by_browser(log)[kiosk_id] == KIOSK_NAME
    # The seed app's own parsing (JSON.parse(connection.data).clientData) works too: the kiosk's
    # connection carries no server data (protocol §6.3).
    (created,) = [
        e for e in log if e.get("event") == "connectionCreated" and e["connectionId"] == kiosk_id
    ]
    assert created["seedAppName"] == KIOSK_NAME
    assert json.loads(created["data"]) == {"clientData": KIOSK_NAME}
    own = [e for e in log if e.get("event") == "connectionCreated" and e.get("local")]
    assert [e["name"] for e in own] == [BROWSER_NAME]

    # Kiosk: the browser is a participant with its display name.
    await wait_until(
        lambda: browser_id in kiosk.model.participants,
        DEFAULT_WAIT,
        f"kiosk model to list {browser_id}",
    )
    assert kiosk.model.participants[browser_id].display_name == BROWSER_NAME
    assert kiosk.model.own_display_name == KIOSK_NAME
    assert set(kiosk.model.participants) == {browser_id}


@pytest.mark.parametrize("version", VERSION_PARAMS)
async def test_signals_both_ways(
    room: Room, browser_factory: BrowserFactory, kiosk_factory: KioskFactory, version: str
) -> None:
    """A chat signal from the browser reaches the kiosk and one from the kiosk reaches the page."""

    kiosk = kiosk_factory()
    browser = await browser_factory(version)
    await browser.open(
        room.pages.page_url(
            version=version, token=await room.token(), name=BROWSER_NAME, publish=False
        )
    )
    browser_id = await browser.wait_connected()
    join = await with_timeout(kiosk.join(await room.token()), "kiosk joinRoom")
    kiosk_id = join.connection_id
    await browser.wait_for(
        lambda log: kiosk_id in names_seen_by_browser(log), f"connectionCreated for {kiosk_id}"
    )

    # browser -> kiosk (broadcast: the server also echoes it to the sender).
    payload = 'hello from the browser: ünïcode & {json} "quotes"'
    await browser.send_signal("chat", payload)
    signal = await next_event(kiosk, SignalReceived, "the browser's chat signal")
    assert (signal.type, signal.data, signal.from_connection_id) == ("chat", payload, browser_id)
    assert signal.full_type == "signal:chat"

    # kiosk -> browser, addressed to the browser only.
    reply = "hello from the kiosk"
    await with_timeout(kiosk.send_signal("reply", reply, to=[browser_id]), "kiosk sendMessage")

    def got_reply(log: list[dict[str, Any]]) -> bool:
        return any(e.get("event") == "signal" and e.get("data") == reply for e in log)

    log = await browser.wait_for(got_reply, "the kiosk's signal")
    (seen,) = [e for e in log if e.get("event") == "signal" and e.get("data") == reply]
    assert seen["type"] == "signal:reply"
    assert seen["from"] == kiosk_id
    assert seen["fromName"] == KIOSK_NAME

    # The browser's own broadcast came back to it too (sender included), exactly once.
    echoes = [e for e in log if e.get("event") == "signal" and e.get("data") == payload]
    assert [e["from"] for e in echoes] == [browser_id]


@pytest.mark.parametrize("version", VERSION_PARAMS)
async def test_browser_leaving_is_seen_by_kiosk(
    room: Room, browser_factory: BrowserFactory, kiosk_factory: KioskFactory, version: str
) -> None:
    """When the browser disconnects, the kiosk's model drops it (participantLeft)."""
    kiosk = kiosk_factory()
    browser = await browser_factory(version)
    await browser.open(
        room.pages.page_url(
            version=version, token=await room.token(), name=BROWSER_NAME, publish=False
        )
    )
    browser_id = await browser.wait_connected()
    await with_timeout(kiosk.join(await room.token()), "kiosk joinRoom")
    assert browser_id in kiosk.model.participants

    await browser.evaluate("() => window.leave()")
    await wait_until(
        lambda: browser_id not in kiosk.model.participants,
        DEFAULT_WAIT,
        f"kiosk model to drop {browser_id} after the browser left",
    )


@pytest.mark.parametrize("version", VERSION_PARAMS)
async def test_kiosk_leaving_is_seen_by_browser(
    room: Room, browser_factory: BrowserFactory, kiosk_factory: KioskFactory, version: str
) -> None:
    """When the kiosk leaves, the browser gets connectionDestroyed for it."""
    kiosk = kiosk_factory()
    browser = await browser_factory(version)
    await browser.open(
        room.pages.page_url(
            version=version, token=await room.token(), name=BROWSER_NAME, publish=False
        )
    )
    await browser.wait_connected()
    join = await with_timeout(kiosk.join(await room.token()), "kiosk joinRoom")
    kiosk_id = join.connection_id
    await browser.wait_for(
        lambda log: kiosk_id in names_seen_by_browser(log), f"connectionCreated for {kiosk_id}"
    )
    assert not any(e.get("event") == "connectionDestroyed" for e in await browser.log())

    await with_timeout(kiosk.leave(), "kiosk leaveRoom")
    log = await browser.wait_for(
        lambda log: any(
            e.get("event") == "connectionDestroyed" and e.get("connectionId") == kiosk_id
            for e in log
        ),
        f"connectionDestroyed for {kiosk_id}",
    )
    (gone,) = [e for e in log if e.get("event") == "connectionDestroyed"]
    assert gone["reason"] == "disconnect"


async def test_two_browser_versions_and_a_kiosk(
    room: Room, browser_factory: BrowserFactory, kiosk_factory: KioskFactory
) -> None:
    """openvidu-browser 2.22.0 and 2.32.2 and a kiosk in one room: everyone sees everyone."""
    names = {"2.22.0": "Old Browser", "2.32.2": "New Browser"}
    ids: dict[str, str] = {}
    peers: dict[str, BrowserPeer] = {}
    for version, name in names.items():
        peer = await browser_factory(version)
        await peer.open(
            room.pages.page_url(version=version, token=await room.token(), name=name, publish=False)
        )
        ids[name] = await peer.wait_connected()
        peers[name] = peer
    kiosk = kiosk_factory()
    join = await with_timeout(kiosk.join(await room.token()), "kiosk joinRoom")
    ids[KIOSK_NAME] = join.connection_id

    for name, peer in peers.items():
        expected = {cid: other for other, cid in ids.items() if other != name}

        def sees_all(log: list[dict[str, Any]], want: frozenset[str] = frozenset(expected)) -> bool:
            return want <= set(names_seen_by_browser(log))

        log = await peer.wait_for(sees_all, f"{name} to see {sorted(expected.values())}")
        assert names_seen_by_browser(log) == expected
    assert {cid: p.display_name for cid, p in kiosk.model.participants.items()} == {
        ids[name]: name for name in names.values()
    }


@pytest.mark.parametrize("version", VERSION_PARAMS)
async def test_browser_socket_reconnect_keeps_the_participant(
    room: Room, browser_factory: BrowserFactory, kiosk_factory: KioskFactory, version: str
) -> None:
    """openvidu-browser's socket reconnection (new socket + ``connect``) keeps it in the room.

    After the server's grace period has passed, the kiosk still lists the browser and signals
    flow both ways over the new socket.
    """
    kiosk = kiosk_factory()
    browser = await browser_factory(version)
    await browser.open(
        room.pages.page_url(
            version=version, token=await room.token(), name=BROWSER_NAME, publish=False
        )
    )
    browser_id = await browser.wait_connected()
    join = await with_timeout(kiosk.join(await room.token()), "kiosk joinRoom")
    kiosk_id = join.connection_id

    await browser.evaluate("() => window.reconnectSocket()")
    await browser.wait_for(
        lambda log: any(e.get("event") == "reconnected" for e in log), "the 'reconnected' event"
    )
    await asyncio.sleep(room.server.options.grace_seconds + 1.0)

    log = await browser.log()
    assert not [e for e in log if e.get("event") in ("sessionDisconnected", "exception")]
    assert browser_id in kiosk.model.participants
    await browser.send_signal("chat", "after reconnect")
    signal = await next_event(kiosk, SignalReceived, "a signal sent after the reconnection")
    assert (signal.data, signal.from_connection_id) == ("after reconnect", browser_id)
    await with_timeout(kiosk.send_signal("reply", "still here", to=[browser_id]), "sendMessage")
    await browser.wait_for(
        lambda log: any(
            e.get("event") == "signal"
            and e.get("data") == "still here"
            and e.get("from") == kiosk_id
            for e in log
        ),
        "the kiosk's signal over the new socket",
    )


# --- phase 2: media both ways through the dev server's aiortc backend -----------------------


class KioskPeer:
    """A kiosk as the app wires it: OpenViduClient + MediaSession (test pattern + tone).

    A pump task feeds every client event to the media session and keeps a copy in ``seen``.
    """

    def __init__(self, name: str) -> None:

        self.client = OpenViduClient(name, ssl_context=make_ssl_context(verify=False))
        self.mixer = AudioMixer()
        self.local = LocalMedia(
            audio=ToneTrack(660.0), video=TestPatternTrack(name, 640, 480, fps=15)
        )
        self.media: MediaSession | None = None
        self.seen: list[QueueItem] = []
        self._pump: asyncio.Task[None] | None = None

    async def join(self, token: str) -> str:

        join = await with_timeout(self.client.join(token), "kiosk joinRoom")
        self.media = MediaSession(
            self.client.rpc,
            join.connection_id,
            join.media_server,
            self.local,
            IceSettings.loopback(),
            mixer=self.mixer,
            stream_of=self.client.model.stream_of,
        )
        media = self.media
        self._pump = asyncio.create_task(self._run(), name="interop-kiosk-pump")
        # Streams already published when we joined (joinRoom ``value``) are in the model; hand
        # them to the media session like a participantPublished (it de-duplicates by stream id).
        for cid, participant in self.client.model.participants.items():
            if participant.stream is not None:
                media.handle(ParticipantPublished(cid, participant.stream))
        await with_timeout(media.start(publish=True), "kiosk publishVideo")
        assert media.publish_state == "published", media.publish_error
        return str(join.connection_id)

    async def _run(self) -> None:
        while True:
            item = await self.client.events.get()
            self.seen.append(item)
            client_event = (ConnectionLost, ConnectionResumed, EvictedSelf, RosterChanged)
            if self.media is not None and not isinstance(item, client_event):
                self.media.handle(item)

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        if self.media is not None:
            await asyncio.wait_for(self.media.close(), 15)
        await asyncio.wait_for(self.mixer.close(), 5)
        await asyncio.wait_for(self.client.leave(), 10)
        self.local.close()


@pytest_asyncio.fixture(loop_scope="module")
async def media_room(loopback_ice: Patches) -> AsyncIterator[Room]:
    require_tools()

    server = DevServer(
        DevServerOptions(port=0, tls=True), media=AiortcMediaBackend(IceSettings.loopback())
    )
    pages = PageServer()
    await with_timeout(server.start(), "dev server start")
    try:
        await pages.start()
        yield Room(server, pages, f"InteropMedia{next(_session_ids)}")
    finally:
        await pages.stop()
        await with_timeout(server.stop(), "dev server stop")


@pytest_asyncio.fixture(loop_scope="module")
async def kiosk_peer() -> AsyncIterator[KioskPeer]:
    peer = KioskPeer(KIOSK_NAME)
    try:
        yield peer
    finally:
        await peer.close()


def luma_std(frame: Any) -> float:
    """Standard deviation of the luma plane: ~0 for a flat picture, large for real content."""
    gray = frame.to_ndarray(format="gray")
    return float(gray.std())


@pytest.mark.parametrize("version", VERSION_PARAMS)
@pytest.mark.parametrize("kiosk_first", [True, False], ids=["kiosk-first", "browser-first"])
async def test_media_both_ways(
    media_room: Room,
    browser_factory: BrowserFactory,
    kiosk_peer: KioskPeer,
    version: str,
    kiosk_first: bool,
) -> None:
    """The kiosk decodes and hears the browser's webcam; the browser plays the kiosk's video and
    hears its tone; mutes on either side show on the other.

    kiosk-first: the kiosk subscribes on ``participantPublished``; browser-first: the browser's
    stream comes in the kiosk's ``joinRoom`` result and the browser subscribes on
    ``participantPublished``.
    """
    browser: BrowserPeer = await browser_factory(version)
    url = media_room.pages.page_url(
        version=version, token=await media_room.token(), name=BROWSER_NAME, publish=True
    )
    kiosk_token = await media_room.token()

    async def browser_joins() -> str:
        await browser.open(url)
        browser_id = await browser.wait_connected()
        await browser.wait_for(
            lambda log: any(e.get("event") == "published" for e in log), "publishing the webcam"
        )
        return browser_id

    if kiosk_first:
        kiosk_id = await kiosk_peer.join(kiosk_token)
        browser_id = await browser_joins()
    else:
        browser_id = await browser_joins()
        kiosk_id = await kiosk_peer.join(kiosk_token)
    media = kiosk_peer.media
    assert media is not None

    # Kiosk decodes the browser's (fake) webcam: ~640x480, frames keep coming, a real picture.
    await wait_until(
        lambda: browser_id in media.frames and media.frames[browser_id].frame_count >= 10,
        DEFAULT_WAIT,
        "10 decoded browser frames on the kiosk",
    )
    frames = media.frames[browser_id]
    first = frames.frame_count
    await asyncio.sleep(1.0)
    assert frames.frame_count >= first + 5, "browser video on the kiosk stopped advancing"

    # Chromium may start below the published resolution and ramp up with the bandwidth estimate.
    def near_vga() -> bool:
        frame = frames.latest()
        return frame is not None and abs(frame.width - 640) <= 64 and abs(frame.height - 480) <= 48

    await wait_until(near_vga, DEFAULT_WAIT, "browser frames of ~640x480 on the kiosk")
    frame = frames.latest()
    assert frame is not None
    assert luma_std(frame) > 10.0, "the browser's frames decode to a flat picture"

    # Kiosk hears the browser (Chromium's fake microphone beeps): a level well above silence.
    loudest = -200.0

    def heard() -> bool:
        nonlocal loudest
        level = kiosk_peer.mixer.levels().get(browser_id)
        if level is not None and level > loudest:
            loudest = level
        return loudest > -50.0

    await wait_until(heard, DEFAULT_WAIT, "browser audio above -50 dBFS on the kiosk")

    # Browser plays the kiosk's test pattern.
    def kiosk_tile(stats: list[dict[str, Any]]) -> dict[str, Any] | None:
        tiles = [s for s in stats if s["role"] == "subscriber" and s["connectionId"] == kiosk_id]
        return tiles[0] if tiles else None

    deadline = time.monotonic() + 20.0
    tile = kiosk_tile(await browser.video_stats())
    while tile is None or (tile["frames"] or tile["totalVideoFrames"] or 0) < 10:
        if time.monotonic() > deadline:
            pytest.fail(f"browser did not play the kiosk's video: {tile}", pytrace=False)
        await asyncio.sleep(0.2)
        tile = kiosk_tile(await browser.video_stats())
    played = tile["frames"] or tile["totalVideoFrames"]
    assert (tile["videoWidth"], tile["videoHeight"]) == (640, 480)
    assert tile["lumaStd"] is not None and tile["lumaStd"] > 10.0, tile
    await asyncio.sleep(1.0)
    tile = kiosk_tile(await browser.video_stats())
    assert tile is not None and (tile["frames"] or tile["totalVideoFrames"]) >= played + 5, tile

    # Browser hears the kiosk's tone (WebRTC audioLevel of the inbound audio, 0..1).
    async def kiosk_audio_level() -> float:
        rows = await browser.evaluate("() => window.inboundStats()")
        levels = [
            float(r["audioLevel"])
            for r in rows
            if r["connectionId"] == kiosk_id and r["kind"] == "audio"
        ]
        return max(levels, default=0.0)

    await browser_poll(kiosk_audio_level, lambda v: v > 0.05, "the kiosk's tone in the browser")

    # A mute on the kiosk reaches the browser as streamPropertyChanged audioActive=false, and
    # the browser stops hearing it.
    await with_timeout(media.set_muted("audio", True), "kiosk mute")

    def muted(log: list[dict[str, Any]]) -> bool:
        return any(
            e.get("event") == "streamPropertyChanged"
            and e.get("connectionId") == kiosk_id
            and e.get("property") == "audioActive"
            for e in log
        )

    log = await browser.wait_for(muted, "streamPropertyChanged audioActive from the kiosk")
    (change,) = [
        e
        for e in log
        if e.get("event") == "streamPropertyChanged" and e.get("property") == "audioActive"
    ]
    assert change["newValue"] is False
    assert change["audioActive"] is False
    assert change["reason"] == "publishAudio"
    await browser_poll(kiosk_audio_level, lambda v: v < 0.01, "silence from the muted kiosk")

    # A mute in the browser reaches the kiosk's model and media, and the kiosk stops hearing it.
    await browser.evaluate("() => window.setAudio(false)")
    await wait_until(
        lambda: (
            (stream := kiosk_peer.client.model.stream_of(browser_id)) is not None
            and not stream.audio_active
        ),
        DEFAULT_WAIT,
        "the kiosk to see the browser's audioActive=false",
    )
    participant = kiosk_peer.client.model.participants[browser_id]
    assert participant.stream is not None and participant.stream.audio_active is False
    await wait_until(
        lambda: kiosk_peer.mixer.levels().get(browser_id, -200.0) < -60.0,
        DEFAULT_WAIT,
        "silence from the muted browser on the kiosk",
    )

    # openvidu-browser raised no exception event (ICE failures, stream errors) along the way.
    assert [e for e in await browser.log() if e.get("event") == "exception"] == []


async def browser_poll(
    probe: Callable[[], Awaitable[float]],
    good: Callable[[float], bool],
    what: str,
    limit: float = 20.0,
) -> float:
    """Poll an async probe of the page until *good*; fail naming *what* and the last value."""
    deadline = time.monotonic() + limit
    while True:
        value = await probe()
        if good(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {limit:.0f} s waiting for {what} (last: {value})")
        await asyncio.sleep(0.1)
