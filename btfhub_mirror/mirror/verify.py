"""Local archives checked against the blob ids the catalog records, and put right.

A ``.btf.tar.xz`` in the cache is the git blob the catalog names (git's blob id: sha1 of
``"blob <len>\\0"`` and the contents), so a truncated or overwritten file shows as a different
id before any xz or tar reader sees it. Readers (``pack``, ``check``) verify what they are about
to read and have a damaged file rewritten, from the mirror's copy of the blob or fetched from its
remote, instead of failing later with "truncated xz data" or blaming bpftool.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog.queries import STALE, KernelEntry, get_entry
from ..errors import DamagedArchiveError, GitCommandError, RemoteContentError
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


def damaged_archives(
    store: Store, entries: Sequence[KernelEntry], *, stale: bool = False
) -> list[DamagedArchive]:
    """Every entry whose local file does not hash to its catalog blob id. Reads only.

    ``stale``: also every kernel the catalog already knows to be damaged or out of date
    (``stale``: a repair that could not fetch, a blob changed upstream) whose file is there,
    so "every local kernel" never drops one silently."""
    out = []
    if stale:
        known = {e.path for e in entries}
        entries = [*entries, *(
            e for e in list_kernels(store, KernelFilter.create(), include_removed=False).entries
            if e.local_state == STALE and e.path not in known
            and (store.archive_dir / e.path).is_file()
        )]  # fmt: skip
    for entry in entries:
        actual = local_blob_id(store, entry)
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
    from .sync import DEFAULT_CHUNK, _materialize, _Skips, _Work, local_remotes

    with store.lock(wait=wait, progress=progress), store.writing_catalog() as (conn, _):
        repos = local_remotes(store, conn)
        wanted = []
        for item in damaged:
            entry = get_entry(conn, item.entry.path) or item.entry
            if entry.remote not in repos:
                raise DamagedArchiveError(
                    str(store.local_file(entry.path)), entry.blob_oid, item.actual,
                    f"its remote {entry.remote} has no mirror in {store.root}",
                )  # fmt: skip
            wanted.append(entry)
        try:
            _materialize(
                store, conn, repos, wanted, DEFAULT_CHUNK, progress,
                _Work(_Skips(progress), index=False),  # the reader that asked indexes them
            )
        except GitCommandError as err:
            first = damaged[0]
            more = f" (and {len(damaged) - 1} more damaged)" if len(damaged) > 1 else ""
            raise DamagedArchiveError(
                str(store.local_file(first.entry.path)), first.entry.blob_oid, first.actual,
                f"{err}{more}",
            ) from err  # fmt: skip
