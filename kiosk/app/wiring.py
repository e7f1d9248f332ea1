"""Configuration → settings: the one place that maps the validated config onto the small
settings values and providers the rest of the kiosk takes (docs/architecture.md)."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from kiosk.app import machine as m
from kiosk.app.status import StatusOptions
from kiosk.config import (
    NO_TOKEN_SOURCE,
    KioskConfig,
    resolve_mqtt_password,
    resolve_secret,
    resolve_status_token,
)
from kiosk.controls.actions import Action
from kiosk.controls.buttons import ButtonSpec
from kiosk.controls.leds import LedSpec
from kiosk.errors import ConfigError
from kiosk.fleet.settings import (
    FleetSettings,
    RemoteControl,
    default_topic_prefix,
    parse_broker_url,
)
from kiosk.media import ice as ice_seam
from kiosk.media.devices import CameraSettings
from kiosk.media.videoplan import VideoSettings
from kiosk.media.workers.assign import WorkerSettings, resolve_count
from kiosk.openvidu.tls import make_ssl_context
from kiosk.openvidu.tokens import (
    AppServerTokenProvider,
    FixedTokenProvider,
    RestTokenProvider,
    TokenProvider,
)
from kiosk.openvidu.urls import SignalingPolicy
from kiosk.redact import register_secret
from kiosk.screen.display import DisplaySettings
from kiosk.screen.mainview import MainViewPolicy

log = logging.getLogger(__name__)

BUTTON_ACTIONS = ("join_leave", "next", "mute_mic", "camera")
LED_NAMES = ("call", "muted", "camera_off")


def ssl_context_from_config(config: KioskConfig) -> ssl.SSLContext:
    """The TLS context for the server (REST and signaling). Loading the system's CA bundle
    takes 30 ms to 0.7 s (a loaded machine): build it once, never per join on the loop."""
    return make_ssl_context(config.server.verify_tls, config.server.ca_file)


def token_provider_from_config(
    config: KioskConfig,
    env: Mapping[str, str] | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> TokenProvider:
    """The one way this config gets tokens: fixed token, application server, or REST + secret.
    ``ssl_context``: the kiosk's one context (:func:`ssl_context_from_config`), else a new one."""
    server, session = config.server, config.session
    if ssl_context is None:
        ssl_context = ssl_context_from_config(config)
    if server.token is not None:
        return FixedTokenProvider(server.token.get_secret_value())
    if server.application_url:
        return AppServerTokenProvider(
            server.application_url,
            session.id,
            ssl_context=ssl_context,
            timeout=server.timeout_seconds,
        )
    secret = resolve_secret(server, os.environ if env is None else env)
    if not secret:
        raise ConfigError([NO_TOKEN_SOURCE])  # check-config says the same (one owner)
    register_secret(secret)
    return RestTokenProvider(
        server.url,
        secret,
        session.id,
        role=session.role,
        ssl_context=ssl_context,
        timeout=server.timeout_seconds,
        allow_http_secret=server.allow_http_secret,
    )


def signaling_policy_from_config(config: KioskConfig) -> SignalingPolicy:
    """Where the signaling socket may go: server.url's scheme and host, or the allowed hosts."""
    return SignalingPolicy(config.server.url, tuple(config.server.allow_token_hosts))


def status_options_from_config(
    config: KioskConfig, env: Mapping[str, str] | None = None
) -> StatusOptions:
    status = config.status
    return StatusOptions(
        token=resolve_status_token(status, os.environ if env is None else env),
        screenshots=status.screenshots,
        allowed_hosts=tuple(status.allowed_hosts),
        max_connections=status.max_connections,
    )


