"""What a pack worker process runs: minimize one kernel for the objects it was started with.

Kept apart from :mod:`.pack` so a worker imports the minimizer only (no git, no catalog): a
forkserver or spawn start stays cheap. Exceptions do not cross the process boundary (the typed
errors do not all pickle); a kernel that cannot be read comes back as ``Outcome.error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..btf.index import open_indexed
from ..elf import BpfObject
from ..errors import BtfmirrorError
from ..minimize import minimize
from ..procs import die_with_parent, quiet_worker


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


def init_worker(
    objects: list[tuple[str, bytes]], ignore_sigint: bool, parent_pid: int | None = None
) -> None:
    """Parse the objects once per process, named by file name so outputs never vary."""
    if ignore_sigint:  # a pool worker
        quiet_worker(parent_pid)
    elif parent_pid is not None:
        die_with_parent(parent_pid)
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
