"""Hostile server: junk JSON-RPC frames after a valid joinRoom, and junk REST responses.

Signaling: a websockets server in the test answers ``ping``/``joinRoom`` validly and then sends
hypothesis-generated frames (wrong types, missing members, unknown methods, huge and deeply
nested payloads, invalid UTF-8, responses to ids never sent) to a running Kiosk. After every
batch a valid ``participantJoined`` probe must come out as a roster toast: the client did not
crash, did not hang, kept the call (no reconnect, same connection).

REST: hypothesis-generated status codes, headers and bodies through httpx.MockTransport, and a
real aiohttp server that answers slowly: every case is a token or exactly one KioskError whose
message is one line and never holds the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve

from kiosk.app.kiosk import Kiosk
from kiosk.app.machine import CallState
from kiosk.errors import KioskError
from kiosk.openvidu.tokens import FixedTokenProvider, RestTokenProvider
from kiosk.testing.reliability import kiosk_config
from kiosk.testing.scenarios import kiosk_running
from kiosk.testing.waits import wait_until

OWN_ID = "con_KIOSK"
RPC_SESSION = "rpc_fuzz_session"
SIGNALING_CASES = 400
REST_CASES = 300

KNOWN_METHODS = [
    "participantJoined",
    "participantPublished",
    "participantUnpublished",
    "participantLeft",
    "participantEvicted",
    "streamPropertyChanged",
    "sendMessage",
    "iceCandidate",
    "mediaError",
    "recordingStarted",
    "recordingStopped",
    "filterEventDispatched",
    "forciblyReconnectSubscriber",
    "networkQualityLevelChanged",
    "connectionPropertyChanged",
    "speechToTextMessage",
]
FIELDS = [
    "id",
    "connectionId",
    "senderConnectionId",
    "streams",
    "streamId",
    "property",
    "newValue",
    "reason",
    "type",
    "data",
    "from",
    "candidate",
    "sdpMid",
    "sdpMLineIndex",
    "endpointName",
    "metadata",
    "createdAt",
    "error",
    "name",
    "hasAudio",
    "hasVideo",
    "videoDimensions",
    "typeOfVideo",
    "frameRate",
    "audioActive",
    "videoActive",
]
OTHER_IDS = ["con_A", "con_B", "", "str_CAM_x_con_A", "con_KIOSK_not", "\u0000", "🎥"]

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(OTHER_IDS)
)
json_value = st.recursive(
    json_leaf,
    lambda kids: (
        st.lists(kids, max_size=5)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), kids, max_size=6)
    ),
    max_leaves=25,
)
stream_like = st.fixed_dictionaries(
    {"id": st.sampled_from(["str_CAM_x_con_A", "", "x"]) | json_leaf},
    optional={
        k: json_value
        for k in (
            "hasAudio",
            "hasVideo",
            "videoDimensions",
            "typeOfVideo",
            "frameRate",
            "audioActive",
            "videoActive",
            "createdAt",
        )
    },
)
params = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=8),
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(OTHER_IDS) | json_leaf,
            "streams": st.lists(stream_like, max_size=2) | json_value,
        }
    ),
    json_value,
)
notification = st.builds(
    lambda method, p, with_version: {
        **({"jsonrpc": "2.0"} if with_version else {}),
        "method": method,
        "params": p,
    },
    st.sampled_from(KNOWN_METHODS) | st.text(max_size=20) | json_leaf,
    params,
    st.booleans(),
)
stray_response = st.builds(
    lambda i, body: {"jsonrpc": "2.0", "id": i, **body},
    st.integers(-5, 10**6) | json_leaf,
    st.one_of(
        st.fixed_dictionaries({"result": json_value}),
        st.fixed_dictionaries(
            {"error": st.fixed_dictionaries({"code": json_leaf, "message": json_leaf}) | json_value}
        ),
        st.dictionaries(st.text(max_size=6), json_value, max_size=3),
    ),
)


def _nested(depth: int) -> str:
    return '{"method":"participantJoined","params":' + '{"a":' * depth + "1" + "}" * depth + "}"


raw_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        ["", "null", "[]", "[1,2]", "42", '"str"', "{", '{"jsonrpc":"2.0"}', "\ufeff{}"]
    ),
    st.integers(100, 20_000).map(_nested),
    st.integers(10_000, 300_000).map(
        lambda n: json.dumps(
            {"method": "sendMessage", "params": {"data": "x" * n, "type": "signal:chat"}}
        )
    ),
    st.integers(100, 5_000).map(lambda n: "[" * n + "]" * n),
)
invalid_bytes = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"\xff\xfe{",
            b'{"method":"participantJoined","params":{"id":"\xc3\x28"}}',
            b"\xed\xa0\x80",
            b"\x80\x80\x80",
        ]
    ),
)
frame = st.one_of(
    notification.map(json.dumps),
    stray_response.map(json.dumps),
    raw_text,
    invalid_bytes,
    st.lists(notification, max_size=3).map(json.dumps),  # a batch: not supported by OpenVidu
)


def generate_frames(n: int) -> list[str | bytes]:
    """Draw ``n`` frames from the strategy (generation only; the checks run against the kiosk)."""
    out: list[str | bytes] = []

    @settings(
        max_examples=n,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(frame)
    def collect(f: str | bytes) -> None:
        out.append(f)

    collect()
    return out


class HostileServer:
    """Answers ping/joinRoom/connect/leaveRoom validly; the test pushes the rest."""

    def __init__(self) -> None:
        self.port = 0
        self.sockets: list[ServerConnection] = []
        self.joined = asyncio.Event()
        self.requests: list[str] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.sockets.append(ws)
        with contextlib.suppress(Exception):
            async for message in ws:
                try:
                    req = json.loads(message)
                    method, rid = req.get("method"), req.get("id")
                except (ValueError, AttributeError):
                    continue
                self.requests.append(str(method))
                result: dict[str, Any] | None = {"sessionId": RPC_SESSION}
                if method == "ping":
                    result = {"value": "pong"}
                elif method == "joinRoom":
                    result = {
                        "id": OWN_ID,
                        "createdAt": int(time.time() * 1000),
                        "metadata": '{"clientData":"Lobby kiosk"}',
                        "value": [],
                        "session": "Room",
                        "sessionId": RPC_SESSION,
                        "version": "2.32.0",
                        "mediaServer": "kurento",
                        "role": "SUBSCRIBER",
                        "coturnIp": "127.0.0.1",
                        "turnUsername": "u",
                        "turnCredential": "c",
                    }
                elif method not in ("connect", "leaveRoom"):
                    result = None
                body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid}
                if result is None:
                    body["error"] = {"code": 500, "message": f"{method}: not in this test"}
                else:
                    body["result"] = result
                await ws.send(json.dumps(body))
                if method == "joinRoom":
                    self.joined.set()

    async def send(self, data: str | bytes) -> None:
        ws = self.sockets[-1]
        await ws.send(data)


@contextlib.asynccontextmanager
async def hostile_call() -> AsyncIterator[tuple[Kiosk, HostileServer]]:
    hostile = HostileServer()
    async with serve(hostile.handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1] if server.sockets else 0
        port = next(iter(server.sockets)).getsockname()[1]
        token = f"ws://127.0.0.1:{port}?sessionId=Room&token=tok_FUZZ0123456789"
        config = kiosk_config(f"http://127.0.0.1:{port}").model_copy(deep=True)
        config.session.role = "SUBSCRIBER"
        k = Kiosk(config, tokens=FixedTokenProvider(token))
        async with kiosk_running(k):
            await wait_until(
                lambda: k.machine.state == CallState.IN_CALL, 15, "the kiosk in the call"
            )
            yield k, hostile


async def _probe(k: Kiosk, hostile: HostileServer, n: int) -> None:
    name = f"Probe {n}"
    await hostile.send(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "participantJoined",
                "params": {
                    "id": f"con_PROBE{n}",
                    "createdAt": 1,
                    "metadata": json.dumps({"clientData": name}),
                },
            }
        )
    )
    await wait_until(
        lambda: any(t.text == f"{name} joined" for t in k.toasts),
        5,
        f"probe {n} to reach the roster (the kiosk stopped handling notifications)",
    )


async def test_junk_json_rpc_frames_never_break_the_call() -> None:
    frames = generate_frames(SIGNALING_CASES)
    assert len(frames) == SIGNALING_CASES
    async with hostile_call() as (k, hostile):
        connection = k.status()["connection_id"]
        batch = 50
        for start in range(0, len(frames), batch):
            for f in frames[start : start + batch]:
                await hostile.send(f)
            await _probe(k, hostile, start // batch)
            assert k.machine.state == CallState.IN_CALL, f"batch at {start}: {k.status()['state']}"
            assert k.stats.reconnects == 0, f"batch at {start} dropped the socket"
            assert k.status()["connection_id"] == connection
        print(
            f"hostile signaling: {len(frames)} generated frames, {len(hostile.sockets)} socket(s)"
        )
        assert len(hostile.sockets) == 1
        assert k.stats.joins == 1


# --- REST -----------------------------------------------------------------------------------

SECRET = "S3cr3t-never-shown"
statuses = st.one_of(
    st.just(200),
    st.just(200),
    st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503]),
)
VALID_TOKEN = "ws://127.0.0.1:1?sessionId=Room&token=tok_x"
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"id": json_leaf, "token": json_leaf | st.just(VALID_TOKEN)},
    ).map(lambda v: json.dumps(v).encode()),
    st.just(b'{"message": "' + SECRET.encode() + b'"}'),
    st.just(b'{"id": "Room", "token": "' + VALID_TOKEN.encode() + b'"}'),
    st.just(b'{"id": "Room", "token": "' + VALID_TOKEN.encode() + b'"}'),
    st.just(b"<html><body>502 Bad Gateway</body></html>"),
)
content_types = st.sampled_from(
    ["application/json", "text/plain", "text/html", "", "application/json; charset=latin-1"]
)
responses = st.tuples(statuses, content_types, bodies)


def _valid_outcome(result: str | None, error: BaseException | None) -> None:
    if error is not None:
        assert isinstance(error, KioskError), f"{type(error).__name__}: {error}"
        text = str(error)
        assert text and "\n" not in text, repr(text)
        assert SECRET not in text
    else:
        assert result is not None and result.startswith("ws://")


def generate_rest_cases(n: int) -> list[tuple[tuple[int, str, bytes], tuple[int, str, bytes]]]:
    out: list[tuple[tuple[int, str, bytes], tuple[int, str, bytes]]] = []

    @settings(
        max_examples=n,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(responses, responses)
    def collect(first: tuple[int, str, bytes], second: tuple[int, str, bytes]) -> None:
        out.append((first, second))

    collect()
    return out


async def test_junk_rest_responses_give_one_clear_error() -> None:
    cases = generate_rest_cases(REST_CASES)
    kinds: dict[str, int] = {}
    current: list[Any] = [None, None]

    def handler(request: httpx.Request) -> httpx.Response:
        status, ctype, body = current[0] if request.url.path.endswith("/sessions") else current[1]
        headers = {"content-type": ctype} if ctype else {}
        if status in (301, 302):
            headers["location"] = "http://127.0.0.1:9/elsewhere"
        return httpx.Response(status, headers=headers, content=body)

    # One provider (its TLS context is built once); the handler answers with the current case.
    provider = RestTokenProvider(
        "http://127.0.0.1:9", SECRET, "Room", transport=httpx.MockTransport(handler), timeout=2.0
    )
    for first, second in cases:
        current[:] = [first, second]
        result: str | None = None
        error: BaseException | None = None
        try:
            result = await provider.get_token()
        except Exception as exc:  # judged by _valid_outcome
            error = exc
        _valid_outcome(result, error)
        kind = type(error).__name__ if error is not None else "token"
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"REST cases run: {len(cases)}: {kinds}")
    assert len(cases) == REST_CASES


async def test_slow_and_truncated_rest_bodies_time_out_with_one_line() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"content-type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"id": "Ro')
        await asyncio.sleep(10)
        return resp

    async def truncated(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"content-length": "500"})
        await resp.prepare(request)
        await resp.write(b'{"id": "Room"')
        if request.transport is not None:
            request.transport.close()
        return resp

    async def silent(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(10)
        return web.Response(text="late")

    outcomes = []
    for handler in (slow, truncated, silent):
        app = web.Application()
        app.router.add_post("/openvidu/api/sessions", handler)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        provider = RestTokenProvider(f"http://127.0.0.1:{port}", SECRET, "Room", timeout=1.0)
        t0 = time.monotonic()
        try:
            await provider.get_token()
            raise AssertionError(f"{handler.__name__}: got a token from a broken server")
        except KioskError as exc:
            outcomes.append((handler.__name__, str(exc), time.monotonic() - t0))
        finally:
            await runner.cleanup()
    for name, text, took in outcomes:
        assert "\n" not in text and SECRET not in text, (name, text)
        assert took < 3.0, f"{name}: {took:.1f} s for a 1 s timeout"
    print(outcomes)
    assert "did not answer" in outcomes[0][1] and "did not answer" in outcomes[2][1]
