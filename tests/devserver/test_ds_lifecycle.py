"""Liveness and lifecycle: ping watchdog, grace period and `connect`, evictions (§3.6, §7)."""

from __future__ import annotations

import asyncio
import time

from kiosk.devserver.rpc import PING_TIMEOUT_REASON
from tests.devserver.ds_harness import Harness, running

API = "/openvidu/api"


async def test_ping_watchdog_closes_a_silent_socket_then_evicts(dev: Harness) -> None:
    sid = await dev.session("Watchdog")
    alice, _a = await dev.join(sid)
    bob, b = await dev.join(sid, ping_interval=200)  # watchdog 3 x 200 ms
    await alice.notification("participantJoined")
    started = time.monotonic()
    await asyncio.wait_for(bob.closed.wait(), 5)
    assert bob.close_code == 1000
    assert bob.close_reason == PING_TIMEOUT_REASON
    assert time.monotonic() - started >= 0.5
    left = await alice.notification("participantLeft")
    assert left == {"connectionId": b["id"], "reason": "networkDisconnect"}
    assert await alice.notification("participantEvicted") == left
    r = await dev.http.get(f"{API}/sessions/{sid}/connection/{b['id']}")
    assert r.status_code == 404


async def test_pinging_client_is_kept_alive(dev: Harness) -> None:
    sid = await dev.session("Alive")
    bob, b = await dev.join(sid, ping_interval=150)
    for _ in range(8):  # 1.2 s, twice the watchdog period
        await asyncio.sleep(0.15)
        await bob.result("ping")
    assert not bob.closed.is_set()
    r = await dev.http.get(f"{API}/sessions/{sid}/connection/{b['id']}")
    assert r.json()["status"] == "active"


async def test_connect_within_grace_resumes_the_same_connection(dev: Harness) -> None:
    sid = await dev.session("Resume")
    alice, a = await dev.join(sid)
    bob, b = await dev.join(sid)
    await alice.notification("participantJoined")
    await bob.close()  # socket lost without leaveRoom
    fresh = await dev.client()
    frame = await fresh.request("connect", {"sessionId": b["sessionId"], "reconnect": True})
    assert frame["result"] == {"value": "reconnection successful", "sessionId": b["sessionId"]}
    await asyncio.sleep(0.6)  # beyond the 0.3 s grace: must not be evicted
    assert (await fresh.result("echo", {}))["sessionId"] == b["sessionId"]
    # notifications now reach the new socket
    await alice.result("sendMessage", {"message": '{"data":"hi"}'})
    assert (await fresh.notification("sendMessage"))["from"] == a["id"]
    r = await dev.http.get(f"{API}/sessions/{sid}/connection/{b['id']}")
    assert r.json()["status"] == "active"
    assert [n for n in alice.drain() if n["method"] == "participantLeft"] == []


async def test_connect_after_grace_fails_with_40007(dev: Harness) -> None:
    sid = await dev.session("TooLate")
    alice, _a = await dev.join(sid)
    bob, b = await dev.join(sid)
    await bob.close()
    left = await alice.notification("participantLeft", wait=3)
    assert left == {"connectionId": b["id"], "reason": "networkDisconnect"}
    fresh = await dev.client()
    err = await fresh.error("connect", {"sessionId": b["sessionId"], "reconnect": True})
    assert err == {"code": 40007, "message": "reconnection error"}
    # connect without a session id just reports this socket's RPC session
    ok = await fresh.result("connect", {})
    assert ok["value"] == "OK" and ok["sessionId"] != b["sessionId"]


async def test_clean_close_without_leave_room_evicts_after_grace(dev: Harness) -> None:
    sid = await dev.session("NoGhosts")
    alice, a = await dev.join(sid)
    bob, _b = await dev.join(sid)
    await bob.ws.close(code=4102, reason="Connection closed by client")
    closed_at = time.monotonic()
    left = await alice.notification("participantLeft", wait=3)
    assert time.monotonic() - closed_at >= 0.25  # waited for the grace period
    assert left["reason"] == "networkDisconnect"
    r = await dev.http.get(f"{API}/sessions/{sid}")
    assert [c["id"] for c in r.json()["connections"]["content"]] == [a["id"]]


