"""Every SQL statement of the catalog; rows come back as frozen dataclasses."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..kernels import NO_BUILD, ArchiveDir, KernelFilter, parse_release
from .db import transaction

ABSENT, PRESENT, STALE = "absent", "present", "stale"


@dataclass(frozen=True, slots=True)
class OfferedEntry:
    """One ``<distro>/<version>/<arch>/<release>.btf.tar.xz`` blob a remote offers."""

    path: str
    distro: str
    version: str
    arch: str
    release: str
    blob_oid: str
    remote: str


@dataclass(frozen=True, slots=True)
class OfferedAlias:
    """A symlink in the archive tree (``ubuntu/focal`` → ``ubuntu/20.04``)."""

    path: str
    target: str
    kind: str  # 'dir', 'file' or 'dangling'
    remote: str


class KernelEntry(NamedTuple):
    """One catalog row: an archive entry the remotes offer (or once offered).

    Immutable like the frozen dataclasses elsewhere; a NamedTuple because ``list`` builds
    10,000 of these and a tuple is several times cheaper to create.
    """

    path: str
    distro: str
    version: str
    arch: str
    release: str
    kernel_version: str | None  # '5.15.0', None when the release is not a version
    build: int | None
    flavour: str
    version_aliases: tuple[str, ...]
    blob_oid: str
    remote: str
    first_seen: str
    last_seen: str
    removed: bool
    local_state: str  # 'absent', 'present' or 'stale' (the file is an older blob)
    archive_size: int | None
    local_path: Path | None  # set when the file is present in the work tree

    @property
    def is_local(self) -> bool:
        return self.local_state == PRESENT

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "distro": self.distro,
            "version": self.version,
            "arch": self.arch,
            "release": self.release,
            "kernel_version": self.kernel_version,
            "build": self.build,
            "flavour": self.flavour,
            "version_aliases": list(self.version_aliases),
            "blob_oid": self.blob_oid,
            "remote": self.remote,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "removed": self.removed,
            "local_state": self.local_state,
            "archive_size": self.archive_size,
            "local_path": str(self.local_path) if self.local_path else None,
        }


@dataclass(frozen=True, slots=True)
class CatalogChanges:
    """What one sync changed in the catalog."""

    added: tuple[str, ...]
    changed: tuple[str, ...]  # same path, new blob
    removed: tuple[str, ...]  # no remote offers it any more (its local file is kept)
    restored: tuple[str, ...]  # was removed, offered again


@dataclass(frozen=True, slots=True)
class RemoteRow:
    url: str
    position: int
    tip: str | None
    branch: str | None
    last_sync: str | None


@dataclass(frozen=True, slots=True)
class CountRow:
    distro: str
    arch: str
    total: int
    local: int
    removed: int
    local_bytes: int


_ENTRY_COLUMNS = (
    "path, distro, version, arch, release, kmajor, kminor, kpatch, kbuild, flavour, "
    "version_aliases, blob_oid, remote, first_seen, last_seen, removed, local_state, "
    "archive_size"
)


def _entry(row: Sequence[Any], root: Path | None) -> KernelEntry:
    (
        path,
        distro,
        version,
        arch,
        release,
        kmajor,
        kminor,
        kpatch,
        kbuild,
        flavour,
        aliases,
        oid,
        remote,
        first_seen,
        last_seen,
        removed,
        state,
        asize,
    ) = row
    return KernelEntry(
        path=path,
        distro=distro,
        version=version,
        arch=arch,
        release=release,
        kernel_version=None if kmajor is None else f"{kmajor}.{kminor}.{kpatch}",
        build=None if kbuild is None or kbuild == NO_BUILD else kbuild,
        flavour=flavour or "",
        version_aliases=tuple(aliases.split(",")) if aliases else (),
        blob_oid=oid,
        remote=remote,
        first_seen=first_seen,
        last_seen=last_seen,
        removed=bool(removed),
        local_state=state,
        archive_size=asize,
        local_path=(root / path) if root is not None and state == PRESENT else None,
    )


def _version_aliases(aliases: Iterable[OfferedAlias]) -> dict[tuple[str, str], str]:
    """(distro, version dir) → comma-joined codenames linking to it."""
    names: dict[tuple[str, str], list[str]] = defaultdict(list)
    for alias in aliases:
        link, target = alias.path.split("/"), alias.target.split("/")
        if alias.kind == "dir" and len(link) == 2 and len(target) == 2 and link[0] == target[0]:
            names[(target[0], target[1])].append(link[1])
    return {key: ",".join(sorted(v)) for key, v in names.items()}


def _insert_row(entry: OfferedEntry, aliases: str, now: str) -> tuple[Any, ...]:
    parsed = parse_release(entry.release)
    kver = (parsed.major, parsed.minor, parsed.patch, parsed.build) if parsed else (None,) * 4
    flavour = parsed.flavour if parsed else ""
    return (
        entry.path,
        entry.distro,
        entry.version,
        entry.arch,
        entry.release,
        *kver,
        flavour,
        aliases,
        entry.blob_oid,
        entry.remote,
        now,
        now,
    )


def apply_offer(
    conn: sqlite3.Connection,
    offered: Sequence[OfferedEntry],
    aliases: Sequence[OfferedAlias],
    now: str,
) -> CatalogChanges:
    """Make the catalog match what the remotes offer now, in one transaction.

    New paths are added; a path whose blob changed becomes ``stale`` if it was local; paths no
    remote offers are marked removed (their files stay); removed paths offered again return.
    """
    alias_names = _version_aliases(aliases)
    with transaction(conn):
        known = {
            path: (oid, bool(removed))
            for path, oid, removed in conn.execute("SELECT path, blob_oid, removed FROM entries")
        }
        added, changed, restored, inserts, updates = [], [], [], [], []
        for entry in offered:
            names = alias_names.get((entry.distro, entry.version), "")
            old = known.get(entry.path)
            if old is None:
                added.append(entry.path)
                inserts.append(_insert_row(entry, names, now))
                continue
            if old[0] != entry.blob_oid:
                changed.append(entry.path)
            if old[1]:
                restored.append(entry.path)
            updates.append((entry.blob_oid, entry.remote, names, now, entry.path))
        conn.executemany(
            f"INSERT INTO entries ({_ENTRY_COLUMNS.rsplit(', removed', 1)[0]}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            inserts,
        )
        conn.executemany(
            """UPDATE entries SET
                 local_state = CASE WHEN blob_oid != ?1 AND local_state = 'present'
                                    THEN 'stale' ELSE local_state END,
                 blob_oid = ?1, remote = ?2, version_aliases = ?3, last_seen = ?4,
                 removed = 0, removed_at = NULL
               WHERE path = ?5""",
            updates,
        )
        offered_paths = {e.path for e in offered}
        removed = [p for p, (_, gone) in known.items() if not gone and p not in offered_paths]
        conn.executemany(
            "UPDATE entries SET removed = 1, removed_at = ? WHERE path = ?",
            [(now, p) for p in removed],
        )
        conn.execute("UPDATE aliases SET removed = 1")
        conn.executemany(
            """INSERT INTO aliases (path, target, kind, remote, removed) VALUES (?, ?, ?, ?, 0)
               ON CONFLICT (path) DO UPDATE SET target = excluded.target, kind = excluded.kind,
                 remote = excluded.remote, removed = 0""",
            [(a.path, a.target, a.kind, a.remote) for a in aliases],
        )
    return CatalogChanges(tuple(added), tuple(changed), tuple(sorted(removed)), tuple(restored))


def archive_dirs(conn: sqlite3.Connection) -> list[ArchiveDir]:
    """Every ``<distro>/<version>/<arch>`` the catalog has entries in (removed ones too), with
    its version's codenames."""
    dirs: dict[tuple[str, str, str], set[str]] = {}
    for distro, version, arch, aliases in conn.execute(
        "SELECT DISTINCT distro, version, arch, version_aliases FROM entries"
    ):
        dirs.setdefault((distro, version, arch), set()).update(a for a in aliases.split(",") if a)
    return [ArchiveDir(d, v, a, tuple(sorted(names))) for (d, v, a), names in dirs.items()]


