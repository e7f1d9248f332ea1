"""A stand-in for the kiosk behind :class:`~kiosk.fleet.facts.KioskPort` (shipped for tests,
like gpiozero's mock pins): facts you set, commands it records and applies to its facts."""

from __future__ import annotations

import dataclasses
import struct
import zlib

from kiosk.fleet.commands import Command, CommandName
from kiosk.fleet.facts import Facts

__all__ = ["FakeKiosk", "tiny_png"]


def tiny_png(width: int, height: int) -> bytes:
    """A valid grey PNG of the given size (for a fake screenshot)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class FakeKiosk:
    def __init__(self, facts: Facts | None = None, *, screen: tuple[int, int] = (64, 36)) -> None:
        self.current = facts or Facts(call_state="idle", session="room")
        self.performed: list[Command] = []
        self.screen = screen

    def facts(self) -> Facts:
        return self.current

    def set(self, **changes: object) -> None:
        self.current = dataclasses.replace(self.current, **changes)  # type: ignore[arg-type]

    def perform(self, command: Command) -> None:
        self.performed.append(command)
        if command.name == CommandName.JOIN:
            self.set(call_state="in_call")
        elif command.name == CommandName.LEAVE:
            self.set(call_state="idle", participants=())
        elif command.name == CommandName.MUTE_MIC:
            self.set(mic_muted=command.value)
        elif command.name == CommandName.MUTE_CAMERA:
            self.set(camera_off=command.value)
        elif command.name == CommandName.STANDBY:
            self.set(display="standby" if command.value else "on")

    async def screenshot(self) -> bytes | None:
        return tiny_png(*self.screen)
