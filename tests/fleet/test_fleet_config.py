"""The ``mqtt:`` config section and its mapping onto FleetSettings."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.app import machine as m
from kiosk.app.fleet import KioskFleetPort, facts_from_status
from kiosk.app.wiring import fleet_settings_from_config
from kiosk.config import check_config, parse_config
from kiosk.controls.actions import Action
from kiosk.errors import ConfigError, FleetError
from kiosk.fleet.commands import Command, CommandName
from kiosk.fleet.settings import BrokerAddress
from kiosk.redact import redact

BASE = "server: {url: 'https://ov.example'}\nsession: {id: weekly-sync}\n"


def test_off_by_default() -> None:
    config = parse_config(BASE)
    assert config.mqtt.enabled is False
    assert fleet_settings_from_config(config, env={}) is None


def test_defaults_follow_the_room(tmp_path: Path) -> None:
    password = tmp_path / "mqtt.pw"
    password.write_text("  pw-from-file-77\n")
    config = parse_config(
        BASE + f"mqtt: {{enabled: true, url: 'mqtts://broker.lan', username: room1,"
        f" password_file: '{password}'}}\n"
    )
    s = fleet_settings_from_config(config, env={})
    assert s is not None
    assert s.broker == BrokerAddress("broker.lan", 8883, True)
    assert s.room_id == "weekly-sync"
    assert s.topic_prefix == "kiosk/weekly-sync"
    assert s.discovery_prefix == "homeassistant"
    assert s.client_id == "kiosk-weekly-sync"
    assert s.password == "pw-from-file-77"
    assert s.control.unmute is False and s.control.screenshot is False
    assert s.state_interval == 60
    assert "pw-from-file-77" not in redact("connect with pw-from-file-77")


def test_password_from_the_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "mqtt-password").write_text("pw-credential-88\n")
    config = parse_config(
        BASE + "mqtt: {enabled: true, url: 'mqtt://127.0.0.1:1884', room_id: r2,"
        " topic_prefix: site/floor1/r2, control: {unmute: true}}\n"
    )
    s = fleet_settings_from_config(config, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert s is not None
    assert s.password == "pw-credential-88"
    assert s.topic_prefix == "site/floor1/r2" and s.room_id == "r2"
    assert s.control.unmute is True


def test_empty_password_file_names_the_key(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    config = parse_config(
        BASE + f"mqtt: {{enabled: true, url: 'mqtt://h', password_file: '{empty}'}}\n"
    )
    with pytest.raises(ConfigError, match=r"mqtt.password_file: .* is empty; expected the MQTT"):
        fleet_settings_from_config(config, env={})


@pytest.mark.parametrize(
    ("mqtt", "line"),
    [
        ("{enabled: true}", "mqtt.url: required when mqtt.enabled is true"),
        ("{url: 'http://h'}", "mqtt.url: expected mqtt://host[:port] or mqtts://host[:port]"),
        ("{url: 'mqtt://u:hunter22@h'}", "without user:password@"),
        ("{room_id: 'a/b'}", "mqtt.room_id: expected 1–64 characters"),
        ("{topic_prefix: 'kiosk/#'}", "mqtt.topic_prefix: expected topic levels"),
        ("{state_interval_seconds: 600}", "mqtt.state_interval_seconds: expected a number"),
        ("{control: {unmte: true}}", "mqtt.control.unmte: unknown key"),
        ("{password: x}", "mqtt.password: unknown key"),
    ],
)
def test_bad_values_are_one_line_each(mqtt: str, line: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + f"mqtt: {mqtt}\n")
    assert any(line in problem for problem in info.value.problems), info.value.problems
    assert not any("hunter22" in problem for problem in info.value.problems)


def test_facts_come_from_the_status_dict() -> None:
    status = {
        "state": "in_call",
        "session_id": "weekly-sync",
        "participants": [
            {"name": "Ana", "audio_level_dbfs": -21.5, "speaking": True},
            {"name": None, "audio_level_dbfs": None, "speaking": False},
        ],
        "muted": {"audio": True, "video": False},
        "server_reachable": True,
        "last_error": None,
        "media_problems": ["speaker: none"],
        "display": "on",
        "uptime_seconds": 12.5,
        "rss_bytes": 4096,
    }
    facts = facts_from_status(status)
    assert facts.call_state == "in_call" and facts.session == "weekly-sync"
    assert [(p.name, p.level_dbfs, p.speaking) for p in facts.participants] == [
        ("Ana", -21.5, True),
        ("Guest", None, False),
    ]
    assert facts.mic_muted is True and facts.camera_off is False
    assert facts.server_reachable is True and facts.problems == ("speaker: none",)
    assert facts.uptime_seconds == 12.5 and facts.rss_bytes == 4096


def test_facts_from_a_sparse_status_are_not_known_rather_than_wrong() -> None:
    facts = facts_from_status({"state": "idle", "participants": "junk", "rss_bytes": True})
    assert facts.call_state == "idle"
    assert facts.server_reachable is None and facts.rss_bytes is None


class Host:
    """A kiosk as the adapter sees it: status, the button door, the machine's inbox."""

    def __init__(self, state: str, audio: bool = False, video: bool = False) -> None:
        self.state: dict[str, object] = {"state": state, "muted": {"audio": audio, "video": video}}
        self.actions: list[Action] = []
        self.events: list[object] = []
        self.standby: bool | None = None  # None: this room has no standby section

    def status(self) -> dict[str, object]:
        return self.state

    def on_action(self, action: object) -> None:
        assert isinstance(action, Action)
        self.actions.append(action)

    def post(self, event: object) -> None:
        self.events.append(event)

    async def screenshot(self) -> bytes | None:
        return b"png"

    def set_standby(self, on: bool) -> bool:
        if self.standby is None:
            return False
        self.standby = on
        return True


