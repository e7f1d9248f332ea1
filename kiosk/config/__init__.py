"""The kiosk's one YAML configuration file: pydantic models, loading, and ``kiosk check-config``.

``load_config(path)`` / ``parse_config(text)`` return a validated :class:`KioskConfig` or raise
:class:`kiosk.errors.ConfigError` whose ``problems`` hold one line per problem. Every line about
a key starts with the dotted key path (``ice.host_addresses.1: …``) and says what was expected and
what was found; lines about the file itself (missing, unreadable, not YAML, …) say so plainly.
Secret values (``server.secret``, ``server.token``) are never echoed.

Unknown keys are errors at every level (a typo must never be silently ignored), types are
strict (a string where a number is expected is an error; YAML ``yes``/``no`` are booleans), and
duplicated keys in a mapping are errors too.

Relative ``server.ca_file`` / ``server.secret_file`` paths are taken relative to the directory
of the config file (to the current directory for :func:`parse_config`), and stored absolute.

Modules, each importing only those above it: :mod:`.checks` (value checks, safe descriptions of
values), :mod:`.base` (what every section shares), :mod:`.services` (mqtt, calendar, standby,
occupancy), :mod:`.models` (the other sections, defaults, ``KioskConfig``, cross checks),
:mod:`.messages` (pydantic errors → problem lines), :mod:`.loader` (file limits, YAML with line
numbers, ``load_config``), :mod:`.secret` (``resolve_secret`` and the other secrets),
:mod:`.check` (``kiosk check-config``).
"""

from kiosk.config.check import (
    INSTALLED_UNIT,
    NO_TOKEN_SOURCE,
    add_arguments,
    check_config,
    main_from_args,
    unit_credential_file,
)
from kiosk.config.loader import MAX_FILE_BYTES, load_config, parse_config
from kiosk.config.models import (
    ButtonConfig,
    ButtonsConfig,
    CameraConfig,
    DisplayConfig,
    IceConfig,
    KioskConfig,
    LedConfig,
    LedsConfig,
    LoggingConfig,
    MediaConfig,
    MicrophoneConfig,
    ServerConfig,
    SessionConfig,
    SpeakerConfig,
    StatusConfig,
)
from kiosk.config.secret import (
    CALENDAR_CREDENTIAL_NAME,
    CREDENTIAL_NAME,
    MQTT_CREDENTIAL_NAME,
    SECRET_ENV,
    STATUS_CREDENTIAL_NAME,
    resolve_calendar_password,
    resolve_mqtt_password,
    resolve_secret,
    resolve_status_token,
)
from kiosk.config.services import (
    CalendarConfig,
    MqttConfig,
    MqttControlConfig,
    OccupancyConfig,
    StandbyConfig,
)

__all__ = [
    "CALENDAR_CREDENTIAL_NAME",
    "CREDENTIAL_NAME",
    "INSTALLED_UNIT",
    "MAX_FILE_BYTES",
    "MQTT_CREDENTIAL_NAME",
    "NO_TOKEN_SOURCE",
    "SECRET_ENV",
    "STATUS_CREDENTIAL_NAME",
    "ButtonConfig",
    "ButtonsConfig",
    "CalendarConfig",
    "CameraConfig",
    "DisplayConfig",
    "IceConfig",
    "KioskConfig",
    "LedConfig",
    "LedsConfig",
    "LoggingConfig",
    "MediaConfig",
    "MicrophoneConfig",
    "MqttConfig",
    "MqttControlConfig",
    "OccupancyConfig",
    "ServerConfig",
    "SessionConfig",
    "SpeakerConfig",
    "StandbyConfig",
    "StatusConfig",
    "add_arguments",
    "check_config",
    "load_config",
    "main_from_args",
    "parse_config",
    "resolve_calendar_password",
    "resolve_mqtt_password",
    "resolve_secret",
    "resolve_status_token",
    "unit_credential_file",
]
