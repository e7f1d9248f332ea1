"""Reading the file: size and encoding limits, YAML with the line of every key, validation.

:func:`load_config` / :func:`parse_config` return a validated :class:`KioskConfig` or raise
:class:`ConfigError` with every problem; :class:`FileProblem` is a problem with the file as a
whole (the command line prefixes its path).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from kiosk.config.checks import type_name
from kiosk.config.messages import dotted, problem_message, with_line
from kiosk.config.models import KioskConfig, cross_check
from kiosk.errors import ConfigError
from kiosk.redact import register_secret

MAX_FILE_BYTES = 1 << 20


# --- YAML → plain data with line numbers -----------------------------------------------------


class FileProblem(ConfigError):
    """A problem with the file as a whole (missing, unreadable, not YAML, not a mapping)."""

    about_file = True  # the command line prefixes each problem with the file's path


def _walk(
    node: yaml.Node,
    path: tuple[str, ...],
    lines: dict[tuple[str, ...], int],
    seen: set[int],
    problems: list[str],
) -> None:
    """Record each key path's line and find duplicated keys; each node is visited once."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                _walk(value_node, path, lines, seen, problems)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key_line = key_node.start_mark.line + 1
            child = (*path, str(key_node.value))
            mark = (key_node.tag, str(key_node.value))
            if mark in keys:
                problems.append(
                    f"{dotted(child)}: key appears twice (lines {keys[mark]} and {key_line}); "
                    "keep one"
                )
            else:
                keys[mark] = key_line
                lines.setdefault(child, key_line)
            _walk(value_node, child, lines, seen, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.setdefault((*path, str(index)), item.start_mark.line + 1)
            _walk(item, (*path, str(index)), lines, seen, problems)


def _codepoint(character: object) -> str:
    return f"U+{character:04X}" if isinstance(character, int) else repr(character)


def load_yaml(text: str, source: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """Parse YAML text; return (data, line of each key path). File-level problems raise."""
    lines: dict[tuple[str, ...], int] = {}
    problems: list[str] = []
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None or (
            isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
        ):
            raise FileProblem(
                ["the configuration is empty; expected at least the server: and session: sections"],
                source=source,
            )
        _walk(node, (), lines, set(), problems)
        if problems:
            raise ConfigError(problems, source=source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join((exc.problem or exc.context or "syntax error").split())
        raise FileProblem([f"not valid YAML{where}: {what}"], source=source) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise FileProblem(
            [f"not valid YAML at line {line}: character {_codepoint(exc.character)} not allowed"],
            source=source,
        ) from None
    except yaml.YAMLError as exc:
        raise FileProblem(
            [f"not valid YAML: {' '.join(str(exc).split())}"], source=source
        ) from None
    except RecursionError:
        raise FileProblem(["not valid YAML: nested too deeply"], source=source) from None
    except ConfigError:
        raise
    except Exception as exc:  # e.g. ValueError from an impossible date such as 2024-13-45
        why = " ".join(str(exc).split())
        raise FileProblem(
            [f"not valid YAML: a value could not be read: {why}"], source=source
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise FileProblem(
            [
                "expected a mapping of sections (server:, session:, …) at the top level, got "
                + type_name(data)
            ],
            source=source,
        )
    return data, lines


# --- public entry points ---------------------------------------------------------------------


def _validate(
    data: dict[Any, Any], lines: Mapping[tuple[str, ...], int], source: str, base_dir: str | None
) -> KioskConfig:
    try:
        config = KioskConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = [
            with_line(tuple(error["loc"]), problem_message(error), lines) for error in exc.errors()
        ]
        raise ConfigError(_unique(problems), source=source) from None
    except RecursionError:
        raise ConfigError(["(top level): nested too deeply"], source=source) from None
    cross = cross_check(config)
    if cross:
        raise ConfigError([with_line(loc, msg, lines) for loc, msg in cross], source=source)
    if config.server.secret is not None:
        register_secret(config.server.secret.get_secret_value())
    if config.server.token is not None:
        register_secret(config.server.token.get_secret_value())
    return config


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse_config(text: str, source: str = "<string>") -> KioskConfig:
    """Validate configuration YAML text; raise :class:`ConfigError` listing every problem."""
    data, lines = load_yaml(text, source)
    return _validate(data, lines, source, None)


def _read_text(path: str | os.PathLike[str]) -> str:
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise FileProblem(["no such file"], source=source) from None
    except IsADirectoryError:
        raise FileProblem(["is a directory, not a configuration file"], source=source) from None
    except PermissionError:
        raise FileProblem(["cannot read the file: permission denied"], source=source) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise FileProblem([f"cannot read the file: {why}"], source=source) from None
    if len(raw) > MAX_FILE_BYTES:
        raise FileProblem(
            [f"file is larger than {MAX_FILE_BYTES // 1024} KiB; is it the right file?"],
            source=source,
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileProblem(
            [f"not UTF-8 text (bad byte at line {line}); is it the right file?"], source=source
        ) from None


def load_config(path: str | os.PathLike[str]) -> KioskConfig:
    """Read and validate the configuration file; raise :class:`ConfigError` on any problem."""
    source = os.fspath(path)
    text = _read_text(source)
    data, lines = load_yaml(text, source)
    return _validate(data, lines, source, os.path.dirname(os.path.abspath(source)))
