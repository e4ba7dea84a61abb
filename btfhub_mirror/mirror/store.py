"""The cache directory: catalog, git mirrors, the archive work tree, and the lock.

Layout of the cache (``$BTFHUB_CACHE`` or the platform cache directory)::

    README              who owns this directory
    .lock               flock: exclusive while a run writes, shared while one reads archives
    catalog.sqlite3     the catalog (see ``catalog/``), and in its ``remotes`` table the remotes
                        the cache was synced from, which the next sync reuses
    git/<name>.git      one bare, blobless, shallow mirror per remote
    archive/            <distro>/<version>/<arch>/<release>.btf.tar.xz, laid out exactly like
                        btfhub-archive (codename symlinks included), usable as an archive dir
    index/              <distro>/<version>/<arch>/<release>.btf.btfmidx: the saved index of
                        each kernel pack or check opened (:mod:`..btf.index`), derived data

Every file is written to a temporary name in its directory and renamed into place, so a crash
never leaves a half-written archive under its real name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..archive import ARCHIVE_SUFFIX
from ..catalog import connect, migrate
from ..catalog.db import close_writer, quick_check, typed_errors
from ..catalog.migrations import SCHEMA_VERSION, pending, schema_version
from ..catalog.queries import (
    CountRow,
    KernelEntry,
    OfferedAlias,
    RemoteRow,
    counts,
    get_meta,
    remotes,
    select_entries,
)
from ..errors import (
    CacheError,
    CatalogCorruptError,
    CatalogError,
    FileWriteError,
    NotFoundError,
    RemoteContentError,
)
from ..fsutil import write_atomic, write_atomic_with
from ..kernels import KernelFilter, sorted_names
from ..paths import CACHE_ENV, cache_dir
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

    @property
    def index_root(self) -> Path:
        return self.root / "index"

    def index_dir_for(self, entry: KernelEntry) -> Path:
        """Where the saved index of a mirror kernel lives (``pack`` and ``check`` share it):
        ``index/<distro>/<version>/<arch>``, so ``archive/`` stays a pure btfhub layout."""
        return self.index_root / posixpath.dirname(entry.path)

    def check_layout(self) -> None:
        """CacheError when what is there is not a cache layout: the cache (or a parent) a file,
        ``archive/`` or ``git/`` not a directory, ``.lock`` or the catalog not a plain file.
        Reads only; a cache not created yet passes."""
        try:
            root = os.stat(self.root)
        except FileNotFoundError:
            return
        except OSError as err:  # ENOTDIR: a parent is a file; EACCES: cannot get there
            raise CacheError(f"{self.root}: cannot use as the cache: {err.strerror}") from None
        if not stat.S_ISDIR(root.st_mode):
            raise CacheError(f"{self.root}: the cache is not a directory (check ${CACHE_ENV})")
        for directory in (self.archive_dir, self.git_dir):
            if os.path.lexists(directory) and not directory.is_dir():
                raise CacheError(f"{directory}: not a directory (move it out of the cache)")
        for name, path in (("lock", self.lock_path), ("catalog", self.catalog_path)):
            # A symlinked lock could make O_CREAT create a file outside the cache.
            if os.path.lexists(path) and (path.is_symlink() or not path.is_file()):
                raise CacheError(f"{path}: the cache {name} is not a plain file (remove it)")

    def writable(self) -> bool:
        """Whether this process may create files in the cache (False on a read-only mount,
        or without permission; root passes permission checks but not a read-only mount)."""
        return all(
            os.access(d, os.W_OK)
            for d in (self.root, self.archive_dir, self.git_dir)
            if os.path.isdir(d)
        )

    def ensure(self) -> None:
        """Create the cache layout if needed; CacheError, with nothing created, when the cache
        is not laid out as one or is read-only."""
        self.check_layout()
        if os.path.isdir(self.root) and not self.writable():
            raise CacheError(f"{self.root}: the cache is read-only (this command writes it)")
        try:
            for directory in (self.root, self.archive_dir, self.git_dir):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CacheError(
                f"{err.filename or self.root}: cannot create the cache: {err.strerror}"
            ) from None
        readme = self.root / "README"
        if not readme.exists():
            write_atomic(readme, README_TEXT.encode())

    def lock(
        self, *, wait: bool = True, progress: Progress = NULL_PROGRESS, shared: bool = False
    ) -> contextlib.AbstractContextManager[None]:
        """Exclusive use of the cache, or ``shared`` with other readers; see
        :func:`cache_lock`. A shared lock creates nothing (readers may use a read-only cache)."""
        if shared:
            self.check_layout()
        else:
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
        self.check_layout()
        if not self.catalog_path.exists():
            raise NotFoundError(f"no catalog in {self.root}: run `btfmirror sync` first")

    def open_existing_catalog(self) -> sqlite3.Connection:
        """The catalog for writing; NotFoundError when nothing was ever synced here."""
        self.require_catalog()
        self.ensure()
        return self._open()

    def _open(self) -> sqlite3.Connection:
        conn = connect(self.catalog_path)
        try:
            with typed_errors(self.catalog_path):
                migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def writing_catalog(
        self, *, repair: bool = False
    ) -> Iterator[tuple[sqlite3.Connection, Path | None]]:
        """The catalog for writing (the caller holds the exclusive lock), and where a corrupt
        one was moved to. Without ``repair`` the catalog must exist; with it (``sync``), one is
        created if needed and a corrupt one moved aside and created anew (it is derived data:
        the caller rebuilds it from the mirror). SQLite errors of the block become
        CatalogError; the WAL is folded into the main file on the way out."""
        if repair:
            self.ensure()
            conn, aside = self._open_repairing()
        else:
            conn, aside = self.open_existing_catalog(), None
        try:
            with typed_errors(self.catalog_path):
                yield conn, aside
        finally:
            close_writer(conn)

    def _open_repairing(self) -> tuple[sqlite3.Connection, Path | None]:
        if not self.catalog_path.exists():
            return self._open(), None
        try:
            conn = self._open()
        except CatalogCorruptError:
            pass
        else:
            # Bad pages in a table or index surface only when read: check them all now, as
            # the sync that follows reads and rewrites most of the catalog anyway.
            if quick_check(self.catalog_path) is None:
                return conn, None
            conn.close()
        aside = self._move_aside()
        return self._open(), aside

    def _move_aside(self) -> Path:
        """Rename the corrupt catalog (and its -wal/-shm, which must never meet a new main
        file: SQLite would replay that log into it) to ``catalog.sqlite3.corrupt-<time>``."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self.catalog_path.with_name(f"{self.catalog_path.name}.corrupt-{stamp}")
        n = 1
        while os.path.lexists(aside):
            n += 1
            aside = aside.with_name(f"{self.catalog_path.name}.corrupt-{stamp}-{n}")
        try:
            for suffix in ("-wal", "-shm", ""):
                part = Path(f"{self.catalog_path}{suffix}")
                if os.path.lexists(part):
                    os.replace(part, f"{aside}{suffix}")
        except OSError as err:
            raise CatalogError(
                f"catalog {self.catalog_path} is corrupt and cannot be moved aside: {err.strerror}"
            ) from None
        return aside

    @contextlib.contextmanager
    def reading_catalog(self) -> Iterator[sqlite3.Connection]:
        """The catalog opened read-only, for commands that only read it (list, status, the
        selection of pack and check); NotFoundError when nothing was ever synced here.

        In a writable cache it is opened ``query_only`` (see :func:`~..catalog.db.connect`). In
        a cache this process cannot write (a read-only mount or copy) it is opened
        ``immutable``, as SQLite could create no ``-shm`` there; committed pages still in a
        ``-wal`` (a writer killed before its checkpoint) are read from a private copy.
        SQLite errors of the block become CatalogError (CatalogCorruptError for damage).
        """
        self.require_catalog()
        writable = self.writable()
        if writable:
            with typed_errors(self.catalog_path):
                self._migrate_if_needed()
        conn, immutable = self._connect_readonly(writable)
        try:
            with typed_errors(self.catalog_path, immutable=immutable):
                version = schema_version(conn)
                pending(conn)  # CatalogError for a schema newer than ours
                if version < SCHEMA_VERSION:
                    raise CatalogError(
                        f"catalog {self.catalog_path} has schema version {version}, older than "
                        f"{SCHEMA_VERSION}, and the cache is read-only: run `btfmirror sync` "
                        "where it is writable to upgrade it"
                    )
                yield conn
        finally:
            conn.close()

    def _migrate_if_needed(self) -> None:
        with contextlib.closing(connect(self.catalog_path, query_only=True)) as probe:
            behind = pending(probe)
        if behind:
            close_writer(self._open())

    def _connect_readonly(self, writable: bool) -> tuple[sqlite3.Connection, bool]:
        if writable:
            return connect(self.catalog_path, query_only=True), False
        wal = Path(f"{self.catalog_path}-wal")
        if not (wal.is_file() and wal.stat().st_size > 0):
            return connect(self.catalog_path, readonly=True, immutable=True), True
        # Committed pages may be in the log: a plain read-only open reads them when the -shm
        # is there too; else replay a private copy of both files into memory.
        conn = connect(self.catalog_path, readonly=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn, False
        except sqlite3.OperationalError:
            conn.close()
        return self._snapshot(wal), False

    def _snapshot(self, wal: Path) -> sqlite3.Connection:
        memory = sqlite3.connect(":memory:", isolation_level=None)
        try:
            with tempfile.TemporaryDirectory(prefix="btfmirror-catalog-") as tmp:
                copy = Path(tmp) / self.catalog_path.name
                shutil.copyfile(self.catalog_path, copy)
                shutil.copyfile(wal, f"{copy}-wal")
                with (
                    typed_errors(self.catalog_path),
                    contextlib.closing(sqlite3.connect(copy, isolation_level=None)) as replayed,
                ):
                    replayed.backup(memory)
        except OSError as err:
            memory.close()
            raise CatalogError(
                f"catalog {self.catalog_path}: cannot read its write-ahead log in a "
                f"read-only cache: {err.strerror or err}"
            ) from None
        except BaseException:
            memory.close()
            raise
        return memory

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
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FileWriteError(f"{target}: cannot write: {err.strerror or err}") from err
        self.local_file(path)  # again: mkdir may have met a symlink planted meanwhile
        write_atomic_with(target, fill, parents=False)
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


def _tree_usage(root: Path) -> tuple[int, int]:
    """Bytes and number of the files under ``root`` (links not followed)."""
    total = files_seen = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
                files_seen += 1
    return total, files_seen


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
    with store.reading_catalog() as conn:
        rows = select_entries(
            conn,
            flt,
            root=store.archive_dir,
            local_only=local_only,
            include_removed=include_removed,
        )
    return ListResult(tuple(rows), flt.describe())


@dataclass(frozen=True, slots=True)
class DirCount:
    """The entries of one ``<distro>/<version>/<arch>`` directory a selection takes."""

    distro: str
    version: str
    arch: str
    version_aliases: tuple[str, ...]
    entries: int
    local: int
    removed: int
    local_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "distro": self.distro,
            "version": self.version,
            "arch": self.arch,
            "version_aliases": list(self.version_aliases),
            "entries": self.entries,
            "local": self.local,
            "removed": self.removed,
            "local_bytes": self.local_bytes,
        }


