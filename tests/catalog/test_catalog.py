from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from btfhub_mirror.catalog import SCHEMA_VERSION, connect, migrate, transaction
from btfhub_mirror.catalog.migrations import MIGRATIONS, schema_version
from btfhub_mirror.catalog.queries import (
    OfferedAlias,
    OfferedEntry,
    apply_offer,
    counts,
    mark_local,
    select_entries,
)
from btfhub_mirror.errors import CatalogError
from btfhub_mirror.kernels import KernelFilter


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(connect(tmp_path / "catalog.sqlite3")) as db:
        migrate(db)
        yield db


def offer(path: str, oid: str = "a" * 40, remote: str = "file:///r") -> OfferedEntry:
    distro, version, arch, name = path.split("/")
    return OfferedEntry(path, distro, version, arch, name.removesuffix(".btf.tar.xz"), oid, remote)


def test_migrate_from_empty_and_is_idempotent(tmp_path: Path) -> None:
    with contextlib.closing(connect(tmp_path / "c.sqlite3")) as db:
        assert schema_version(db) == 0
        assert migrate(db) == len(MIGRATIONS)
        assert schema_version(db) == SCHEMA_VERSION
        assert migrate(db) == 0
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"entries", "aliases", "remotes", "meta"} <= tables
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    with contextlib.closing(connect(tmp_path / "c.sqlite3")) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        with pytest.raises(CatalogError, match="newer"):
            migrate(db)


def test_failed_migration_leaves_the_old_version(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    with contextlib.closing(connect(path)) as db:
        db.execute("CREATE TABLE entries (x)")  # a clash makes migration 1 fail half-way
        with pytest.raises(sqlite3.OperationalError):
            migrate(db)
        assert schema_version(db) == 0
        assert (
            db.execute("SELECT count(*) FROM sqlite_master WHERE name='remotes'").fetchone()[0] == 0
        )


def test_transaction_rolls_back_and_nests(conn: sqlite3.Connection) -> None:
    with pytest.raises(KeyboardInterrupt), transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('a', '1')")
        raise KeyboardInterrupt
    assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    with transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('b', '1')")
        with pytest.raises(ValueError), transaction(conn):
            conn.execute("INSERT INTO meta VALUES ('c', '1')")
            raise ValueError
    assert [r[0] for r in conn.execute("SELECT key FROM meta")] == ["b"]


def test_apply_offer_adds_changes_removes_restores(conn: sqlite3.Connection) -> None:
    a, b, c = (f"ubuntu/20.04/x86_64/5.4.0-{n}-generic.btf.tar.xz" for n in (1, 2, 3))
    first = apply_offer(conn, [offer(a), offer(b)], [], "t1")
    assert set(first.added) == {a, b}
    with transaction(conn):
        mark_local(conn, a, "present", archive_size=10)
    second = apply_offer(conn, [offer(a, "b" * 40), offer(c)], [], "t2")
    assert second.added == (c,) and second.changed == (a,) and second.removed == (b,)
    rows = {e.path: e for e in select_entries(conn, KernelFilter())}
    assert rows[a].local_state == "stale" and rows[a].blob_oid == "b" * 40
    assert rows[b].removed and rows[b].first_seen == "t1" and rows[b].last_seen == "t1"
    third = apply_offer(conn, [offer(a, "b" * 40), offer(b), offer(c)], [], "t3")
    assert third.restored == (b,) and not third.added and not third.removed
    assert not select_entries(conn, KernelFilter.create(distros=["ubuntu"]))[1].removed


def test_codename_aliases_select_by_either_name(conn: sqlite3.Connection) -> None:
    entries = [
        offer("ubuntu/20.04/arm64/5.4.0-26-generic.btf.tar.xz"),
        offer("ubuntu/18.04/arm64/4.15.0-20-generic.btf.tar.xz"),
    ]
    aliases = [OfferedAlias("ubuntu/focal", "ubuntu/20.04", "dir", "file:///r")]
    apply_offer(conn, entries, aliases, "t")
    by_codename = select_entries(conn, KernelFilter.create(versions=["focal"]))
    assert [e.path for e in by_codename] == [entries[0].path]
    assert by_codename[0].version_aliases == ("focal",)
    assert by_codename[0].kernel_version == "5.4.0" and by_codename[0].build == 26


def test_counts(conn: sqlite3.Connection) -> None:
    paths = [
        f"centos/8/{arch}/4.18.0-{n}.el8.btf.tar.xz"
        for arch in ("x86_64", "arm64")
        for n in range(3)
    ]
    apply_offer(conn, [offer(p) for p in paths], [], "t")
    with transaction(conn):
        mark_local(conn, paths[0], "present", archive_size=100)
    rows = {(c.distro, c.arch): c for c in counts(conn)}
    assert rows[("centos", "x86_64")].total == 3 and rows[("centos", "x86_64")].local == 1
    assert rows[("centos", "x86_64")].local_bytes == 100
    assert rows[("centos", "arm64")].local == 0
    entry = select_entries(conn, KernelFilter(), local_only=True)
    assert [e.path for e in entry] == [paths[0]]


def test_select_orders_by_kernel_version_and_is_fast(conn: sqlite3.Connection) -> None:
    entries = [
        offer(f"ol/{v}/x86_64/{maj}.{mnr}.0-{n}.el{v}.x86_64.btf.tar.xz")
        for v in (7, 8)
        for maj, mnr in ((4, 14), (5, 4), (4, 1))
        for n in range(1700)
    ]
    apply_offer(conn, entries, [], "t")
    started = time.perf_counter()
    rows = select_entries(conn, KernelFilter.create(kernels=[">=4.14"]))
    elapsed = time.perf_counter() - started
    assert len(rows) == 2 * 2 * 1700
    keys = [(r.version, r.kernel_version, r.build) for r in rows if r.version == "7"]
    assert keys == sorted(keys, key=lambda k: (k[0], tuple(map(int, k[1].split("."))), k[2]))
    assert elapsed < 1.0, f"selecting from 10,200 entries took {elapsed:.2f}s"
