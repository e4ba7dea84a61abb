"""btfmirror on a real terminal: a tmux pane of a given size, read back as its screen rows.

tmux is the terminal emulator: it draws what btfmirror writes (rich's live bars, cursor moves,
its own line wrapping at the pane width) and ``capture-pane`` returns the rows a user sees.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import REPO, need_tool

#: Printed after the command ends, so a test knows it is done and how it ended.
EXIT_MARK = "BTFMIRROR-EXIT="
#: Whole tokens on a screen row: what a split identifier is not.
_PUNCT = ":,()[]"


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cli.app import main; main()", *args]


def cli_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "BTFHUB_CACHE": str(cache), "PYTHONPATH": str(REPO), **extra}
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM_PROGRAM"):
        if name not in extra:
            env.pop(name, None)
    return env


def run_piped(cache: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    """``btfmirror ARGS`` as in a CI log: stdout and stderr are pipes, ``COLUMNS=80``."""
    return subprocess.run(
        cli_command(*args),
        env=cli_env(cache, COLUMNS=str(columns)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Pane:
    """One tmux server (its own socket) with one pane running one btfmirror command."""

    def __init__(self, tmp: Path, width: int = 80, height: int = 60) -> None:
        need_tool("tmux")
        self.socket = tmp / "tmux.sock"
        self.width, self.height = width, height

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    def start(self, cache: Path, *args: str) -> None:
        env = cli_env(cache, TERM="xterm-256color")
        command = shlex.join(cli_command(*args))
        # A handler (not an ignore, which the command would inherit): the shell outlives a
        # Ctrl-C sent to the pane and reports how the command ended.
        script = f'trap true INT; {command}; echo "{EXIT_MARK}$?"; sleep 600'
        self._tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            "sh",
            "-c",
            script,
            env=env,
        )

    def screen(self) -> list[str]:
        """Every row of the pane (scrollback included), as drawn; trailing blanks dropped."""
        rows = self._tmux("capture-pane", "-p", "-S", "-", "-t", "0").split("\n")
        while rows and not rows[-1].strip():
            rows.pop()
        return rows

    def wait(self, pattern: str, timeout: float = 120) -> list[str]:
        """The screen once a row matches ``pattern`` (a regex)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            rows = self.screen()
            if any(regex.search(row) for row in rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"no row matches {pattern!r}:\n" + "\n".join(rows))
            time.sleep(0.05)

    def finish(self, timeout: float = 120) -> tuple[int, list[str]]:
        """The exit status and the rows before it."""
        rows = self.wait(re.escape(EXIT_MARK) + r"\d+", timeout)
        index = max(i for i, row in enumerate(rows) if EXIT_MARK in row)
        return int(rows[index].split(EXIT_MARK)[1].split()[0]), rows[:index]

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "0", *keys)

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-S", str(self.socket), "kill-server"],
            capture_output=True,
            check=False,
            timeout=30,
        )


def tokens(rows: list[str]) -> set[str]:
    """Every whitespace-separated token of the rows, surrounding punctuation stripped."""
    return {t.strip(_PUNCT) for row in rows for t in row.split()} - {""}