def _catalog_file(conn: sqlite3.Connection) -> str:
    """The file of the connection's main database ('' in memory), for messages."""
    row = conn.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row is not None and row[2] else ""


def check_filter(conn: sqlite3.Connection, flt: KernelFilter) -> None:
    """UnknownSelectionError when a distro, version or arch of ``flt`` names nothing in the
    catalog (see :meth:`KernelFilter.check_names`); every selection goes through here."""
    if flt.distros or flt.versions or flt.arches:
        flt.check_names(archive_dirs(conn), _catalog_file(conn))


def select_entries(
    conn: sqlite3.Connection,
    flt: KernelFilter,
    *,
    root: Path | None = None,
    local_only: bool = False,
    include_removed: bool = True,
) -> list[KernelEntry]:
    """Catalog rows matching ``flt``, ordered by path; ``local_path`` is set under ``root``.

    UnknownSelectionError when the filter names a distro, version or arch the catalog does not
    have (a typo is an error, not an empty selection)."""
    check_filter(conn, flt)
    where: list[str] = []
    params: list[str] = []
    if flt.distros:
        # NOCASE folds ASCII as KernelFilter.matches does (flt.distros are folded already).
        where.append(f"distro COLLATE NOCASE IN ({','.join('?' * len(flt.distros))})")
        params.extend(flt.distros)
    if local_only:
        where.append("local_state = 'present'")
    if not include_removed:
        where.append("removed = 0")
    sql = f"SELECT {_ENTRY_COLUMNS} FROM entries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY distro, version, arch, kmajor, kminor, kpatch, kbuild, release"
    if not (flt.versions or flt.arches or flt.kernels):  # SQL did all the filtering
        return [_entry(row, root) for row in conn.execute(sql, params)]
    return [
        _entry(row, root)
        for row in conn.execute(sql, params)
        if flt.matches(row[1], row[2], row[3], row[4], row[10].split(",") if row[10] else ())
    ]


