"""SIGTERM (or SIGINT) to btfmirror while git talks to a slow remote: no git outlives the lock.

The remote is real and slow: ``uploadpack.packObjectsHook`` (honoured from the global config
only, here a private ``$HOME``) makes its upload-pack sleep before it packs anything, so
``git clone`` / ``git fetch`` sit waiting for it when the signal comes.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO

from .gitfixtures import Origin

HOOK = '#!/bin/sh\necho $$ >> "{pids}"\nsleep 30\nexec "$@"\n'


def _alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            for child in map(int, children):
                if child not in out:
                    out.add(child)
                    todo.append(child)
    return out


def _slow_env(tmp_path: Path, cache: Path) -> tuple[dict[str, str], Path]:
    home = tmp_path / "home"
    home.mkdir()
    pids = tmp_path / "hook.pids"
    hook = tmp_path / "slow-pack-objects"
    hook.write_text(HOOK.format(pids=pids))
    hook.chmod(0o755)
    (home / ".gitconfig").write_text(f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
    env = {
        **os.environ,
        "HOME": str(home),
        "BTFHUB_CACHE": str(cache),
        "PYTHONPATH": str(REPO),
        "COLUMNS": "80",
    }
    env.pop("GIT_CONFIG_NOSYSTEM", None)
    return env, pids


def _btfmirror(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from cli.app import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as from a service manager: not the test's process group
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("stage", ["clone", "fetch"])
def test_signal_ends_git_before_the_lock_is_released(
    stage: str, sig: signal.Signals, origin: Origin, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    fast = {**os.environ, "BTFHUB_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    if stage == "fetch":  # the catalog first, at full speed: the blobs then come slowly
        done = subprocess.run(
            [sys.executable, "-c", "from cli.app import main; main()", "sync", "-r", origin.url],
            env=fast,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    env, pids = _slow_env(tmp_path, cache)
    proc = _btfmirror("sync", "-d", "debian", "-r", origin.url, env=env)
    try:
        deadline = time.monotonic() + 60
        while not pids.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert pids.exists(), proc.communicate()[1]
        git_pids = _descendants(proc.pid)
        assert git_pids, "no git running under btfmirror"
        hook_pids = {int(p) for p in pids.read_text().split()}
        os.kill(proc.pid, sig)
        # The moment the cache lock is free, nothing btfmirror started may still run.
        lock = os.open(cache / ".lock", os.O_RDONLY) if (cache / ".lock").exists() else None
        assert lock is not None
        deadline = time.monotonic() + 30
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "the lock was never released"
                time.sleep(0.01)
        survivors = {p for p in git_pids | hook_pids if _alive(p)}
        os.close(lock)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not survivors, f"still running after the lock was released: {survivors}"
    expected = {signal.SIGTERM: (143, "terminated"), signal.SIGINT: (130, "interrupted")}[sig]
    assert (proc.returncode, err.strip().splitlines()[-1]) == expected, err
    assert "Traceback" not in err
    assert not list(cache.glob("git/*.partial-*"))
