"""A kiosk configuration whose media stays on loopback, for tests and benches.

Each section is a mapping merged over the defaults (``display={"size": "960x540"}`` changes the
size and keeps the dummy driver), so a test names only what it cares about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from kiosk.config import KioskConfig, parse_config

__all__ = ["SECRET", "SESSION", "loopback_kiosk_config", "loopback_kiosk_yaml"]

SECRET = "MY_SECRET"
SESSION = "Room"

_DEFAULTS: dict[str, dict[str, Any]] = {
    "ice": {"host_addresses": ["127.0.0.1"], "loopback_only": True},
    "display": {"driver": "dummy", "size": "640x360", "fullscreen": False},
    # synthetic sources: `kiosk run` defaults to real devices, tests and benches have none
    "media": {
        "camera": {"device": "test-pattern"},
        "microphone": {"device": "test-tone"},
        "speaker": {"device": "none"},
    },
    "status": {"listen": "127.0.0.1:0"},
}


def loopback_kiosk_yaml(
    url: str,
    *,
    secret: str | None = SECRET,
    **sections: Mapping[str, Any],
) -> str:
    """YAML text of a kiosk config for the server at ``url`` (``secret=None``: give it in
    ``server={"secret_file": …}``). Keyword sections (``server``, ``session``, ``display``,
    ``media``, …) are merged over the defaults key by key (session ``Room``, name ``Lobby
    kiosk``)."""
    doc: dict[str, dict[str, Any]] = {
        "server": {"url": url} | ({"secret": secret} if secret is not None else {}),
        "session": {"id": SESSION, "name": "Lobby kiosk"},
    }
    for key, value in _DEFAULTS.items():
        doc[key] = dict(value)
    for key, section in sections.items():
        doc[key] = {**doc.get(key, {}), **section}
    return yaml.safe_dump(doc, sort_keys=False)


def loopback_kiosk_config(
    url: str,
    *,
    secret: str | None = SECRET,
    **sections: Mapping[str, Any],
) -> KioskConfig:
    """:func:`loopback_kiosk_yaml`, validated."""
    return parse_config(loopback_kiosk_yaml(url, secret=secret, **sections))
