"""The cache directory: catalog, git mirrors, the archive work tree, and the lock.

Layout of the cache (``$BTFHUB_CACHE`` or the platform cache directory)::

    README              who owns this directory
    .lock               flock: exclusive while a run writes, shared while one reads archives
    catalog.sqlite3     the catalog (see ``catalog/``)
    git/<name>.git      one bare, blobless, shallow mirror per remote
    archive/            <distro>/<version>/<arch>/<release>.btf.tar.xz, laid out exactly like
                        btfhub-archive (codename symlinks included), usable as an archive dir

Every file is written to a temporary name in its directory and renamed into place, so a crash
never leaves a half-written archive under its real name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..catalog import connect, migrate
from ..catalog.migrations import schema_version
from ..catalog.queries import (
    CountRow,
    KernelEntry,
    OfferedAlias,
    RemoteRow,
    counts,
    get_meta,
    record_btf,
    remotes,
    select_entries,
)
from ..errors import CatalogError, FileWriteError, NotFoundError, RemoteContentError
from ..fsutil import write_atomic
from ..kernels import KernelFilter
from ..paths import cache_dir
from ..progress import NULL_PROGRESS, Progress
from .lock import cache_lock

README_TEXT = """\
This directory is btfmirror's cache (https://github.com/aquasecurity/btfhub-archive, mirrored
selectively). archive/ is laid out like btfhub-archive and can be used as an archive directory.
Delete the whole directory to start over; do not edit catalog.sqlite3 or git/ by hand.
"""


#: Longest file name on Linux (NAME_MAX); a longer tree entry could never be written.
NAME_MAX = 255


def unsafe_name(name: str) -> str | None:
    """Why one component of an archive path cannot be a file name under ``archive/``, or None.

    Git does not check fetched trees by default (``transfer.fsckObjects`` is off), so a remote
    can send ``..``, ``.``, empty names, names with ``/``, control characters (a newline would
    forge rows of ``btfmirror list``) or bytes that are not UTF-8.
    """
    if name in ("", ".", ".."):
        return f"the name {name!r} is not a plain file name"
    if "/" in name:
        return "a name holds a path separator"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "a name holds a control character (NUL, newline, tab, ...)"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "a name is not UTF-8"
    if size > NAME_MAX:
        return f"a name is longer than {NAME_MAX} bytes"
    return None


def unsafe_path(path: str) -> str | None:
    """Why an archive path (``/``-separated, relative) is refused, or None when it is safe."""
    if path.startswith("/"):
        return "the path is absolute"
    return next((r for r in map(unsafe_name, path.split("/")) if r is not None), None)


@dataclass(frozen=True, slots=True)
class Store:
    """A btfmirror cache directory."""

    root: Path

    @classmethod
    def default(cls) -> Store:
        return cls(cache_dir())

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.sqlite3"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    @property
    def git_dir(self) -> Path:
        return self.root / "git"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def ensure(self) -> None:
        """Create the cache layout if needed."""
        for directory in (self.root, self.archive_dir, self.git_dir):
            directory.mkdir(parents=True, exist_ok=True)
        readme = self.root / "README"
        if not readme.exists():
            write_atomic(readme, README_TEXT.encode())

    def lock(
        self, *, wait: bool = True, progress: Progress = NULL_PROGRESS, shared: bool = False
    ) -> contextlib.AbstractContextManager[None]:
        """Exclusive use of the cache, or ``shared`` with other readers; see
        :func:`cache_lock`."""
        self.ensure()
        return cache_lock(
            self.lock_path,
            wait=wait,
            on_wait=lambda: progress.note(f"waiting for another btfmirror using {self.root}"),
            shared=shared,
        )

    def open_catalog(self) -> sqlite3.Connection:
        """The catalog, created and migrated to the current schema if needed."""
        self.ensure()
        return self._open()

    def require_catalog(self) -> None:
        """NotFoundError when nothing was ever synced here (creates nothing)."""
        if not self.catalog_path.exists():
            raise NotFoundError(f"no catalog in {self.root}: run `btfmirror sync` first")

    def open_existing_catalog(self) -> sqlite3.Connection:
        """The catalog for reading; NotFoundError when nothing was ever synced here."""
        self.require_catalog()
        return self._open()

    def _open(self) -> sqlite3.Connection:
        conn = connect(self.catalog_path)
        try:
            migrate(conn)
        except sqlite3.DatabaseError as err:
            conn.close()
            raise CatalogError(
                f"catalog {self.catalog_path}: {err} (delete it; the next sync rebuilds it)"
            ) from err
        return conn

    def record_btf(self, path: str, raw_btf: bytes) -> None:
        """Remember the raw BTF size and sha256 of an archive entry once it was extracted."""
        with contextlib.closing(self.open_existing_catalog()) as conn:
            record_btf(conn, path, len(raw_btf), hashlib.sha256(raw_btf).hexdigest())

    def repo_path(self, url: str) -> Path:
        """Where the mirror of ``url`` lives: a readable tail plus a hash of the whole URL."""
        parts = [p.removesuffix(".git") for p in re.split(r"[/:]+", url)]
        tail = re.sub(r"[^A-Za-z0-9._-]+", "_", next((p for p in reversed(parts) if p), "remote"))
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        return self.git_dir / f"{tail}-{digest}.git"

    def local_file(self, path: str) -> Path:
        """Where archive path ``path`` lives; RemoteContentError unless that is inside
        ``archive/`` (its name checked, its directory resolved through any symlink)."""
        reason = unsafe_path(path)
        target = self.archive_dir / path
        if reason is None:
            root = self.archive_dir.resolve()
            parent = target.parent.resolve()
            if parent != root and not parent.is_relative_to(root):
                reason = f"its directory resolves to {parent}, outside {root}"
        if reason is not None:
            raise RemoteContentError(f"archive path {path!r} refused: {reason}")
        return target

    def write_archive(self, path: str, fill: Callable[[BinaryIO], object]) -> Path:
        """Write archive path ``path`` through a temporary file that ``fill`` writes into,
        renamed into place; the temporary file is removed when ``fill`` raises."""
        target = self.local_file(path)
        tmp: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.local_file(path)  # again: mkdir may have met a symlink planted meanwhile
            fd, tmp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
            )
            with os.fdopen(fd, "wb") as out:
                fill(out)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            tmp = None
        except OSError as err:
            raise FileWriteError(f"{target}: cannot write: {err.strerror or err}") from err
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return target


def link_aliases(store: Store, aliases: list[OfferedAlias]) -> int:
    """Recreate the archive's symlinks whose target exists locally; returns how many exist."""
    made = 0
    for alias in aliases:
        if alias.kind == "dangling":
            continue
        try:
            link = store.local_file(alias.path)
            target = store.local_file(alias.target)
        except RemoteContentError:
            continue  # sync refused the name already; never link outside archive/
        if not target.exists():
            continue
        relative = os.path.relpath(target, link.parent)
        if link.is_symlink() and os.readlink(link) == relative:
            made += 1
            continue
        if link.exists() and not link.is_symlink():
            continue  # a real directory or file is there: never replace user data with a link
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".{link.name}.link-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(relative, tmp)
        os.replace(tmp, link)
        made += 1
    return made


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


