"""The pure parts of the fleet link: settings checks, topics, state, commands, discovery."""

from __future__ import annotations

import json

import pytest

from kiosk.fleet.commands import (
    Command,
    CommandName,
    RateLimiter,
    Rejected,
    authorize,
    parse_command,
    result_payload,
)
from kiosk.fleet.discovery import build_discovery
from kiosk.fleet.facts import CALL_STATES, Facts, ParticipantFacts
from kiosk.fleet.settings import (
    BrokerAddress,
    FleetSettings,
    RemoteControl,
    check_room_id,
    check_topic_prefix,
    parse_broker_url,
)
from kiosk.fleet.state import MAX_NAMES, build_state, encode_state, significant
from kiosk.fleet.topics import Topics
from kiosk.redact import register_secret

TOPICS = Topics("kiosk/room-a", "homeassistant", "room-a")


def settings(**control: bool) -> FleetSettings:
    return FleetSettings(
        broker=BrokerAddress("127.0.0.1", 1883, False),
        room_id="room-a",
        room_name="Room A",
        client_id="kiosk-room-a",
        topic_prefix="kiosk/room-a",
        control=RemoteControl(**control),
    )


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.lan", BrokerAddress("broker.lan", 1883, False)),
        ("mqtts://broker.lan", BrokerAddress("broker.lan", 8883, True)),
        ("mqtts://10.0.0.2:9883", BrokerAddress("10.0.0.2", 9883, True)),
        ("MQTT://[::1]:1884/", BrokerAddress("::1", 1884, False)),
    ],
)
def test_broker_urls(url: str, expected: BrokerAddress) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://x", "mqtt://", "mqtt://h:0", "mqtt://h:99999", "mqtt://h/path", "mqtt://h x"]
)
def test_bad_broker_urls_say_what_was_expected(url: str) -> None:
    with pytest.raises(ValueError, match=r"expected mqtt://host\[:port\] or mqtts://"):
        parse_broker_url(url)


def test_broker_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError) as info:
        parse_broker_url("mqtts://room:hunter2@broker.lan")
    assert "hunter2" not in str(info.value)
    assert "password_file" in str(info.value)


@pytest.mark.parametrize("prefix", ["kiosk/a", "site.1/floor-2/room_3"])
def test_good_prefixes(prefix: str) -> None:
    assert check_topic_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "/kiosk", "kiosk/", "kiosk//a", "kiosk/+", "k/#", "a b"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="topic levels"):
        check_topic_prefix(prefix)


def test_room_id_is_one_topic_level() -> None:
    assert check_room_id("room-4_B") == "room-4_B"
    for bad in ("", "a/b", "a+b", "x" * 65, "ré"):
        with pytest.raises(ValueError):
            check_room_id(bad)


def test_password_is_not_in_the_settings_repr() -> None:
    s = FleetSettings(
        broker=BrokerAddress("h", 1, False),
        room_id="r",
        room_name="R",
        client_id="c",
        topic_prefix="kiosk/r",
        password="pw-very-secret",
    )
    assert "pw-very-secret" not in repr(s)


# --- topics ------------------------------------------------------------------------------------


def test_topic_layout() -> None:
    assert TOPICS.availability == "kiosk/room-a/availability"
    assert TOPICS.state == "kiosk/room-a/state"
    assert TOPICS.commands == "kiosk/room-a/cmd/+"
    assert TOPICS.result == "kiosk/room-a/cmd/result"
    assert TOPICS.discovery == "homeassistant/device/room-a/config"
    assert TOPICS.ha_status == "homeassistant/status"


def test_command_name_ignores_our_own_replies_and_other_topics() -> None:
    assert TOPICS.command_name("kiosk/room-a/cmd/join") == "join"
    assert TOPICS.command_name("kiosk/room-a/cmd/result") is None
    assert TOPICS.command_name("kiosk/room-b/cmd/join") is None
    assert TOPICS.command_name("kiosk/room-a/state") is None


# --- state -------------------------------------------------------------------------------------


