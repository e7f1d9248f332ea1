"""The topic layout of one room (pure).

``<prefix>`` defaults to ``kiosk/<room id>``; ``<discovery>`` to ``homeassistant``::

    <prefix>/availability          online | offline (retained; offline is the Last Will)
    <prefix>/state                 JSON facts (retained)
    <prefix>/cmd/<name>            commands from the fleet console
    <prefix>/cmd/result            one JSON reply per command handled
    <prefix>/screenshot            PNG of the screen (on request, when allowed; not retained)
    <discovery>/device/<room id>/config   Home Assistant device discovery (retained)
    <discovery>/status             Home Assistant's own online/offline
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OFFLINE", "ONLINE", "RESULT", "Topics"]

ONLINE = b"online"
OFFLINE = b"offline"
RESULT = "result"


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    discovery_prefix: str
    room_id: str

    @property
    def availability(self) -> str:
        return f"{self.prefix}/availability"

    @property
    def state(self) -> str:
        return f"{self.prefix}/state"

    @property
    def commands(self) -> str:
        """The subscription filter for every command."""
        return f"{self.prefix}/cmd/+"

    def command(self, name: str) -> str:
        return f"{self.prefix}/cmd/{name}"

    @property
    def result(self) -> str:
        return self.command(RESULT)

    @property
    def screenshot(self) -> str:
        return f"{self.prefix}/screenshot"

    @property
    def discovery(self) -> str:
        return f"{self.discovery_prefix}/device/{self.room_id}/config"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def command_name(self, topic: str) -> str | None:
        """``<prefix>/cmd/<name>`` → ``name``; None for any other topic and for our own replies
        on ``<prefix>/cmd/result`` (the subscription filter matches them too)."""
        head = f"{self.prefix}/cmd/"
        if not topic.startswith(head):
            return None
        name = topic[len(head) :]
        if "/" in name or name == RESULT:
            return None
        return name
