"""SQLite connections for the catalog: explicit transactions, WAL, foreign keys.

Connections run with ``isolation_level=None`` so Python's sqlite3 never opens or commits a
transaction behind our back (it would commit DDL on its own); every write goes through
:func:`transaction`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import CatalogCorruptError, CatalogError

BUSY_TIMEOUT_MS = 30_000
#: SQLite's result codes for a damaged file (bad pages, truncated) and for a file that is not
#: a database at all; any other error (locked, I/O, read-only) is not called corrupt.
CORRUPT_CODES = frozenset(
    {
        "SQLITE_CORRUPT",
        "SQLITE_CORRUPT_INDEX",
        "SQLITE_CORRUPT_SEQUENCE",
        "SQLITE_CORRUPT_VTAB",
        "SQLITE_NOTADB",
    }
)
#: Problems ``PRAGMA quick_check`` may list; the first few are enough to say what is wrong.
QUICK_CHECK_ROWS = 3


def _uri(path: Path | str, *params: str) -> str:
    # Quoted: a cache path with '?', '#' or '%' would otherwise end the file name early.
    return f"file:{urllib.parse.quote(os.path.abspath(path))}?{'&'.join(params)}"


def connect(
    path: Path | str,
    *,
    readonly: bool = False,
    immutable: bool = False,
    query_only: bool = False,
) -> sqlite3.Connection:
    """Open the catalog at ``path`` (``":memory:"`` for tests) with btfmirror's pragmas.

    ``readonly`` opens it ``mode=ro``; ``immutable`` also tells SQLite that nothing changes it,
    so it reads the main file alone and needs no ``-shm``/``-wal`` (which it could not create in
    a read-only directory). Only for a catalog whose writer checkpointed on close (see
    :func:`close_writer`): SQLite ignores a ``-wal`` file then.

    ``query_only`` is for readers in a writable cache: an existing file opened ``mode=rw`` with
    ``PRAGMA query_only``, so SQL cannot change it, yet, unlike a ``mode=ro`` connection, its
    close removes the ``-wal``/``-shm`` it needed (a read leaves the directory as it was).
    """
    try:
        if readonly:
            params = ("mode=ro", "immutable=1") if immutable else ("mode=ro",)
            conn = sqlite3.connect(_uri(path, *params), uri=True, isolation_level=None)
        elif query_only:
            conn = sqlite3.connect(_uri(path, "mode=rw"), uri=True, isolation_level=None)
            conn.execute("PRAGMA query_only = ON")
        else:
            conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not (readonly or query_only) and str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as err:
        raise catalog_error(path, err, "cannot open") from err
    return conn


def close_writer(conn: sqlite3.Connection) -> None:
    """Close a writing connection after folding its WAL into the main file.

    SQLite checkpoints on the last close only; a reader open at that moment (``list``) leaves
    committed pages in ``-wal``, which a reader of a read-only copy of the cache (``immutable``)
    would not see. TRUNCATE empties the log; when a reader still holds it, it is a no-op
    (SQLite reports busy, the next writer's close folds it in).
    """
    try:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def quick_check(path: Path | str, *, immutable: bool = False) -> str | None:
    """What ``PRAGMA quick_check`` finds wrong with the catalog at ``path``; None when it
    passes. Opens its own read-only connection (the failing one may be unusable)."""
    try:
        with contextlib.closing(
            sqlite3.connect(
                _uri(path, "mode=ro", *(("immutable=1",) if immutable else ())),
                uri=True,
                isolation_level=None,
            )
        ) as conn:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as err:
        if getattr(err, "sqlite_errorname", "") in CORRUPT_CODES:
            return str(err)
        return None  # cannot tell (locked, unreadable): not called corrupt
    if rows == ["ok"]:
        return None
    return "; ".join(rows[:QUICK_CHECK_ROWS]) + (" ..." if len(rows) > QUICK_CHECK_ROWS else "")


def catalog_error(
    path: Path | str, err: sqlite3.Error, action: str = "cannot read", *, immutable: bool = False
) -> CatalogError:
    """The typed error for ``err`` met while using the catalog at ``path``: CatalogCorruptError
    when SQLite says the file is damaged or ``quick_check`` finds it so, else CatalogError."""
    if str(path) != ":memory:" and isinstance(err, sqlite3.DatabaseError):
        if getattr(err, "sqlite_errorname", "") in CORRUPT_CODES:
            return CatalogCorruptError(str(path), str(err))
        problem = quick_check(path, immutable=immutable)
        if problem is not None:
            return CatalogCorruptError(str(path), problem)
    return CatalogError(f"catalog {path}: {action}: {err}")


@contextlib.contextmanager
def typed_errors(path: Path | str, *, immutable: bool = False) -> Iterator[None]:
    """Raise every sqlite3 error of the block as :func:`catalog_error` says."""
    try:
        yield
    except sqlite3.Error as err:
        raise catalog_error(path, err, immutable=immutable) from err


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic unit: BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception (Ctrl-C too).

    Nested use becomes a savepoint, so helpers can be transactional on their own and still
    compose into a caller's transaction.
    """
    if conn.in_transaction:
        name = f"sp_{uuid.uuid4().hex}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # An error may already have ended the transaction (SQLITE_FULL and friends).
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
