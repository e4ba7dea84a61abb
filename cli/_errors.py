"""The one place where library errors become exit codes and one-line messages."""

from __future__ import annotations

import functools
import os
import signal
import sys
import traceback
from collections.abc import Callable
from enum import IntEnum, unique
from typing import ParamSpec, TypeVar

import click
import typer

from btfhub_mirror.errors import (
    BtfmirrorError,
    NoBtfFoundError,
    NotFoundError,
    Param,
    UsageError,
    VerifyError,
)

from ._console import err_console

P = ParamSpec("P")
R = TypeVar("R")


@unique
class ExitCode(IntEnum):
    """Every process exit status of ``btfmirror``, documented in the README's table.

    Library errors carry their own code (``errors.py``); those are named here from the
    error classes, so each number has one home and ``@unique`` refuses a collision.
    """

    OK = 0
    ERROR = 1  # an expected failure with no code of its own (bad input, git, disk)
    USAGE = UsageError.exit_code  # 2, also Click's own code for bad options
    NOT_FOUND = NotFoundError.exit_code  # 3: a file, kernel or entry asked for
    UNEXPECTED = 4  # a bug: "internal error", with the traceback under BTFMIRROR_DEBUG=1
    NO_BTF = NoBtfFoundError.exit_code  # 5: select: nothing in the archive fits the system
    CHECK_FAILED = 6  # check: at least one kernel fails
    VERIFY_FAILED = VerifyError.exit_code  # 7: verify: the judged consumer misses a kernel
    INTERRUPTED = 130
    TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process SIGTERM killed


#: Set to 1 to get the traceback of an internal error on stderr.
DEBUG_ENV = "BTFMIRROR_DEBUG"
#: Where an internal error asks to be reported.
REPORT_HINT = "this is a bug in btfmirror: please report it with the command that failed"


#: The option of each library parameter an error message can name (errors.Param).
OPTIONS = {
    "arch": "--arch",
    "btf_files": "--btf",
    "btf_header": "--btf-header",
    "consumer": "--for",
    "distro": "--distro",
    "first_match": "--first-match",
    "hardlinks": "--hardlinks",
    "jobs": "--jobs",
    "kernels": "--kernels",
    "nearest": "--nearest",
    "output": "-o",
    "release": "--release",
    "strict": "--strict",
    "version": "--version",
}
#: Settings a message suggests whose option is not the parameter's name with a value.
SUGGESTIONS: dict[tuple[str, object], str] = {("wait", True): "without --no-wait"}


def spell(param: Param) -> str:
    """A library parameter as this command line spells it: ``jobs`` -> ``--jobs``,
    ``consumer='dir'`` -> ``--for dir``, ``nearest=True`` -> ``--nearest``."""
    suggestion = SUGGESTIONS.get((param.name, param.value))
    if suggestion is not None:
        return suggestion
    option = OPTIONS.get(param.name)
    if option is None:  # not an option of ours: the library's own words
        return str(param)
    if param.value is None or param.value is True:
        return option
    return f"{option} {param.value}"


def message(err: BtfmirrorError) -> str:
    """The one line the command line prints for ``err``: its parameters as our options."""
    return err.render(spell)


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
    """Turn expected failures into one red line on stderr and the error's exit code, and
    anything else (a bug) into one ``internal error:`` line and :attr:`ExitCode.UNEXPECTED`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except BtfmirrorError as err:
            err_console.print(
                f"error: {message(err)}",
                style="bold red",
                markup=False,
                highlight=False,
                soft_wrap=True,
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
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # typer's own exits and usage errors (Exit is a RuntimeError)
        except Exception as err:  # a bug: no failure the library names; one line, code 4
            if os.environ.get(DEBUG_ENV) == "1":
                traceback.print_exc()
                hint = REPORT_HINT
            else:
                hint = f"{REPORT_HINT} ({DEBUG_ENV}=1 prints the traceback)"
            err_console.print(
                f"internal error: {type(err).__name__}: {err}; {hint}",
                style="bold red",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(ExitCode.UNEXPECTED) from None

    wrapper.__btfmirror_handled__ = True  # type: ignore[attr-defined]
    return wrapper
