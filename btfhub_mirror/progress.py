"""How long-running library calls report progress without printing.

The library calls a :class:`Progress`; the command line passes one that draws a rich progress
bar on a terminal (or prints one line per phase otherwise). :data:`NULL_PROGRESS` ignores all.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receiver of progress events from long operations."""

    def phase(self, label: str, total: int | None = None) -> None:
        """A new phase starts; ``total`` is the number of steps when known."""

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        """``steps`` more steps of the current phase are done."""

    def note(self, message: str) -> None:
        """Something worth telling the user (a warning, a retry) happened."""


class NullProgress:
    """A :class:`Progress` that ignores everything."""

    def phase(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        pass

    def note(self, message: str) -> None:
        pass


NULL_PROGRESS: Progress = NullProgress()


def count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: ``1 kernel``, ``2 kernels``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
