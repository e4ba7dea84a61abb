"""Local archives checked against the blob ids the catalog records, and put right.

A ``.btf.tar.xz`` in the cache is the git blob the catalog names (git's blob id: sha1 of
``"blob <len>\\0"`` and the contents), so a truncated or overwritten file shows as a different
id before any xz or tar reader sees it. Readers (``pack``, ``check``) verify what they are about
to read and have a damaged file rewritten, from the mirror's copy of the blob or fetched from its
remote, instead of failing later with "truncated xz data" or blaming bpftool.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog.queries import STALE, KernelEntry, get_entry
from ..errors import DamagedArchiveError, FileWriteError, GitCommandError, RemoteContentError
from ..fsutil import write_atomic
from ..kernels import KernelFilter
from ..progress import NULL_PROGRESS, Progress
from .store import Store, list_kernels

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class DamagedArchive:
    """A local archive whose contents are not the blob its catalog row names."""

    entry: KernelEntry
    actual: str | None  # the file's blob id; None when it is missing or unreadable


def file_blob_id(path: Path) -> str | None:
    """git's blob id of the file at ``path`` (``git hash-object``): sha1 of ``"blob <size>\\0"``
    then the contents, read in pieces. None for a symlink or a file that cannot be read.

    hashlib rather than pygit2, so a reader that finds everything intact never loads git."""
    try:
        with open(path, "rb", opener=_no_follow) as handle:
            size = os.fstat(handle.fileno()).st_size
            digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
            return digest.hexdigest()
    except OSError:
        return None


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def local_blob_id(store: Store, entry: KernelEntry) -> str | None:
    """The blob id of ``entry``'s local file; None when absent, unreadable, a symlink, or a
    path outside the cache's ``archive/`` (never read)."""
    try:
        return file_blob_id(store.local_file(entry.path))
    except RemoteContentError:
        return None


#: Under ``<cache>/index/``: what each local archive hashed to, with its stat (:class:`KnownIds`).
KNOWN_IDS_FILE = "archive-blob-ids.json"
#: A file changed this recently (ns) may change again within one tick of the file system's
#: clock without its times moving: such a hash is not remembered (git's "racily clean").
RACY_NS = 2_000_000_000


class KnownIds:
    """Blob ids of local archives remembered with the stat of the file they were hashed from.

    ``pack`` and ``check`` verify every archive they read on every run; hashing 130 MB of
    unchanged archives again was a tenth of a warm pack. As git's index spares unchanged files,
    a file whose size, mtime, ctime and inode are the ones it was hashed with is taken to hash
    the same: rewriting a file changes its ctime, which no tool can set back. The record is a
    cache: lost, unreadable or unwritable (read-only cache), everything is hashed as before.
    What it cannot see is a file damaged in place with all four kept (bit rot on the disk).
    """

    def __init__(self, store: Store):
        self.store = store
        self.path = store.root / "index" / KNOWN_IDS_FILE
        self.known: dict[str, list[object]] = {}
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(self.path.read_bytes())
            if isinstance(doc, dict):
                self.known = {k: v for k, v in doc.items() if isinstance(v, list) and len(v) == 5}
        self.seen: dict[str, list[object]] = {}

    def blob_id(self, entry: KernelEntry) -> str | None:
        """:func:`local_blob_id`, from the record where the file is as it was when hashed."""
        try:
            st = os.stat(self.store.local_file(entry.path), follow_symlinks=False)
        except (OSError, RemoteContentError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        signature: list[object] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        known = self.known.get(entry.path)
        # Only an intact file is taken on trust: a damaged one is hashed again, so a wrong
        # record costs a hash, never a repair.
        if known is not None and known[:4] == signature and known[4] == entry.blob_oid:
            self.seen[entry.path] = known
            return entry.blob_oid
        actual = local_blob_id(self.store, entry)
        if actual is not None and time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS:
            self.seen[entry.path] = [*signature, actual]
        return actual

    def save(self) -> None:
        """Keep what was seen this run (the other records too: another selection's kernels)."""
        merged = {**self.known, **self.seen}
        if merged == self.known:
            return
        data = json.dumps(merged, sort_keys=True, separators=(",", ":")).encode()
        with contextlib.suppress(FileWriteError):  # a read-only cache: hashed again next time
            write_atomic(self.path, data)


def damaged_archives(
    store: Store,
    entries: Sequence[KernelEntry],
    *,
    stale: bool = False,
    known: KnownIds | None = None,
) -> list[DamagedArchive]:
    """Every entry whose local file does not hash to its catalog blob id. Reads only.

    ``stale``: also every kernel the catalog already knows to be damaged or out of date
    (``stale``: a repair that could not fetch, a blob changed upstream) whose file is there,
    so "every local kernel" never drops one silently. ``known``: blob ids remembered from
    earlier runs (:class:`KnownIds`), for the files unchanged since."""
    out = []
    if stale:
        listed = {e.path for e in entries}
        entries = [
            *entries,
            *(
                e
                for e in list_kernels(store, KernelFilter.create(), include_removed=False).entries
                if e.local_state == STALE
                and e.path not in listed
                and (store.archive_dir / e.path).is_file()
            ),
        ]
    for entry in entries:
        actual = local_blob_id(store, entry) if known is None else known.blob_id(entry)
        if actual != entry.blob_oid:
            out.append(DamagedArchive(entry, actual))
    return out


def repair_archives(
    store: Store,
    damaged: Sequence[DamagedArchive],
    progress: Progress = NULL_PROGRESS,
    *,
    wait: bool = True,
) -> None:
    """Rewrite each damaged archive, under the exclusive lock, from the blob in the mirror or
    fetched from the remote; :class:`DamagedArchiveError` (naming ``btfmirror sync --repair``)
    when one can be had from neither (offline, or the remote lost it)."""
    if not damaged:
        return
    # git and pygit2: only when something needs fetching
    from .sync import fetch_for_reader, local_remotes

    with store.lock(wait=wait, progress=progress), store.writing_catalog() as (conn, _):
        repos = local_remotes(store, conn)
        wanted = []
        for item in damaged:
            entry = get_entry(conn, item.entry.path) or item.entry
            if entry.remote not in repos:
                raise DamagedArchiveError(
                    str(store.local_file(entry.path)),
                    entry.blob_oid,
                    item.actual,
                    f"its remote {entry.remote} has no mirror in {store.root}",
                )
            wanted.append(entry)
        try:
            fetch_for_reader(store, conn, repos, wanted, progress)
        except GitCommandError as err:
            first = damaged[0]
            more = f" (and {len(damaged) - 1} more damaged)" if len(damaged) > 1 else ""
            raise DamagedArchiveError(
                str(store.local_file(first.entry.path)),
                first.entry.blob_oid,
                first.actual,
                f"{err}{more}",
            ) from err