def get_entry(conn: sqlite3.Connection, path: str, root: Path | None = None) -> KernelEntry | None:
    row = conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE path = ?", (path,)).fetchone()
    return None if row is None else _entry(row, root)


def mark_local(
    conn: sqlite3.Connection,
    path: str,
    state: str,
    *,
    archive_size: int | None = None,
    now: str | None = None,
) -> None:
    """Record whether the work tree holds the entry's current blob."""
    conn.execute(
        """UPDATE entries SET local_state = ?, archive_size = coalesce(?, archive_size),
             fetched_at = coalesce(?, fetched_at) WHERE path = ?""",
        (state, archive_size, now, path),
    )


def set_remotes(
    conn: sqlite3.Connection, remotes: Sequence[tuple[str, str, str]], now: str
) -> None:
    """Replace the remote list with ``(url, tip, branch)`` in priority order."""
    with transaction(conn):
        conn.execute("DELETE FROM remotes")
        conn.executemany(
            "INSERT INTO remotes (url, position, tip, branch, last_sync) VALUES (?, ?, ?, ?, ?)",
            [(url, i, tip, branch, now) for i, (url, tip, branch) in enumerate(remotes)],
        )
        set_meta(conn, "last_sync", now)


def remotes(conn: sqlite3.Connection) -> list[RemoteRow]:
    return [
        RemoteRow(*row)
        for row in conn.execute(
            "SELECT url, position, tip, branch, last_sync FROM remotes ORDER BY position"
        )
    ]


def count_entries(conn: sqlite3.Connection) -> int:
    """Rows of the catalog, removed ones included."""
    return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])


def live_aliases(conn: sqlite3.Connection) -> list[OfferedAlias]:
    return [
        OfferedAlias(*row)
        for row in conn.execute(
            "SELECT path, target, kind, remote FROM aliases WHERE removed = 0 ORDER BY path"
        )
    ]


def counts(conn: sqlite3.Connection) -> list[CountRow]:
    """Entries per distro and arch: total, local, removed, and bytes of local archives."""
    return [
        CountRow(*row)
        for row in conn.execute(
            """SELECT distro, arch, count(*),
                      sum(local_state = 'present'), sum(removed),
                      coalesce(sum(CASE WHEN local_state = 'present' THEN archive_size END), 0)
               FROM entries GROUP BY distro, arch ORDER BY distro, arch"""
        )
    ]


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def add_removed(conn: sqlite3.Connection, entries: Sequence[OfferedEntry], now: str) -> None:
    """Add entries no remote offers any more but whose file is local (a rebuilt catalog
    learns of them from the work tree): marked removed and present, as a sync leaves them."""
    with transaction(conn):
        conn.executemany(
            f"INSERT OR IGNORE INTO entries ({_ENTRY_COLUMNS.rsplit(', removed', 1)[0]}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_insert_row(e, "", now) for e in entries],
        )
        conn.executemany(
            "UPDATE entries SET removed = 1, removed_at = ?, local_state = 'present' "
            "WHERE path = ?",
            [(now, e.path) for e in entries],
        )
