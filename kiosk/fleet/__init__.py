"""Fleet control: the room visible and controllable over MQTT, Home Assistant ready.

Pure pieces: :mod:`~kiosk.fleet.settings`, :mod:`~kiosk.fleet.topics`, :mod:`~kiosk.fleet.state`,
:mod:`~kiosk.fleet.commands`, :mod:`~kiosk.fleet.discovery`. The one task with I/O is
:class:`~kiosk.fleet.client.FleetClient`; it sees the kiosk only through
:class:`~kiosk.fleet.facts.KioskPort` (:class:`~kiosk.fleet.fake.FakeKiosk` in tests).
"""

from kiosk.fleet.commands import Command, CommandName, Rejected
from kiosk.fleet.facts import Facts, KioskPort, ParticipantFacts
from kiosk.fleet.settings import BrokerAddress, FleetSettings, RemoteControl
from kiosk.fleet.topics import Topics

__all__ = [
    "BrokerAddress",
    "Command",
    "CommandName",
    "Facts",
    "FleetSettings",
    "KioskPort",
    "ParticipantFacts",
    "Rejected",
    "RemoteControl",
    "Topics",
]
