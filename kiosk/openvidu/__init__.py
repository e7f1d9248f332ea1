"""OpenVidu 2.x client side: tokens, JSON-RPC signaling, typed events, session model.

Only pure modules are re-exported here (importing this package pulls in neither ``httpx`` nor
``websockets``). Import ``kiosk.openvidu.client``, ``.signaling`` and ``.tokens`` explicitly.
"""

from kiosk.openvidu.events import (
    Event,
    IceCandidateReceived,
    MediaErrorReceived,
    ParticipantEvicted,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantUnpublished,
    RecordingChanged,
    SignalReceived,
    StreamInfo,
    StreamPropertyChanged,
    UnknownNotification,
    parse_notification,
)
from kiosk.openvidu.session_model import (
    Change,
    Participant,
    SessionModel,
    display_name_from_metadata,
)
from kiosk.openvidu.urls import TokenInfo, parse_token
from kiosk.protocols import RpcCaller

__all__ = [
    "Change",
    "Event",
    "IceCandidateReceived",
    "MediaErrorReceived",
    "Participant",
    "ParticipantEvicted",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantPublished",
    "ParticipantUnpublished",
    "RecordingChanged",
    "RpcCaller",
    "SessionModel",
    "SignalReceived",
    "StreamInfo",
    "StreamPropertyChanged",
    "TokenInfo",
    "UnknownNotification",
    "display_name_from_metadata",
    "parse_notification",
    "parse_token",
]