@pytest.mark.parametrize(
    ("state", "command", "actions"),
    [
        ("idle", CommandName.JOIN, [Action.JOIN_LEAVE]),
        ("error", CommandName.JOIN, [Action.JOIN_LEAVE]),
        ("in_call", CommandName.JOIN, []),  # already there: the toggle would leave
        ("joining", CommandName.JOIN, []),  # the toggle would cancel
        ("in_call", CommandName.LEAVE, [Action.JOIN_LEAVE]),
        ("joining", CommandName.LEAVE, [Action.JOIN_LEAVE]),
        ("idle", CommandName.LEAVE, []),  # the toggle would join
        ("in_call", CommandName.REJOIN, [Action.REJOIN]),
        ("in_call", CommandName.NEXT, [Action.NEXT]),
    ],
)
def test_commands_take_the_button_path_only_in_the_wanted_direction(
    state: str, command: CommandName, actions: list[Action]
) -> None:
    host = Host(state)
    KioskFleetPort(host).perform(Command(command))
    assert host.actions == actions


def test_mute_sets_a_state_instead_of_toggling() -> None:
    host = Host("in_call", audio=True, video=False)
    port = KioskFleetPort(host)
    port.perform(Command(CommandName.MUTE_MIC, value=True))  # already muted: nothing
    port.perform(Command(CommandName.MUTE_CAMERA, value=True))
    port.perform(Command(CommandName.MUTE_MIC, value=False))
    assert host.actions == [Action.CAMERA, Action.MUTE_MIC]


def test_standby_sets_the_display_and_says_when_the_room_has_none() -> None:
    host = Host("in_call")
    port = KioskFleetPort(host)
    with pytest.raises(FleetError, match=r"standby\.enabled"):
        port.perform(Command(CommandName.STANDBY, value=True))
    host.standby = False
    port.perform(Command(CommandName.STANDBY, value=True))
    assert host.standby is True and host.actions == []  # not the call's buttons
    port.perform(Command(CommandName.STANDBY, value=False))
    assert host.standby is False


def test_restart_is_the_ordinary_shutdown_and_facts_carry_rss() -> None:
    host = Host("idle")
    port = KioskFleetPort(host)
    port.perform(Command(CommandName.RESTART))
    assert [type(e) for e in host.events] == [m.Shutdown]
    facts = port.facts()
    assert facts.call_state == "idle"
    assert facts.rss_bytes is not None and facts.rss_bytes > 1_000_000


def test_check_config_reads_the_mqtt_password_file(tmp_path: Path) -> None:
    empty = tmp_path / "mqtt-password"
    empty.write_text("")
    config = tmp_path / "kiosk.yaml"
    config.write_text(
        BASE + f"mqtt: {{enabled: true, url: 'mqtt://h', password_file: '{empty}'}}\n"
    )
    env = {"KIOSK_OPENVIDU_SECRET": "s"}
    code, lines = check_config(config, env=env, unit=None, devices=False)
    assert code == 2
    assert any(line.startswith("mqtt.password_file: ") and "empty" in line for line in lines)
    empty.write_text("pw-check-config-99\n")
    assert check_config(config, env=env, unit=None, devices=False) == (0, ["OK"])
