"""The ``kiosk`` command.

Subcommands are imported lazily so that ``kiosk check-config`` stays fast and works even where
media or display libraries cannot load. Every user mistake ends as one line on stderr and a
non-zero exit code, never a traceback: a :class:`~kiosk.errors.KioskError` is printed as its
message (exit 2 for configuration problems, 1 otherwise).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Protocol, cast

# pygame prints a banner on import; the kiosk's commands (even --help) should not.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from kiosk import __version__
from kiosk.errors import ConfigError, KioskError
from kiosk.redact import redact


class _CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def main_from_args(self, args: argparse.Namespace) -> int: ...


# name → (module, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "check-config": (
        "kiosk.config",
        "validate a configuration file: prints OK or one line per problem",
    ),
    "devserver": (
        "kiosk.devserver.server",
        "run a local OpenVidu-compatible server (REST, JSON-RPC, media)",
    ),
    "bot": (
        "kiosk.bot",
        "join synthetic participants (test pattern and tone) to any OpenVidu 2.x session",
    ),
    "demo": ("kiosk.demo", "dev server + three bots + the kiosk, in one process"),
    "run": ("kiosk.app.main", "run the kiosk from a configuration file (what systemd starts)"),
}


def _load(module_name: str) -> _CommandModule:
    return cast(_CommandModule, importlib.import_module(module_name))


def build_parser(
    wanted: str | None,
) -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """Build the parser; only the module of the ``wanted`` command is imported."""
    parser = argparse.ArgumentParser(
        prog="kiosk", description="OpenVidu 2.x meeting-room kiosk (aiortc, pygame-ce, gpiozero)"
    )
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name, (module_name, help_text) in _COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name != wanted:
            continue
        try:
            module = _load(module_name)
        except ImportError as exc:  # a piece that cannot load on this machine
            message = f"kiosk {name}: unavailable on this machine: {exc}"

            def _unavailable(_args: argparse.Namespace, message: str = message) -> int:
                print(message, file=sys.stderr)
                return 1

            runners[name] = _unavailable
            continue
        module.add_arguments(sp)
        runners[name] = module.main_from_args
    return parser, runners


def main(argv: Sequence[str] | None = None) -> int:
    arglist = list(sys.argv[1:] if argv is None else argv)
    wanted = next((a for a in arglist if not a.startswith("-")), None)
    parser, runners = build_parser(wanted)
    args = parser.parse_args(arglist)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return runners[args.command](args)
    except ConfigError as exc:
        # Problems with the file as a whole ("no such file") name the file.
        prefix = f"{exc.source}: " if exc.source and getattr(exc, "about_file", False) else ""
        for line in exc.problems:
            print(redact(prefix + line), file=sys.stderr)
        return 2
    except KioskError as exc:
        print(f"kiosk {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
