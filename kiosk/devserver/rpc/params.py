"""Reading request parameters with the server's strict types (§3.2), and request failures.

Every handler reads its parameters through one :class:`Params` reader: a missing or mistyped
element fails the request with the same ``java.lang.RuntimeException`` text OpenVidu sends, and
nothing is consumed (no token, no media) before every element has been read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Params", "RpcFail", "not_streaming"]

_T = TypeVar("_T")


class RpcFail(Exception):
    """A JSON-RPC error answer. ``message`` must never contain a token or secret."""

    def __init__(self, code: int, message: str, *, suffix: bool = True) -> None:
        self.code = code
        self.text = f"{message}. Code: {code}" if suffix else message
        super().__init__(self.text)


def not_streaming(session_id: str, connection_id: str) -> RpcFail:
    return RpcFail(105, f"User '{connection_id}' not streaming media in session '{session_id}'")


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class Params:
    """The ``params`` object of one request to ``method``, read element by element.

    ``text``/``flag``/``integer`` require the element; the ``maybe_`` forms return ``None`` when
    it is absent (or JSON ``null``). Integers may arrive as integral floats (``5.0``).
    """

    def __init__(self, method: str, params: dict[str, Any]) -> None:
        self.method = method
        self.raw = params

    def missing(self, name: str) -> RpcFail:
        return RpcFail(
            -1,
            f"java.lang.RuntimeException:Request element '{name}' is missing in method "
            f"'{self.method}'",
        )

    def mistyped(self, name: str, kind: str) -> RpcFail:
        return RpcFail(
            -1,
            f"java.lang.RuntimeException:Request element '{name}' in method '{self.method}' "
            f"must be {kind}",
        )

    def _read(
        self, name: str, convert: Callable[[object], _T | None], kind: str, *, required: bool
    ) -> _T | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.missing(name)
            return None
        converted = convert(value)
        if converted is None:
            raise self.mistyped(name, kind)
        return converted

    def text(self, name: str) -> str:
        value = self._read(name, _as_str, "a string", required=True)
        assert value is not None
        return value

    def maybe_text(self, name: str) -> str | None:
        return self._read(name, _as_str, "a string", required=False)

    def flag(self, name: str) -> bool:
        value = self._read(name, _as_bool, "a boolean", required=True)
        assert value is not None
        return value

    def maybe_flag(self, name: str) -> bool | None:
        return self._read(name, _as_bool, "a boolean", required=False)

    def integer(self, name: str) -> int:
        value = self._read(name, _as_int, "an integer", required=True)
        assert value is not None
        return value

    def maybe_integer(self, name: str) -> int | None:
        return self._read(name, _as_int, "an integer", required=False)

    def maybe_object(self, name: str) -> dict[str, Any] | None:
        value = self.raw.get(name)
        if value is not None and not isinstance(value, dict):
            raise self.mistyped(name, "an object")
        return value

    def present(self, name: str) -> Any:
        """Any JSON value, ``null`` included; only absence fails."""
        if name not in self.raw:
            raise self.missing(name)
        return self.raw[name]
