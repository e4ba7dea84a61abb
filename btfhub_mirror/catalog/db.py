"""SQLite connections for the catalog: explicit transactions, WAL, foreign keys.

Connections run with ``isolation_level=None`` so Python's sqlite3 never opens or commits a
transaction behind our back (it would commit DDL on its own); every write goes through
:func:`transaction`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import CatalogError

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the catalog at ``path`` (``":memory:"`` for tests) with btfmirror's pragmas."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        else:
            conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly and str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as err:
        raise CatalogError(f"catalog {path}: cannot open: {err}") from err
    return conn


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
