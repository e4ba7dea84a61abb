"""The one place where library errors become exit codes and one-line messages."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import IntEnum, unique
from typing import ParamSpec, TypeVar

import typer

from btfhub_mirror.errors import BtfmirrorError

from ._console import err_console

P = ParamSpec("P")
R = TypeVar("R")


@unique
class ExitCode(IntEnum):
    """Process exit statuses; library errors carry their own (see ``errors.py``)."""

    OK = 0
    ERROR = 1
    USAGE = 2  # also Click's own code for bad options
    NOT_FOUND = 3
    UNEXPECTED = 4
    INTERRUPTED = 130


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into one red line on stderr and the error's exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except BtfmirrorError as err:
            err_console.print(
                f"error: {err}", style="bold red", markup=False, highlight=False, soft_wrap=True
            )
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", style="yellow")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (`btfmirror btf dump X | head`): not an error.
            sys.stderr.close()
            raise typer.Exit(ExitCode.OK) from None

    wrapper.__btfmirror_handled__ = True  # type: ignore[attr-defined]
    return wrapper
