"""Home Assistant device discovery (pure): one retained message describes the whole room.

Published on ``<discovery>/device/<room id>/config``; every entity reads the one retained state
topic and shares the availability topic, so Home Assistant shows a room as unavailable the moment
the broker publishes its Last Will.
"""

from __future__ import annotations

import json
from typing import Any

from kiosk.fleet.commands import CommandName
from kiosk.fleet.facts import CALL_STATES
from kiosk.fleet.settings import FleetSettings
from kiosk.fleet.topics import OFFLINE, ONLINE, Topics

__all__ = ["build_discovery", "encode_discovery"]

_BUTTONS = (
    (CommandName.JOIN, "Join", "mdi:phone"),
    (CommandName.LEAVE, "Leave", "mdi:phone-hangup"),
    (CommandName.REJOIN, "Rejoin", "mdi:phone-refresh"),
    (CommandName.NEXT, "Next view", "mdi:view-carousel"),
    (CommandName.RESTART, "Restart", "mdi:restart"),
)


def build_discovery(settings: FleetSettings, topics: Topics, version: str) -> dict[str, Any]:
    room = settings.room_id
    control = settings.control
    uid = f"kiosk_{room}"
    components: dict[str, dict[str, Any]] = {}
    for name, title, icon in _BUTTONS:
        if getattr(control, str(name)):
            components[str(name)] = {
                "p": "button",
                "name": title,
                "icon": icon,
                "unique_id": f"{uid}_{name}",
                "command_topic": topics.command(name),
                "payload_press": "PRESS",
                **({"entity_category": "config"} if name == CommandName.RESTART else {}),
            }
    if control.mute or control.unmute:
        for key, cmd, title, field, icon in (
            (
                "mic_muted",
                CommandName.MUTE_MIC,
                "Microphone muted",
                "mic_muted",
                "mdi:microphone-off",
            ),
            ("camera_off", CommandName.MUTE_CAMERA, "Camera off", "camera_off", "mdi:video-off"),
        ):
            components[key] = {
                "p": "switch",
                "name": title,
                "icon": icon,
                "unique_id": f"{uid}_{key}",
                "command_topic": topics.command(cmd),
                "payload_on": "ON",
                "payload_off": "OFF",
                "value_template": f"{{{{ 'ON' if value_json.{field} else 'OFF' }}}}",
            }
    if control.standby:
        components["standby"] = {
            "p": "switch",
            "name": "Display standby",
            "icon": "mdi:monitor-off",
            "unique_id": f"{uid}_standby",
            "command_topic": topics.command(CommandName.STANDBY),
            "payload_on": "ON",
            "payload_off": "OFF",
            "value_template": "{{ 'ON' if value_json.display == 'standby' else 'OFF' }}",
        }
    components["call_state"] = {
        "p": "sensor",
        "name": "Call",
        "icon": "mdi:video-account",
        "unique_id": f"{uid}_call_state",
        "device_class": "enum",
        "options": list(CALL_STATES),
        "value_template": "{{ value_json.state }}",
    }
    components["participants"] = {
        "p": "sensor",
        "name": "Participants",
        "icon": "mdi:account-group",
        "unique_id": f"{uid}_participants",
        "state_class": "measurement",
        "value_template": "{{ value_json.participants }}",
        "json_attributes_topic": topics.state,
        "json_attributes_template": (
            "{{ {'names': value_json.participant_names, 'speaking': value_json.speaking}"
            " | tojson }}"
        ),
    }
    components["uptime"] = {
        "p": "sensor",
        "name": "Uptime",
        "unique_id": f"{uid}_uptime",
        "device_class": "duration",
        "unit_of_measurement": "s",
        "entity_category": "diagnostic",
        "value_template": "{{ value_json.uptime_seconds }}",
    }
    components["problem"] = {
        "p": "binary_sensor",
        "name": "Problem",
        "unique_id": f"{uid}_problem",
        "device_class": "problem",
        "value_template": "{{ 'ON' if value_json.problem else 'OFF' }}",
        "json_attributes_topic": topics.state,
        "json_attributes_template": (
            "{{ {'last_error': value_json.last_error, 'problems': value_json.problems,"
            " 'server_reachable': value_json.server_reachable} | tojson }}"
        ),
    }
    if control.screenshot:
        components["screenshot"] = {
            "p": "image",
            "name": "Screen",
            "unique_id": f"{uid}_screenshot",
            "image_topic": topics.screenshot,
            "content_type": "image/png",
        }
        components["take_screenshot"] = {
            "p": "button",
            "name": "Take screenshot",
            "icon": "mdi:monitor-screenshot",
            "unique_id": f"{uid}_take_screenshot",
            "command_topic": topics.command(CommandName.SCREENSHOT),
            "payload_press": "PRESS",
        }
    return {
        "dev": {
            "ids": [uid],
            "name": settings.room_name,
            "mf": "kiosk",
            "mdl": "OpenVidu meeting-room kiosk",
            "sw": version,
        },
        "o": {"name": "kiosk", "sw": version},
        "availability": [
            {
                "topic": topics.availability,
                "payload_available": ONLINE.decode(),
                "payload_not_available": OFFLINE.decode(),
            }
        ],
        "state_topic": topics.state,
        "qos": 1,
        "cmps": components,
    }


def encode_discovery(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