def facts(**changes: object) -> Facts:
    base = Facts(
        call_state="in_call",
        session="weekly",
        participants=(
            ParticipantFacts("Ana", -20.04, True),
            ParticipantFacts("Bo", None, False),
        ),
        mic_muted=True,
        server_reachable=True,
        uptime_seconds=12.7,
        rss_bytes=1234,
    )
    import dataclasses

    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_state_carries_the_status_facts() -> None:
    state = build_state(facts())
    assert state["state"] == "in_call"
    assert state["participants"] == 2
    assert state["participant_names"] == ["Ana", "Bo"]
    assert state["speaking"] == ["Ana"]
    assert state["audio"][0] == {"name": "Ana", "level_dbfs": -20.0, "speaking": True}
    assert state["audio"][1]["level_dbfs"] is None
    assert state["mic_muted"] is True and state["camera_off"] is False
    assert state["uptime_seconds"] == 12 and state["rss_bytes"] == 1234
    assert state["problem"] is False


@pytest.mark.parametrize(
    "change",
    [{"call_state": "error"}, {"server_reachable": False}, {"problems": ("no microphone",)}],
)
def test_problem_flag(change: dict[str, object]) -> None:
    assert build_state(facts(**change))["problem"] is True


def test_state_is_bounded_whatever_comes_in() -> None:
    many = tuple(ParticipantFacts("x" * 500, -10.0) for _ in range(1000))
    state = build_state(facts(participants=many, last_error="e" * 5000))
    assert state["participants"] == 1000
    assert len(state["participant_names"]) == MAX_NAMES
    assert all(len(n) <= 64 for n in state["participant_names"])
    assert len(state["last_error"]) <= 200
    assert len(encode_state(state)) < 16_000


def test_clocks_and_levels_are_not_a_change_but_speaking_is() -> None:
    a = significant(build_state(facts()))
    b = significant(build_state(facts(uptime_seconds=99, rss_bytes=9)))
    assert a == b
    louder = (ParticipantFacts("Ana", -3.0, True), ParticipantFacts("Bo", None, False))
    assert significant(build_state(facts(participants=louder))) == a
    quiet = (ParticipantFacts("Ana", -60.0, False), ParticipantFacts("Bo", None, False))
    assert significant(build_state(facts(participants=quiet))) != a


def test_state_text_is_redacted() -> None:
    register_secret("s3cr3t-value-xyz")
    state = build_state(facts(last_error="token s3cr3t-value-xyz rejected"))
    assert b"s3cr3t-value-xyz" not in encode_state(state)


# --- commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "value", "force"),
    [
        (b"", True, False),
        (b"PRESS", True, False),
        (b"ON", True, False),
        (b"off", False, False),
        (b"force", True, True),
        (b'{"value": false, "id": "r1"}', False, False),
        (b'{"force": true}', True, True),
    ],
)
def test_payload_forms(payload: bytes, value: bool, force: bool) -> None:
    command = parse_command("mute_mic", payload)
    assert isinstance(command, Command)
    assert (command.value, command.force) == (value, force)


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("fly", b"", "unknown command"),
        ("a/b+#", b"", "unknown command (bad name)"),
        ("join", b"x" * 2000, "payload too large (2000 bytes, at most 1024)"),
        ("join", b"\xff\xfe", "not UTF-8"),
        ("join", b"{not json", "not a JSON object"),
        ("join", b"[1]", "expected nothing, ON, OFF"),
        ("join", b'{"value": "yes"}', "value must be true or false"),
        ("join", b'{"evil": 1}', "unknown key 'evil'"),
        ("join", b'{"id": 5}', "id must be"),
        ("join", b"[" * 100_000, "payload too large"),
    ],
)
def test_malformed_commands_are_one_line_rejections(name: str, payload: bytes, reason: str) -> None:
    outcome = parse_command(name, payload)
    assert isinstance(outcome, Rejected)
    assert reason in outcome.reason
    assert "\n" not in outcome.reason
    assert outcome.command in (name, "?")


def test_deeply_nested_json_within_the_size_limit_is_rejected_not_raised() -> None:
    outcome = parse_command("join", b"{" + b'"a":[' * 200 + b"]" * 200 + b"}", max_payload=2000)
    assert isinstance(outcome, Rejected)


IDLE = Facts(call_state="idle", session="s")
IN_CALL = Facts(call_state="in_call", session="s")


def test_remote_unmute_is_off_by_default_and_mute_on() -> None:
    control = RemoteControl()
    mute = parse_command("mute_mic", b"ON")
    unmute = parse_command("mute_camera", b"OFF")
    assert isinstance(mute, Command) and isinstance(unmute, Command)
    assert authorize(mute, IN_CALL, control) == mute
    refused = authorize(unmute, IN_CALL, control)
    assert isinstance(refused, Rejected) and "remote unmute is off" in refused.reason
    assert authorize(unmute, IN_CALL, RemoteControl(unmute=True)) == unmute


