"""Consoles: data to stdout, messages and progress to stderr."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made on first use: importing rich costs more than a whole one-off
    ``minimize`` on a seen kernel, and most of what those commands print is plain text."""

    def __init__(self, **options: Any) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_console", None)

    def real(self) -> Console:
        made = object.__getattribute__(self, "_console")
        if made is None:
            from rich.console import Console

            made = Console(**object.__getattribute__(self, "_options"))
            object.__setattr__(self, "_console", made)
        return cast("Console", made)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.real(), name, value)


def real_console(console: Console) -> Console:
    """The rich Console behind ``console`` (to hand to rich itself, e.g. a Progress)."""
    return console.real() if isinstance(console, _LazyConsole) else console


console = cast("Console", _LazyConsole(highlight=False))
err_console = cast("Console", _LazyConsole(stderr=True, highlight=False))


def print_json(payload: Any) -> None:
    """Machine-readable output: plain JSON on stdout, never wrapped or coloured."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")
