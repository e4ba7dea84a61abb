"""What a pack worker process runs: minimize one kernel for the objects it was started with.

Kept apart from :mod:`.pack` so a worker imports the minimizer only (no git, no catalog): a
forkserver or spawn start stays cheap. Exceptions do not cross the process boundary (the typed
errors do not all pickle); a kernel that cannot be read comes back as ``Outcome.error``.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from ..btf.index import open_indexed
from ..elf import BpfObject
from ..errors import BtfmirrorError
from ..minimize import minimize


@dataclass(frozen=True, slots=True)
class Task:
    """One kernel: its catalog path, local ``.btf.tar.xz`` and index directory."""

    path: str
    local: str
    index_dir: str
    #: keep only the first matching candidate where libbpf refuses a relocation (see minimize)
    first_match: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """The minimized BTF of one kernel (``data`` None and ``error`` set when unreadable)."""

    path: str
    data: bytes | None
    warnings: tuple[str, ...] = ()
    relocations: int = 0
    unmatched: int = 0
    index_reused: bool = False
    error: str | None = None
    load_failures: tuple[str, ...] = ()  # relocations libbpf refuses with the full BTF too


_OBJECTS: list[BpfObject] = []


#: prctl(2) option: the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when the parent dies (Linux; elsewhere nothing).

    A pool worker blocks reading the pool's pipe; after a ``kill -9`` of the parent it would
    wait there forever. The parent may have died before the prctl took effect: then the
    parent pid has already changed (re-parented to init or a subreaper), and we leave at once.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def init_worker(
    objects: list[tuple[str, bytes]], ignore_sigint: bool, parent_pid: int | None = None
) -> None:
    """Parse the objects once per process, named by file name so outputs never vary."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    if ignore_sigint:  # a pool worker
        # Ctrl-C reaches the whole process group: the parent alone decides what happens.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # A forked worker may hold copies of stream locks another parent thread held at fork
        # time; it never writes, so it must never flush them either (multiprocessing flushes
        # sys.stdout and sys.stderr at exit).
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (lives as long as we do)
    _OBJECTS[:] = [BpfObject.from_bytes(data, source=name) for name, data in objects]


def reset() -> None:
    _OBJECTS.clear()


def minimize_kernel(task: Task) -> Outcome:
    """Minimize one kernel through its saved index (written on first use)."""
    try:
        btf, reused = open_indexed(task.local, index_dir=Path(task.index_dir))
        result = minimize(btf, _OBJECTS, first_match=task.first_match)
    except (BtfmirrorError, OSError) as err:
        return Outcome(task.path, None, error=str(err))
    # A relocation libbpf refuses with the full BTF: the kernel is listed as failing to load.
    return Outcome(
        task.path, result.data, tuple(result.warnings), result.relocations, result.unmatched,
        reused, load_failures=tuple(f.warning for f in result.failures),
    )  # fmt: skip
