"""Helpers shared by the CLI modules: JSON output and progress on a terminal."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    """Write one JSON document on stdout (what a program reads)."""
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def progress(message: str) -> None:
    """Report progress on stderr, only when a person is watching."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{message}\x1b[K")
        sys.stderr.flush()


def progress_done() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")
        sys.stderr.flush()