@dataclass(frozen=True, slots=True)
class DirsResult:
    """What ``btfmirror list --distros`` shows: entries per distro, version and arch."""

    dirs: tuple[DirCount, ...]
    selection: str

    @property
    def entries(self) -> int:
        return sum(d.entries for d in self.dirs)

    @property
    def local(self) -> int:
        return sum(d.local for d in self.dirs)

    @property
    def removed(self) -> int:
        return sum(d.removed for d in self.dirs)

    def to_json(self) -> dict[str, Any]:
        return {
            "selection": self.selection,
            "totals": {"entries": self.entries, "local": self.local, "removed": self.removed},
            "dirs": [d.to_json() for d in self.dirs],
        }


def list_dirs(store: Store, flt: KernelFilter, *, local_only: bool = False) -> DirsResult:
    """Entries per ``<distro>/<version>/<arch>`` among the catalog rows ``flt`` selects, in
    natural order (``9`` before ``10``): what there is to select from."""
    groups: dict[tuple[str, str, str], list[KernelEntry]] = {}
    for entry in list_kernels(store, flt, local_only=local_only).entries:
        groups.setdefault((entry.distro, entry.version, entry.arch), []).append(entry)
    order = {name: i for i, name in enumerate(sorted_names(v for _, v, _ in groups))}
    dirs = [
        DirCount(
            distro,
            version,
            arch,
            tuple(sorted({a for e in rows if not e.removed for a in e.version_aliases})),
            len(rows),
            sum(e.is_local for e in rows),
            sum(e.removed for e in rows),
            sum(e.archive_size or 0 for e in rows if e.is_local),
        )
        for (distro, version, arch), rows in sorted(
            groups.items(), key=lambda g: (g[0][0], order[g[0][1]], g[0][2])
        )
    ]
    return DirsResult(tuple(dirs), flt.describe())


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
    index_bytes: int = 0
    index_files: int = 0

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
                {
                    "distro": c.distro,
                    "arch": c.arch,
                    "entries": c.total,
                    "local": c.local,
                    "removed": c.removed,
                    "local_bytes": c.local_bytes,
                }
                for c in self.counts
            ],
            "disk": {
                "archive": self.archive_bytes,
                "git": self.git_bytes,
                "catalog": self.catalog_bytes,
                "index": self.index_bytes,
                "index_files": self.index_files,
            },
        }


def cache_status(store: Store) -> StatusResult:
    """Remotes, tips, counts per distro and arch, disk use and last sync of the cache."""
    with store.reading_catalog() as conn:
        remote_rows = tuple(remotes(conn))
        count_rows = tuple(counts(conn))
        last_sync = get_meta(conn, "last_sync")
        version = schema_version(conn)
    catalog_bytes = sum(
        p.stat().st_size for p in store.root.glob("catalog.sqlite3*") if p.is_file()
    )
    index_bytes, index_files = _tree_usage(store.index_root)
    return StatusResult(
        cache_dir=store.root,
        remotes=remote_rows,
        counts=count_rows,
        last_sync=last_sync,
        schema_version=version,
        archive_bytes=_tree_usage(store.archive_dir)[0],
        git_bytes=_tree_usage(store.git_dir)[0],
        catalog_bytes=catalog_bytes,
        index_bytes=index_bytes,
        index_files=index_files,
    )


def iter_local_files(store: Store) -> Iterator[Path]:
    """Every archive file in the work tree (symlinks excluded)."""
    for path in store.archive_dir.rglob(f"*{ARCHIVE_SUFFIX}"):
        if not path.is_symlink():
            yield path