def test_standby_on_and_off_parse_as_values() -> None:
    on, off = parse_command("standby", b"ON"), parse_command("standby", b"off")
    assert on == Command(CommandName.STANDBY, value=True)
    assert off == Command(CommandName.STANDBY, value=False)
    assert authorize(on, IN_CALL, RemoteControl()) == on  # allowed by default


def test_screenshot_is_off_by_default() -> None:
    shot = Command(CommandName.SCREENSHOT)
    assert isinstance(authorize(shot, IDLE, RemoteControl()), Rejected)
    assert authorize(shot, IDLE, RemoteControl(screenshot=True)) == shot


def test_restart_only_outside_a_call_unless_forced() -> None:
    control = RemoteControl()
    restart = Command(CommandName.RESTART)
    assert authorize(restart, IDLE, control) == restart
    refused = authorize(restart, IN_CALL, control)
    assert isinstance(refused, Rejected) and "force" in refused.reason
    forced = Command(CommandName.RESTART, force=True)
    assert authorize(forced, IN_CALL, control) == forced


def test_switched_off_commands_are_refused() -> None:
    for name in ("join", "leave", "rejoin", "next", "restart", "standby"):
        outcome = authorize(Command(CommandName(name)), IDLE, RemoteControl(**{name: False}))
        assert isinstance(outcome, Rejected) and f"mqtt.control.{name}" in outcome.reason


def test_result_payload_echoes_the_request_id() -> None:
    ok = json.loads(result_payload(Command(CommandName.JOIN, request_id="abc")))
    assert ok == {"command": "join", "ok": True, "id": "abc"}
    bad = json.loads(result_payload(Rejected("?", "unknown command")))
    assert bad == {"command": "?", "ok": False, "error": "unknown command"}


def test_rate_limiter_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.allow(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow(0.25) is False
    assert limiter.allow(0.5) is True  # one token back after 1/rate
    assert limiter.take_dropped() == 3
    assert limiter.take_dropped() == 0
    assert [limiter.allow(100.0) for _ in range(4)] == [True, True, True, False]


# --- discovery ---------------------------------------------------------------------------------


def test_discovery_describes_the_room_for_home_assistant() -> None:
    payload = build_discovery(settings(), TOPICS, "1.2.3")
    assert payload["dev"]["ids"] == ["kiosk_room-a"]
    assert payload["dev"]["name"] == "Room A"
    assert payload["state_topic"] == "kiosk/room-a/state"
    assert payload["availability"][0]["topic"] == "kiosk/room-a/availability"
    cmps = payload["cmps"]
    for name in ("join", "leave", "rejoin", "next", "restart"):
        assert cmps[name]["p"] == "button"
        assert cmps[name]["command_topic"] == f"kiosk/room-a/cmd/{name}"
    assert cmps["mic_muted"]["p"] == "switch"
    assert cmps["mic_muted"]["command_topic"] == "kiosk/room-a/cmd/mute_mic"
    assert cmps["camera_off"]["command_topic"] == "kiosk/room-a/cmd/mute_camera"
    assert cmps["call_state"]["device_class"] == "enum"
    assert cmps["call_state"]["options"] == list(CALL_STATES)
    assert cmps["participants"]["p"] == "sensor"
    assert cmps["uptime"]["unit_of_measurement"] == "s"
    assert cmps["problem"]["p"] == "binary_sensor"
    assert cmps["problem"]["device_class"] == "problem"
    assert "screenshot" not in cmps  # off by default: it shows the room
    assert cmps["standby"]["p"] == "switch"
    assert cmps["standby"]["command_topic"] == "kiosk/room-a/cmd/standby"
    assert "value_json.display == 'standby'" in cmps["standby"]["value_template"]
    uids = [c["unique_id"] for c in cmps.values()]
    assert len(uids) == len(set(uids))


def test_discovery_offers_only_what_is_allowed() -> None:
    cmps = build_discovery(settings(restart=False, screenshot=True, standby=False), TOPICS, "1")[
        "cmps"
    ]
    assert "restart" not in cmps
    assert "standby" not in cmps
    assert cmps["screenshot"]["p"] == "image"
    assert cmps["screenshot"]["image_topic"] == "kiosk/room-a/screenshot"
    assert cmps["take_screenshot"]["command_topic"] == "kiosk/room-a/cmd/screenshot"
