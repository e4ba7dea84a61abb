"""Index archives while ``sync`` fetches: the saved per-kernel index, built in worker processes.

``pack`` and ``check`` open each kernel through its saved index (:func:`~..btf.index.open_indexed`):
without one they decompress the ``.btf.tar.xz``, walk every type and build the essential-name
table first, which costs more than the minimizing itself. ``sync`` knows each archive the
moment its file is written, while git still transfers the next batch: an :class:`Indexer`
hands it to a pool of worker processes (xz and the walk are CPU-bound; one per core), so
decompressing overlaps the download and a ``pack`` after ``sync`` only reads indexes.

Bounded: a worker reads one archive at a time, through the same capped readers as every other
path (:data:`~..archive.MAX_BTF_SIZE`, the xz memory limit). An archive that cannot be read is
not an error of the sync (its file is what the remote holds): it comes back as an
:class:`IndexFailure`, and ``pack`` reports it again when it meets it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from ..archive import MAX_BTF_SIZE
from ..btf.index import has_current_index, open_indexed
from ..errors import BtfmirrorError
from ..procs import quiet_worker
from ..progress import Progress, count


@dataclass(frozen=True, slots=True)
class IndexTask:
    """One archive: its catalog path, local file and index directory."""

    path: str
    local: str
    index_dir: str


@dataclass(frozen=True, slots=True)
class IndexFailure:
    """An archive sync could not index (corrupt xz or tar, not BTF, over a cap): kept as the
    remote has it, and left for ``pack`` to report."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: not indexed: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class _Stopped(BaseException):
    """SIGTERM in a worker: unwinds the task (an index being written leaves no temporary
    file), then the worker exits instead of taking the next task."""


def index_archive(task: IndexTask) -> IndexFailure | None:
    """Write the saved index of one archive (a worker's task); why not, or None."""
    try:
        # The readers' own cap, checked before anything is read: a huge blob that is no
        # archive costs no memory (read_capped would read up to the cap first).
        size = os.stat(task.local).st_size
        if size > MAX_BTF_SIZE:
            return IndexFailure(
                task.path, f"the archive is {size} bytes, over the readers' {MAX_BTF_SIZE}-byte cap"
            )
        open_indexed(task.local, index_dir=Path(task.index_dir))
    except (BtfmirrorError, OSError) as err:
        return IndexFailure(task.path, str(err))
    except MemoryError:
        return IndexFailure(task.path, "out of memory while indexing")
    except _Stopped:
        os._exit(128 + signal.SIGTERM)
    return None


def needs_index(task: IndexTask) -> bool:
    return not has_current_index(task.local, index_dir=Path(task.index_dir))


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


def _init_worker(parent_pid: int) -> None:
    quiet_worker(parent_pid)
    signal.signal(signal.SIGTERM, _stop)


def _context() -> multiprocessing.context.BaseContext:
    # As pack's pool (see pack._pool_context): fork is cheap; the worker never prints.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class Indexer:
    """Archives indexed in the background, in submission order per worker.

    The pool starts at the first :meth:`submit` (all its processes at once: forked before any
    other thread of ours starts). :meth:`finish` waits for every task; :meth:`close` ends the
    workers, so on Ctrl-C or SIGTERM no worker outlives the cache lock held around it.
    """

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._pending: dict[cf.Future[IndexFailure | None], str] = {}  # -> catalog path
        self.indexed = 0
        self.failures: list[IndexFailure] = []

    def submit(self, task: IndexTask) -> None:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=_context(),
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
        self._pending[self._pool.submit(index_archive, task)] = task.path

    def finish(self, progress: Progress) -> None:
        """Wait for every archive submitted; failures are collected, never raised."""
        if not self._pending:
            return
        waiting = {f for f in self._pending if not f.done()}  # what the phase counts
        if waiting:
            progress.phase(f"indexing {count(len(waiting), 'archive')}", len(waiting))
        try:
            for future in cf.as_completed(self._pending):
                try:
                    failure = future.result()
                except cf.process.BrokenProcessPool:
                    raise
                except Exception as err:  # a reader's bug on odd input: still not the sync's
                    failure = IndexFailure(self._pending[future], f"cannot index: {err!r}")
                if failure is None:
                    self.indexed += 1
                else:
                    self.failures.append(failure)
                if future in waiting:
                    progress.advance(1)
        except cf.process.BrokenProcessPool as err:
            # A worker killed (out of memory): the archives are local all the same, and pack
            # indexes what is left; not a reason to fail the sync.
            done = self.indexed + len(self.failures)
            self.failures.append(
                IndexFailure(
                    "",
                    f"a worker process died ({err}); {len(self._pending) - done} archive(s) "
                    "left for pack to index",
                )
            )
        finally:
            self._pending.clear()

    def close(self) -> None:
        """End the pool: at once when tasks are still queued (an interrupted sync), else after
        the workers exit."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        unfinished = any(not f.done() for f in self._pending)
        # Taken before shutdown, which forgets them. A running task would go on writing its
        # index for up to seconds after the lock is released, and the public API cannot end a
        # running task (before Python 3.14): SIGTERM unwinds it (see _stop).
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=not unfinished, cancel_futures=True)
        if unfinished:
            for proc in workers:
                proc.terminate()
            for proc in workers:
                proc.join()
        self._pending.clear()
