"""The one place where library errors become exit codes and one-line messages."""

from __future__ import annotations

import functools
import signal
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
    TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process SIGTERM killed


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds as Ctrl-C does: the library ends the
    git it runs and the pack workers, removes temporary files, then releases the cache lock."""


def _on_sigterm(signum: int, frame: object) -> None:
    # A second SIGTERM while unwinding would cut the cleanup short; that takes at most git's
    # grace period (gitrepo._TERM_GRACE). SIGKILL still ends everything at once.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def install_signal_handlers() -> None:
    """SIGTERM unwinds like Ctrl-C (Python's default would exit without any cleanup)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


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
        except Terminated:
            err_console.print("terminated", style="yellow")
            raise typer.Exit(ExitCode.TERMINATED) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", style="yellow")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (`btfmirror btf dump X | head`): not an error.
            sys.stderr.close()
            raise typer.Exit(ExitCode.OK) from None

    wrapper.__btfmirror_handled__ = True  # type: ignore[attr-defined]
    return wrapper
