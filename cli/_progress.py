"""A :class:`~btfhub_mirror.progress.Progress` for the terminal.

On a terminal it draws a rich progress bar per phase (objects, bytes as git reports them, files);
otherwise (a pipe, a CI log) it prints one plain line per phase and per note. Use it as a
context manager around the library call::

    with RichProgress() as progress:
        result = sync(store, flt, progress=progress)
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from ._console import err_console, real_console

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

#: Widest the phase label may be on a live bar (80 columns: label 36, bar 16, count, ETA).
LABEL_WIDTH = 36
BAR_WIDTH = 16


class RichProgress:
    """Progress on stderr: live bars on a terminal, plain lines elsewhere."""

    def __init__(self, console: Console | None = None, *, live: bool | None = None) -> None:
        self._console = real_console(console or err_console)
        self._live = self._console.is_terminal if live is None else live
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""

    def __enter__(self) -> RichProgress:
        if self._live:
            from rich.progress import (  # a live bar only: rich loads on use
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.table import Column

            # Fixed-width label (cut with an ellipsis), bar, count and ETA first: at 80 columns
            # they all stay visible; git's detail (bytes, rate) takes what is left, if any.
            self._bar = Progress(
                SpinnerColumn(finished_text=" "),
                TextColumn(
                    "{task.description}",
                    markup=False,
                    table_column=Column(max_width=LABEL_WIDTH, no_wrap=True, overflow="ellipsis"),
                ),
                BarColumn(bar_width=BAR_WIDTH),
                MofNCompleteColumn(),
                TimeRemainingColumn(elapsed_when_finished=True),
                TextColumn(
                    "{task.fields[detail]}",
                    markup=False,
                    table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
                ),
                console=self._console,
                transient=False,
                expand=True,
            )
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Interrupted or failed: the bar stays where the work stopped, never shown as complete.
        self._finish_task(completed=exc_type is None)
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _finish_task(self, *, completed: bool = True) -> None:
        if self._bar is not None and self._task is not None:
            task = self._bar.tasks[-1]
            if completed:
                # A phase of unknown length ends at what it counted: finished, so its spinner
                # stops (rich spins a task without a total for ever).
                total = task.total if task.total is not None else task.completed
                self._bar.update(self._task, total=total, completed=total)
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
