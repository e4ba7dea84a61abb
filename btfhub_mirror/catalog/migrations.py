"""Numbered, append-only schema migrations, tracked in ``PRAGMA user_version``.

Migration *n* (1-based) brings the schema from version n-1 to n; it runs in the same
transaction as the version bump, so a crash leaves the catalog at one version or the next.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import CatalogError
from .db import transaction


def _v1_initial(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE remotes (
            url TEXT PRIMARY KEY,
            position INTEGER NOT NULL,
            tip TEXT,
            branch TEXT,
            last_sync TEXT
        )"""
    )
    conn.execute(
        """CREATE TABLE entries (
            path TEXT PRIMARY KEY,            -- <distro>/<version>/<arch>/<release>.btf.tar.xz
            distro TEXT NOT NULL,
            version TEXT NOT NULL,
            arch TEXT NOT NULL,
            release TEXT NOT NULL,
            kmajor INTEGER, kminor INTEGER, kpatch INTEGER, kbuild INTEGER,
            flavour TEXT,
            version_aliases TEXT NOT NULL DEFAULT '',   -- codename symlinks: 'focal'
            blob_oid TEXT NOT NULL,
            remote TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            removed INTEGER NOT NULL DEFAULT 0,
            removed_at TEXT,
            local_state TEXT NOT NULL DEFAULT 'absent'
                CHECK (local_state IN ('absent', 'present', 'stale')),
            archive_size INTEGER,
            btf_size INTEGER,
            btf_sha256 TEXT,
            fetched_at TEXT
        )"""
    )
    conn.execute(
        "CREATE INDEX entries_order ON entries "
        "(distro, version, arch, kmajor, kminor, kpatch, kbuild, release)"
    )
    conn.execute(
        """CREATE TABLE aliases (
            path TEXT PRIMARY KEY,            -- a symlink in the archive: ubuntu/focal
            target TEXT NOT NULL,             -- what it resolves to: ubuntu/20.04
            kind TEXT NOT NULL CHECK (kind IN ('dir', 'file', 'dangling')),
            remote TEXT NOT NULL,
            removed INTEGER NOT NULL DEFAULT 0
        )"""
    )
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1_initial,)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def pending(conn: sqlite3.Connection) -> int:
    """How many migrations the catalog still needs; CatalogError if it is newer than us."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise CatalogError(
            f"catalog schema version {current} is newer than this btfmirror understands "
            f"({SCHEMA_VERSION}); upgrade btfmirror"
        )
    return SCHEMA_VERSION - current


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every pending migration, each with its version bump in one transaction."""
    applied = 0
    while pending(conn):
        with transaction(conn):
            # Re-read inside the write lock: another process may have migrated meanwhile.
            current = schema_version(conn)
            if current >= SCHEMA_VERSION:
                break
            MIGRATIONS[current](conn)
            conn.execute(f"PRAGMA user_version = {current + 1}")
        applied += 1
    return applied
