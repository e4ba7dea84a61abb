"""What a pack worker process runs: minimize a batch of kernels for the objects it was started
with.

Kept apart from :mod:`.pack` so a worker needs the minimizer only: importing this module (and
with it the ``pack`` package) loads no git, no catalog and no store (pack.pack imports those
when :func:`~.pack.pack` runs), so a spawn start stays cheap; a fork start inherits the objects
the parent already parsed (:func:`adopt_objects`). Exceptions do not cross the process boundary
(the typed errors do not all pickle); a kernel that cannot be read comes back as
``Outcome.error``.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..btf.index import index_path_for, load_index, open_indexed
from ..btf.parse import Btf
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


def parse_objects(objects: Sequence[tuple[str, bytes]]) -> list[BpfObject]:
    """The objects parsed, each named by its file name so outputs never vary."""
    return [BpfObject.from_bytes(data, source=name) for name, data in objects]


def adopt_objects(parsed: list[BpfObject]) -> None:
    """Make ``parsed`` this process's objects: forked workers inherit them unparsed again."""
    _OBJECTS[:] = parsed


def init_worker(
    objects: list[tuple[str, bytes]] | None, ignore_sigint: bool, parent_pid: int | None = None
) -> None:
    """Parse the objects once per process (None: already adopted before a fork start)."""
    if ignore_sigint:  # a pool worker
        quiet_worker(parent_pid)
    elif parent_pid is not None:
        die_with_parent(parent_pid)
    if objects is not None:
        _OBJECTS[:] = parse_objects(objects)
    # What is alive now lives as long as the worker: out of the collector's sight, so the
    # collection after each kernel (minimize_kernel) walks that kernel's objects only.
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """:func:`init_worker`'s freeze for the kernels minimized in this process (``--jobs 1``),
    undone at the end: the caller's heap stays collectable after the run."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def reset() -> None:
    _OBJECTS.clear()


def _mapped_index(task: Task) -> Btf | None:
    """The kernel's saved index, mapped rather than read: the BTF's types are decoded in place
    from the page cache (no copy of the whole file per kernel, nothing kept in this process's
    heap once the kernel is done). None when there is no valid index."""
    local = Path(task.local)
    try:
        stat = local.stat()
        with open(index_path_for(local, Path(task.index_dir)), "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # no index yet (or an empty file: ValueError)
        return None
    # load_index reads through memoryviews only: the mapping serves as the bytes it takes.
    return load_index(cast(bytes, mapped), stat.st_size, stat.st_mtime_ns, str(local))


def minimize_kernels(tasks: Sequence[Task]) -> list[Outcome]:
    """:func:`minimize_kernel` for each of a batch (one round trip to the pool for many small
    kernels)."""
    return [minimize_kernel(task) for task in tasks]


#: Kernels' BTF bytes minimized since the last collection; how many before the next one.
_UNCOLLECTED = [0]
COLLECT_EVERY = 24 * 1024 * 1024


def minimize_kernel(task: Task) -> Outcome:
    """Minimize one kernel through its saved index (written on first use); every
    :data:`COLLECT_EVERY` bytes of kernels, free the ones done.

    A kernel's parsed BTF is held in reference cycles (lookups that refer back to it), so
    reference counting never frees it: left to the collector's own pace, a worker held about
    150 MB of kernels already done (and their index mappings) on the 122-kernel corpus. A
    collection after each kernel cost 10 ms with 55 objects' relocations to walk (more than
    it saved); one per 24 MiB of BTF, over a frozen heap, bounds what is held (pack --jobs 2
    of the corpus: 132 MB PSS, was 330) and costs less than the collector's own passes did.
    """
    outcome, size = _minimize_kernel(task)
    _UNCOLLECTED[0] += size
    if _UNCOLLECTED[0] >= COLLECT_EVERY:
        gc.collect()
        _UNCOLLECTED[0] = 0
    return outcome


def _minimize_kernel(task: Task) -> tuple[Outcome, int]:
    """The outcome, and the size of the kernel's BTF."""
    try:
        btf = _mapped_index(task)
        reused = btf is not None
        if btf is None:
            btf, reused = open_indexed(task.local, index_dir=Path(task.index_dir))
        result = minimize(btf, _OBJECTS, first_match=task.first_match)
    except (BtfmirrorError, OSError) as err:
        return Outcome(task.path, None, error=str(err)), 0
    # A relocation libbpf refuses with the full BTF: the kernel is listed as failing to load.
    return Outcome(
        task.path,
        result.data,
        tuple(result.warnings),
        result.relocations,
        result.unmatched,
        reused,
        load_failures=tuple(f.warning for f in result.failures),
    ), len(btf.data)
