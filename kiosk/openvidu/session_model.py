"""The session as this client sees it: who is here and what they publish (pure, no I/O).

Loaded from the ``joinRoom`` result and kept current by typed events. Every mutating call returns
a list of :class:`Change` so callers can show "Alice joined" / "Bob left" toasts.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from kiosk.openvidu.events import (
    MAX_NAME_CHARS,
    Event,
    ParticipantEvicted,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantUnpublished,
    StreamInfo,
    StreamPropertyChanged,
    bounded_metadata,
    cut_text,
    parse_stream,
)

__all__ = ["Change", "ChangeKind", "Participant", "SessionModel", "display_name_from_metadata"]

ChangeKind = Literal[
    "joined",  # a remote participant appeared
    "left",  # a remote participant is gone (left or evicted)
    "published",  # a remote participant started publishing
    "unpublished",  # a remote participant stopped publishing
    "stream_changed",  # mute/unmute/resolution of a remote stream
    "self_unpublished",  # our own publication was removed by someone else
    "self_evicted",  # we were evicted
]


@dataclass(frozen=True, slots=True)
class Participant:
    connection_id: str
    display_name: str
    metadata: str
    created_at: int
    stream: StreamInfo | None = None


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    connection_id: str
    display_name: str
    reason: str = ""


def display_name_from_metadata(metadata: str) -> str:
    """The name to show for a connection's data string (§6.3).

    Split on the first ``%/%`` and take the client part; if it is a JSON object whose
    ``clientData`` is a string, that string; otherwise the raw client text (``""`` if none).
    Cut to ``MAX_NAME_CHARS`` (kiosk.openvidu.events).
    """
    if not isinstance(metadata, str):
        return ""
    client = metadata.split("%/%", 1)[0]
    try:
        parsed: Any = json.loads(client) if len(client) <= 100_000 else None
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        name = parsed.get("clientData")
        if isinstance(name, str):
            return cut_text(name, MAX_NAME_CHARS)
    return cut_text(client, MAX_NAME_CHARS)


class SessionModel:
    """Own connection and remote participants (``participants`` never contains ourselves)."""

    def __init__(self) -> None:
        self.own_connection_id: str | None = None
        self.own_metadata: str = ""
        self.own_stream_id: str | None = None
        self.session_id: str | None = None
        self.participants: dict[str, Participant] = {}
        self.evicted: bool = False

    @property
    def own_display_name(self) -> str:
        return display_name_from_metadata(self.own_metadata)

    def name_of(self, connection_id: str) -> str:
        participant = self.participants.get(connection_id)
        return participant.display_name if participant else ""

    def stream_of(self, connection_id: str) -> StreamInfo | None:
        """The current stream of a participant (``None``: unknown or not publishing)."""
        participant = self.participants.get(connection_id)
        return participant.stream if participant else None

    def streams(self) -> dict[str, StreamInfo]:
        """Remote streams by connection id."""
        return {cid: p.stream for cid, p in self.participants.items() if p.stream is not None}

    def load_join_result(self, result: dict[str, Any]) -> list[Change]:
        """Reset from a ``joinRoom`` result (§4.2); bad ``value`` entries are skipped."""
        own = result.get("id")
        self.own_connection_id = own if isinstance(own, str) else None
        metadata = result.get("metadata")
        self.own_metadata = metadata if isinstance(metadata, str) else ""
        session = result.get("session")
        self.session_id = session if isinstance(session, str) else None
        self.own_stream_id = None
        self.evicted = False
        self.participants = {}
        changes: list[Change] = []
        entries = result.get("value")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            cid = entry.get("id")
            if not isinstance(cid, str) or not cid or cid == self.own_connection_id:
                continue
            meta = entry.get("metadata")
            meta = bounded_metadata(meta) if isinstance(meta, str) else ""
            created = entry.get("createdAt")
            streams = entry.get("streams")
            stream = parse_stream(streams[0]) if isinstance(streams, list) and streams else None
            participant = Participant(
                connection_id=cid,
                display_name=display_name_from_metadata(meta),
                metadata=meta,
                created_at=created if isinstance(created, int) else 0,
                stream=stream,
            )
            self.participants[cid] = participant
            changes.append(Change("joined", cid, participant.display_name))
            if stream is not None:
                changes.append(Change("published", cid, participant.display_name))
        return changes

    def set_own_stream(self, stream_id: str | None) -> None:
        self.own_stream_id = stream_id

    def apply(self, event: Event) -> list[Change]:
        """Update the model from one event; return what changed (possibly nothing)."""
        if isinstance(event, ParticipantJoined):
            return self._joined(event)
        if isinstance(event, ParticipantPublished):
            return self._published(event)
        if isinstance(event, ParticipantUnpublished):
            return self._unpublished(event)
        if isinstance(event, ParticipantLeft | ParticipantEvicted):
            return self._gone(event)
        if isinstance(event, StreamPropertyChanged):
            return self._property(event)
        return []

    def _joined(self, event: ParticipantJoined) -> list[Change]:
        cid = event.connection_id
        if cid == self.own_connection_id:
            return []
        old = self.participants.get(cid)
        participant = Participant(
            connection_id=cid,
            display_name=display_name_from_metadata(event.metadata),
            metadata=event.metadata,
            created_at=event.created_at,
            stream=old.stream if old else None,
        )
        self.participants[cid] = participant
        return [] if old else [Change("joined", cid, participant.display_name)]

    def _published(self, event: ParticipantPublished) -> list[Change]:
        cid = event.connection_id
        if cid == self.own_connection_id:
            self.own_stream_id = event.stream.stream_id
            return []
        changes: list[Change] = []
        old = self.participants.get(cid)
        if old is None:  # published before we saw the join (race): create it
            old = Participant(cid, "", "", 0, None)
            changes.append(Change("joined", cid, ""))
        same_stream = old.stream is not None and old.stream.stream_id == event.stream.stream_id
        self.participants[cid] = dataclasses.replace(old, stream=event.stream)
        if not same_stream:
            changes.append(Change("published", cid, old.display_name))
        return changes

    def _unpublished(self, event: ParticipantUnpublished) -> list[Change]:
        cid = event.connection_id
        if cid == self.own_connection_id:
            self.own_stream_id = None
            return [Change("self_unpublished", cid, self.own_display_name, event.reason)]
        old = self.participants.get(cid)
        if old is None or old.stream is None:
            return []
        self.participants[cid] = dataclasses.replace(old, stream=None)
        return [Change("unpublished", cid, old.display_name, event.reason)]

    def _gone(self, event: ParticipantLeft | ParticipantEvicted) -> list[Change]:
        cid = event.connection_id
        if cid == self.own_connection_id:
            if isinstance(event, ParticipantEvicted) and not self.evicted:
                self.evicted = True
                return [Change("self_evicted", cid, self.own_display_name, event.reason)]
            return []
        old = self.participants.pop(cid, None)
        if old is None:  # participantLeft and participantEvicted both arrive: report once
            return []
        return [Change("left", cid, old.display_name, event.reason)]

    def _property(self, event: StreamPropertyChanged) -> list[Change]:
        old = self.participants.get(event.connection_id)
        if old is None or old.stream is None:
            return []
        stream = old.stream
        if event.stream_id and event.stream_id != stream.stream_id:
            return []
        if event.property == "audioActive" and isinstance(event.new_value, bool):
            stream = dataclasses.replace(stream, audio_active=event.new_value)
        elif event.property == "videoActive" and isinstance(event.new_value, bool):
            stream = dataclasses.replace(stream, video_active=event.new_value)
        elif event.property == "videoDimensions" and isinstance(event.new_value, tuple):
            stream = dataclasses.replace(stream, video_dimensions=event.new_value)
        else:
            return []
        if stream == old.stream:
            return []
        self.participants[event.connection_id] = dataclasses.replace(old, stream=stream)
        return [Change("stream_changed", event.connection_id, old.display_name, event.reason)]
