"""A :class:`~btfhub_mirror.progress.Progress` for the terminal.

On a terminal it draws a rich progress bar per phase (objects, bytes as git reports them, files);
otherwise (a pipe, a CI log) it prints one plain line per phase and per note. Use it as a
context manager around the library call::

    with RichProgress() as progress:
        result = sync(store, flt, progress=progress)
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ._console import err_console


class RichProgress:
    """Progress on stderr: live bars on a terminal, plain lines elsewhere."""

    def __init__(self, console: Console | None = None, *, live: bool | None = None) -> None:
        self._console = console or err_console
        self._live = self._console.is_terminal if live is None else live
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""

    def __enter__(self) -> RichProgress:
        if self._live:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}", markup=False),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish_task()
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _finish_task(self) -> None:
        if self._bar is not None and self._task is not None:
            task = self._bar.tasks[-1]
            if task.total is not None:
                self._bar.update(self._task, completed=task.total)
            self._bar.stop_task(self._task)
        self._task = None

    def phase(self, label: str, total: int | None = None) -> None:
        self._finish_task()
        self._label = label
        if self._bar is not None:
            self._task = self._bar.add_task(label, total=total, detail="")
        else:
            suffix = f" ({total})" if total else ""
            self._console.print(f"{label}{suffix}", markup=False, highlight=False, soft_wrap=True)

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        if self._bar is not None and self._task is not None:
            if detail is not None:
                self._bar.update(self._task, advance=steps, detail=detail)
            else:
                self._bar.advance(self._task, steps)

    def note(self, message: str) -> None:
        self._console.print(message, markup=False, highlight=False, style="yellow", soft_wrap=True)