async def test_delete_session_evicts_everybody(dev: Harness) -> None:
    sid = await dev.session("Closing")
    alice, a = await dev.join(sid)
    bob, b = await dev.join(sid)
    assert (await dev.http.delete(f"{API}/sessions/{sid}")).status_code == 204
    reason = "sessionClosedByServer"
    ev = await alice.notification("participantEvicted")
    assert ev == {"connectionId": a["id"], "reason": reason}
    # Bob sees Alice go (left + evicted), then his own eviction
    assert await bob.notification("participantLeft") == {"connectionId": a["id"], "reason": reason}
    assert await bob.notification("participantEvicted") == {
        "connectionId": a["id"],
        "reason": reason,
    }
    assert await bob.notification("participantEvicted") == {
        "connectionId": b["id"],
        "reason": reason,
    }
    assert (await dev.http.get(f"{API}/sessions/{sid}")).status_code == 404
    await asyncio.wait_for(alice.closed.wait(), 5)  # closed after close_after_leave_seconds


async def test_rest_delete_connection_evicts_with_force_disconnect_by_server(dev: Harness) -> None:
    sid = await dev.session("Kick")
    alice, _a = await dev.join(sid)
    bob, b = await dev.join(sid)
    r = await dev.http.delete(f"{API}/sessions/{sid}/connection/{b['id']}")
    assert r.status_code == 204
    expected = {"connectionId": b["id"], "reason": "forceDisconnectByServer"}
    assert await bob.notification("participantEvicted") == expected
    assert await alice.notification("participantLeft") == expected
    assert await alice.notification("participantEvicted") == expected
    # the session lives on with Alice
    assert (await dev.http.get(f"{API}/sessions/{sid}")).status_code == 200


async def test_stop_releases_the_port_and_closes_sockets() -> None:
    async with running() as dev:
        sid = await dev.session("Stop")
        rpc, _ = await dev.join(sid)
        port = dev.server.port
        await dev.server.stop()
        await asyncio.wait_for(rpc.closed.wait(), 5)
        assert rpc.close_code == 1001
    # the port can be bound again right away
    async with running(port=port) as again:
        assert again.server.port == port


async def test_watchdog_moves_to_the_resumed_socket(dev: Harness) -> None:
    sid = await dev.session("MovedWatchdog")
    alice, _ = await dev.join(sid)
    bob, b = await dev.join(sid, ping_interval=200)
    await bob.close()
    fresh = await dev.client()
    await fresh.result("connect", {"sessionId": b["sessionId"], "reconnect": True})
    # no ping on the new socket: the carried-over watchdog (3 x 200 ms) closes it
    await asyncio.wait_for(fresh.closed.wait(), 5)
    assert fresh.close_reason == PING_TIMEOUT_REASON
    left = await alice.notification("participantLeft", wait=3)
    assert left == {"connectionId": b["id"], "reason": "networkDisconnect"}


async def test_connect_from_a_second_socket_takes_over_and_closes_the_first(dev: Harness) -> None:
    sid = await dev.session("TakeOver")
    alice, a = await dev.join(sid)
    bob, b = await dev.join(sid)
    second = await dev.client()
    await second.result("connect", {"sessionId": b["sessionId"], "reconnect": True})
    await asyncio.wait_for(bob.closed.wait(), 5)
    await asyncio.sleep(0.5)  # longer than the grace period: still in the session
    await alice.result("sendMessage", {"message": '{"data":"still there?"}'})
    assert (await second.notification("sendMessage"))["data"] == "still there?"
    r = await dev.http.get(f"{API}/sessions/{sid}/connection/{b['id']}")
    assert r.json()["status"] == "active"
    assert a["id"] != b["id"]


async def test_close_session_answers_bye_and_the_participant_is_evicted(dev: Harness) -> None:
    sid = await dev.session("Bye")
    alice, _ = await dev.join(sid)
    bob, b = await dev.join(sid)
    frame = await bob.request("closeSession", {})
    assert frame["result"] == "bye"
    await asyncio.wait_for(bob.closed.wait(), 5)
    left = await alice.notification("participantLeft", wait=3)
    assert left == {"connectionId": b["id"], "reason": "networkDisconnect"}
