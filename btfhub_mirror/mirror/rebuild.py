"""What a rebuilt catalog learns from the work tree.

The catalog is derived data: its entries come from the remotes' trees, and which of them are
local from the files under ``archive/``. When ``sync`` replaces a corrupt catalog, the offer
gives the entries (all ``absent``); this module marks each one whose file holds its blob id
``present`` again (``stale`` when the file is another blob), and adds the local files no remote
offers any more as removed entries, as the old catalog had them. Only the BTF sizes and dates
the old catalog recorded are lost.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..archive import ARCHIVE_SUFFIX
from ..catalog import OfferedEntry, transaction
from ..catalog.queries import PRESENT, STALE, add_removed, mark_local
from .store import Store, iter_local_files
from .verify import file_blob_id


@dataclass(frozen=True, slots=True)
class Restored:
    """What the work tree gave a rebuilt catalog."""

    present: int  # offered entries whose local file holds their blob
    stale: int  # offered entries whose local file is another blob
    removed: int  # local files no remote offers, kept as removed entries


def _orphan(rel: str, oid: str) -> OfferedEntry | None:
    """A removed entry for a local file at ``<distro>/<version>/<arch>/<release>.btf.tar.xz``
    (the only layout a sync writes), None for anything else."""
    parts = rel.split("/")
    if len(parts) != 4 or not all(parts) or not parts[3].endswith(ARCHIVE_SUFFIX):
        return None
    release = parts[3][: -len(ARCHIVE_SUFFIX)]
    if not release:
        return None
    return OfferedEntry(rel, parts[0], parts[1], parts[2], release, oid, "")


def restore_local_state(store: Store, conn: sqlite3.Connection, now: str) -> Restored:
    """Mark the catalog's entries local from the files in the work tree (see the module)."""
    known = dict(conn.execute("SELECT path, blob_oid FROM entries").fetchall())
    present = stale = 0
    orphans: list[tuple[OfferedEntry, int]] = []
    with transaction(conn):
        for local in iter_local_files(store):
            rel = local.relative_to(store.archive_dir).as_posix()
            oid = file_blob_id(local)
            if oid is None:
                continue  # unreadable: the sync that follows fetches it if selected
            size = local.stat().st_size
            if rel in known:
                state = PRESENT if oid == known[rel] else STALE
                mark_local(conn, rel, state, archive_size=size)
                present, stale = present + (state == PRESENT), stale + (state == STALE)
            elif (orphan := _orphan(rel, oid)) is not None:
                orphans.append((orphan, size))
        add_removed(conn, [o for o, _ in orphans], now)
        for orphan, size in orphans:
            mark_local(conn, orphan.path, PRESENT, archive_size=size)
    return Restored(present, stale, len(orphans))
