"""The entry points' loop: uvloop when installed, the standard loop when asked or missing."""

from __future__ import annotations

import asyncio

import pytest

from kiosk import eventloop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv("KIOSK_EVENT_LOOP", raising=False)
    assert eventloop.run(_loop_module()).startswith("uvloop")


def test_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_EVENT_LOOP", "asyncio")
    assert eventloop.run(_loop_module()).startswith("asyncio")


def test_standard_loop_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_uvloop(name: str, *args: object, **kwargs: object) -> object:
        if name == "uvloop":
            raise ImportError("no uvloop here")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delenv("KIOSK_EVENT_LOOP", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert eventloop.loop_factory() == ("asyncio", None)
