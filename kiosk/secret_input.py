"""Secrets for command-line tools, never on the command line itself.

A value given as an argument shows in ``ps``, ``/proc/*/cmdline`` and shell history. The tools
(``kiosk bot``, ``kiosk devserver``) read a secret from a file (``--secret-file PATH``), from
standard input (``--secret-file -``) or from an environment variable; a ``--secret VALUE``
argument is refused with a one-line hint (and the value is never echoed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from kiosk.errors import ConfigError
from kiosk.redact import register_secret

__all__ = ["add_secret_arguments", "secret_from_args"]

_MAX = 64 * 1024


class _Refuse(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, str):
            register_secret(values)
        env_var = self.metavar or "the environment"
        parser.exit(
            2,
            f"{parser.prog}: --secret is not accepted (a command line is visible to every user "
            f"in ps); use --secret-file PATH, --secret-file - (standard input) or ${env_var}\n",
        )


def add_secret_arguments(parser: argparse.ArgumentParser, *, env_var: str, what: str) -> None:
    """``--secret-file PATH|-``; a refused, hidden ``--secret``."""
    parser.add_argument(
        "--secret-file",
        metavar="PATH",
        help=f"file holding {what} ('-': read it from standard input); "
        f"default: the environment variable {env_var}",
    )
    parser.add_argument("--secret", action=_Refuse, metavar=env_var, help=argparse.SUPPRESS)


def secret_from_args(
    args: argparse.Namespace,
    *,
    env_var: str,
    env: Mapping[str, str] = os.environ,
    stdin: TextIO | None = None,
) -> str | None:
    """The secret from ``--secret-file`` (a path, or ``-`` for standard input), else ``env_var``.

    Surrounding whitespace is stripped. An unreadable or empty source is a
    :class:`~kiosk.errors.ConfigError` naming it; the value is registered for redaction.
    """
    path: str | None = getattr(args, "secret_file", None)
    value: str | None
    if path == "-":
        value = (stdin or sys.stdin).read(_MAX).strip()
        if not value:
            raise ConfigError(["--secret-file -: standard input is empty; expected the secret"])
    elif path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read(_MAX).strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError([f"--secret-file: cannot read {path!r}: {why}"]) from None
        if not value:
            raise ConfigError([f"--secret-file: {path!r} is empty; expected the secret"])
    else:
        value = env.get(env_var, "").strip() or None
    register_secret(value)
    return value
