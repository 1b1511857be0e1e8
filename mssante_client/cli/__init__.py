"""The ``mssante`` command line: a thin shell over the public API.

Each family of subcommands lives in its own module exposing ``register(subparsers)``; a
subcommand handler returns the process exit code. Errors of the SDK are printed as one line
(never a traceback) and give exit code 2; ``--json`` output goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from .._version import __version__
from ..errors import MssanteError

#: Modules that contribute subcommands, in help order.
_COMMAND_MODULES = ("sandbox", "document", "mail", "directory")

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mssante",
        description="MSSanté client: sandbox operator, documents, mail and directory.",
    )
    parser.add_argument("--version", action="version", version=f"mssante {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except MssanteError as exc:
        print(f"mssante: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mssante: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
