"""The kiosk's side of the fleet link: the ``mqtt:`` config mapped onto
:class:`~kiosk.fleet.settings.FleetSettings` (once, at start)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from kiosk.config import KioskConfig, resolve_mqtt_password
from kiosk.fleet.settings import (
    FleetSettings,
    RemoteControl,
    default_topic_prefix,
    parse_broker_url,
)

__all__ = ["fleet_settings_from_config"]

log = logging.getLogger(__name__)


def fleet_settings_from_config(
    config: KioskConfig, env: Mapping[str, str] | None = None
) -> FleetSettings | None:
    """None when the fleet link is off; reads the password file or credential when it is on."""
    mqtt = config.mqtt
    if not mqtt.enabled or mqtt.url is None:
        return None
    broker = parse_broker_url(mqtt.url)
    room_id = mqtt.room_id or config.session.id[:64]
    password = resolve_mqtt_password(mqtt, os.environ if env is None else env)
    if password is not None and not broker.tls:
        log.warning("mqtt.url: %s is not TLS: the MQTT password travels unencrypted", broker)
    c = mqtt.control
    return FleetSettings(
        broker=broker,
        room_id=room_id,
        room_name=config.display.room_name or config.session.name,
        client_id=mqtt.client_id or f"kiosk-{room_id}",
        topic_prefix=mqtt.topic_prefix or default_topic_prefix(room_id),
        discovery_prefix=mqtt.discovery_prefix,
        discovery=mqtt.discovery,
        username=mqtt.username,
        password=password,
        ca_file=mqtt.ca_file,
        control=RemoteControl(
            join=c.join,
            leave=c.leave,
            rejoin=c.rejoin,
            next=c.next,
            mute=c.mute,
            unmute=c.unmute,
            restart=c.restart,
            screenshot=c.screenshot,
        ),
        state_interval=mqtt.state_interval_seconds,
        keepalive=mqtt.keepalive_seconds,
    )
