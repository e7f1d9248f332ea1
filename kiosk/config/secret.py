"""Where secrets come from when the config file does not hold them.

:func:`resolve_secret` (the OpenVidu secret), :func:`resolve_mqtt_password` and
:func:`resolve_status_token`: the file, a secret file, the environment, or a systemd credential.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from kiosk.config.models import ServerConfig, StatusConfig
from kiosk.config.services import CalendarConfig, MqttConfig
from kiosk.errors import ConfigError
from kiosk.redact import register_secret

SECRET_ENV = "KIOSK_OPENVIDU_SECRET"
CREDENTIAL_NAME = "openvidu-secret"
MQTT_CREDENTIAL_NAME = "mqtt-password"
STATUS_CREDENTIAL_NAME = "status-token"
CALENDAR_CREDENTIAL_NAME = "calendar-password"


def read_secret_file(path: str, key: str, what: str = "the OpenVidu secret") -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read(64 * 1024).strip()
    except FileNotFoundError:
        raise ConfigError([f"{key}: cannot read {path!r}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{key}: cannot read {path!r}: it is a directory"]) from None
    except PermissionError:
        raise ConfigError([f"{key}: cannot read {path!r}: permission denied"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{key}: {path!r} is not UTF-8 text"]) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigError([f"{key}: cannot read {path!r}: {why}"]) from None
    if not value:
        raise ConfigError([f"{key}: {path!r} is empty; expected {what}"])
    return value


def resolve_secret(server: ServerConfig, env: Mapping[str, str] = os.environ) -> str | None:
    """The OpenVidu secret for the REST API, or None when there is none to use.

    Order: ``server.secret``, ``server.secret_file`` (read, stripped), the
    ``KIOSK_OPENVIDU_SECRET`` environment variable, then ``$CREDENTIALS_DIRECTORY/openvidu-secret``
    (systemd ``LoadCredential=``). Returns None when ``server.application_url`` or
    ``server.token`` is the token source (no secret is used) or when nothing provides one.
    An unreadable or empty file raises :class:`ConfigError` naming the key and the file.
    The secret found is registered with :func:`kiosk.redact.register_secret`.
    """
    value: str | None = None
    if server.secret is not None:
        value = server.secret.get_secret_value()
    elif server.secret_file is not None:
        value = read_secret_file(server.secret_file, "server.secret_file")
    elif server.application_url is not None or server.token is not None:
        return None
    elif env.get(SECRET_ENV, "").strip():
        value = env[SECRET_ENV].strip()
    elif env.get("CREDENTIALS_DIRECTORY"):
        path = os.path.join(env["CREDENTIALS_DIRECTORY"], CREDENTIAL_NAME)
        if os.path.lexists(path):
            value = read_secret_file(path, f"systemd credential {CREDENTIAL_NAME}")
    register_secret(value)
    return value


def _file_or_credential(
    path: str | None, key: str, credential: str, what: str, env: Mapping[str, str]
) -> str | None:
    """``path`` if configured, else the systemd credential ``credential``; None when neither."""
    if path is not None:
        return read_secret_file(path, key, what)
    if env.get("CREDENTIALS_DIRECTORY"):
        found = os.path.join(env["CREDENTIALS_DIRECTORY"], credential)
        if os.path.lexists(found):
            return read_secret_file(found, f"systemd credential {credential}", what)
    return None


def resolve_mqtt_password(mqtt: MqttConfig, env: Mapping[str, str] = os.environ) -> str | None:
    """The MQTT password: ``mqtt.password_file``, else the systemd credential ``mqtt-password``
    (``$CREDENTIALS_DIRECTORY``), else None. Registered with :func:`kiosk.redact.register_secret`.
    """
    value = _file_or_credential(
        mqtt.password_file, "mqtt.password_file", MQTT_CREDENTIAL_NAME, "the MQTT password", env
    )
    register_secret(value)
    return value


def resolve_status_token(status: StatusConfig, env: Mapping[str, str] = os.environ) -> str | None:
    """The status endpoint's bearer token: ``status.token_file``, else the systemd credential
    ``status-token``; None when neither is there (no authentication). Registered as a secret."""
    value = _file_or_credential(
        status.token_file, "status.token_file", STATUS_CREDENTIAL_NAME, "a bearer token", env
    )
    if value is not None and len(value) < 16:
        raise ConfigError([f"status token: expected at least 16 characters, got {len(value)}"])
    register_secret(value)
    return value


def resolve_calendar_password(
    calendar: CalendarConfig, env: Mapping[str, str] = os.environ
) -> str | None:
    """The calendar password: ``calendar.password_file``, else the systemd credential
    ``calendar-password``, else None (only looked for with ``calendar.username``). Registered
    with :func:`kiosk.redact.register_secret`; also registers the calendar URL (a private ICS
    address is itself a secret)."""
    if calendar.url is not None:
        register_secret(calendar.url)
    if calendar.username is None:
        return None
    value = _file_or_credential(
        calendar.password_file,
        "calendar.password_file",
        CALENDAR_CREDENTIAL_NAME,
        "the calendar password",
        env,
    )
    register_secret(value)
    return value
