"""Pydantic validation errors → one problem line each: ``dotted.key.path: what (line N)``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from kiosk.config.checks import describe
from kiosk.config.models import KioskConfig
from kiosk.redact import redact

# Keys whose values are never shown in a problem line.
# calendar.url: a private ICS address holds a secret in its path.
SECRET_PATHS = {("server", "secret"), ("server", "token"), ("calendar", "url")}


# --- pydantic errors → problem lines ---------------------------------------------------------


def model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class whose keys live at ``loc`` (for listing valid keys)."""
    model: type[BaseModel] = KioskConfig
    for part in loc:
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        ann = info.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        else:
            return None
    return model


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    model = model_at(loc[:-1])
    if model is None:
        return "unknown key"
    valid = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; expected one of: {', '.join(valid)}"


def problem_message(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    loc: tuple[int | str, ...] = tuple(error["loc"])
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    secret = tuple(str(p) for p in loc[:2]) in SECRET_PATHS
    value = error.get("input")
    got = describe(value, secret=secret)
    if kind == "kiosk":
        return str(ctx.get("message", "invalid value"))
    if kind == "missing":
        return "required key is missing"
    if kind in ("extra_forbidden", "invalid_key"):
        return _unknown_key(loc)
    if kind == "string_type":
        hint = ""
        if isinstance(value, int | float) and not isinstance(value, bool) and not secret:
            hint = " (put it in quotes)"
        return f"expected a string, got {got}{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the listed values')}, got {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys, got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind == "value_error":
        return f"{ctx.get('error', 'invalid value')}"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{message[:1].lower()}{message[1:]}, got {got}"


def _segment(part: int | str) -> str:
    text = str(part)
    return text if re.fullmatch(r"[\w-]+", text) else repr(text)


def dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(_segment(part) for part in loc) if loc else "(top level)"


def with_line(
    loc: tuple[int | str, ...], message: str, lines: Mapping[tuple[str, ...], int]
) -> str:
    key = tuple(str(p) for p in loc)
    line = None
    while key and line is None:
        line = lines.get(key)
        key = key[:-1]
    suffix = f" (line {line})" if line else ""
    return redact(f"{dotted(loc)}: {message}{suffix}")