@dataclass(frozen=True, slots=True)
class ListResult:
    """Catalog rows selected by ``btfmirror list``."""

    entries: tuple[KernelEntry, ...]
    selection: str

    def to_json(self) -> dict[str, Any]:
        return {
            "selection": self.selection,
            "count": len(self.entries),
            "entries": [e.to_json() for e in self.entries],
        }


def list_kernels(
    store: Store, flt: KernelFilter, *, local_only: bool = False, include_removed: bool = True
) -> ListResult:
    """Catalog rows matching ``flt`` (local or not), sorted by kernel version."""
    with contextlib.closing(store.open_existing_catalog()) as conn:
        rows = select_entries(
            conn, flt, root=store.archive_dir, local_only=local_only,
            include_removed=include_removed,
        )
    return ListResult(tuple(rows), flt.describe())


@dataclass(frozen=True, slots=True)
class StatusResult:
    """What ``btfmirror status`` shows."""

    cache_dir: Path
    remotes: tuple[RemoteRow, ...]
    counts: tuple[CountRow, ...]
    last_sync: str | None
    schema_version: int
    archive_bytes: int
    git_bytes: int
    catalog_bytes: int

    @property
    def total(self) -> int:
        return sum(c.total for c in self.counts)

    @property
    def local(self) -> int:
        return sum(c.local for c in self.counts)

    @property
    def removed(self) -> int:
        return sum(c.removed for c in self.counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "cache_dir": str(self.cache_dir),
            "last_sync": self.last_sync,
            "schema_version": self.schema_version,
            "remotes": [
                {"url": r.url, "tip": r.tip, "branch": r.branch, "last_sync": r.last_sync}
                for r in self.remotes
            ],
            "totals": {"entries": self.total, "local": self.local, "removed": self.removed},
            "counts": [
                {"distro": c.distro, "arch": c.arch, "entries": c.total, "local": c.local,
                 "removed": c.removed, "local_bytes": c.local_bytes}
                for c in self.counts
            ],
            "disk": {"archive": self.archive_bytes, "git": self.git_bytes,
                     "catalog": self.catalog_bytes},
        }


def cache_status(store: Store) -> StatusResult:
    """Remotes, tips, counts per distro and arch, disk use and last sync of the cache."""
    with contextlib.closing(store.open_existing_catalog()) as conn:
        remote_rows = tuple(remotes(conn))
        count_rows = tuple(counts(conn))
        last_sync = get_meta(conn, "last_sync")
        version = schema_version(conn)
    catalog_bytes = sum(
        p.stat().st_size for p in store.root.glob("catalog.sqlite3*") if p.is_file()
    )
    return StatusResult(
        cache_dir=store.root,
        remotes=remote_rows,
        counts=count_rows,
        last_sync=last_sync,
        schema_version=version,
        archive_bytes=_tree_bytes(store.archive_dir),
        git_bytes=_tree_bytes(store.git_dir),
        catalog_bytes=catalog_bytes,
    )


def iter_local_files(store: Store) -> Iterator[Path]:
    """Every archive file in the work tree (symlinks excluded)."""
    for path in store.archive_dir.rglob("*.btf.tar.xz"):
        if not path.is_symlink():
            yield path