def security_warnings_from_config(config: KioskConfig) -> list[str]:
    """Settings that weaken transport security; each is logged once and shown on the screen."""
    server = config.server
    warnings: list[str] = []
    if not server.verify_tls:
        warnings.append(
            "TLS certificate checks are off (server.verify_tls: false): anyone on the network "
            "path can pose as the server and receive this room's camera and microphone"
        )
    url = urlsplit(server.url)
    if server.token_mode == "secret" and url.scheme == "http" and server.allow_http_secret:
        warnings.append(
            f"the OpenVidu secret is sent to {url.hostname} over http:// in clear text "
            "(server.allow_http_secret: true)"
        )
    ws = (server.websocket_host or "").lower()
    if url.scheme == "https" and ws.startswith("ws://"):
        warnings.append(
            "signaling is unencrypted (server.websocket_host starts with ws://) although "
            "server.url is https"
        )
    return warnings


def ice_settings_from_config(config: KioskConfig) -> ice_seam.IceSettings:
    return ice_seam.IceSettings(
        host_addresses=tuple(config.ice.host_addresses), loopback_only=config.ice.loopback_only
    )


def display_settings_from_config(config: KioskConfig) -> DisplaySettings:
    return DisplaySettings(
        driver=config.display.driver,
        fullscreen=config.display.fullscreen,
        size=config.display.size_pixels,
        title=f"kiosk — {config.display.room_name or config.session.name}",
        drawing=config.display.drawing,
    )


def machine_config_from_config(config: KioskConfig) -> m.MachineConfig:
    return m.MachineConfig(
        auto_join=config.session.auto_join,
        server=config.server.url,
        # The server keeps a silent participant for its ping watchdog (15 s) plus the grace
        # period (10 s, §7.2); we notice a loss after 5–10 s. Keep trying to resume for 20 s: a
        # server that already dropped us says so at once (40007).
        resume_grace_s=20.0,
    )


def video_settings_from_config(config: KioskConfig) -> VideoSettings:
    media = config.media
    return VideoSettings(
        receive_all=media.receive_all_video,
        keep_seconds=media.video_keep_seconds,
        max_keep_seconds=max(60.0, media.video_keep_seconds),
    )


def worker_settings_from_config(
    config: KioskConfig, cpu_count: int | None = None
) -> WorkerSettings:
    """``media.workers`` → how many media worker processes (``auto``: by this machine's cores)."""
    cores = os.cpu_count() if cpu_count is None else cpu_count
    return WorkerSettings(count=resolve_count(config.media.workers, cores))


def view_policy_from_config(config: KioskConfig) -> MainViewPolicy:
    return MainViewPolicy(config.display.main, pin_seconds=config.display.pin_seconds)


def camera_settings_from_config(config: KioskConfig) -> CameraSettings:
    cam = config.media.camera
    return CameraSettings(cam.width, cam.height, cam.fps, cam.input_format)


def button_specs_from_config(config: KioskConfig) -> dict[Action, ButtonSpec]:
    b = config.buttons
    return {
        Action(name): ButtonSpec(c.pin, c.pull_up, c.bounce_time, c.hold_seconds)
        for name in BUTTON_ACTIONS
        if (c := getattr(b, name)) is not None
    }


def led_specs_from_config(config: KioskConfig) -> dict[str, LedSpec | None]:
    leds = config.leds
    return {
        name: LedSpec(c.pin, c.active_high, c.pwm) if (c := getattr(leds, name)) else None
        for name in LED_NAMES
    }


def can_switch_sessions(config: KioskConfig) -> bool:
    """A calendar may pick other sessions unless a fixed ``server.token`` names the only one."""
    return config.server.token is None


def token_provider_for_session(
    config: KioskConfig,
    session_id: str,
    env: Mapping[str, str] | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> TokenProvider:
    """Like :func:`token_provider_from_config`, for another session (a booked meeting's)."""
    other = config.model_copy(
        update={"session": config.session.model_copy(update={"id": session_id})}
    )
    return token_provider_from_config(other, env, ssl_context=ssl_context)


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
            standby=c.standby,
        ),
        state_interval=mqtt.state_interval_seconds,
        keepalive=mqtt.keepalive_seconds,
    )
