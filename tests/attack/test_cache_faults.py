"""Cache faults: a cache that is not laid out as one, a read-only cache, a corrupt catalog.

Every command that touches the cache (sync, list, status, pack, check) must answer a broken
layout with one typed line and a non-zero exit, and change nothing. A read-only cache (a real
read-only bind mount in a private mount namespace: the tests run as root, whom chmod does not
stop) must still serve list, status, pack and check. A catalog with garbage pages, truncated,
or not SQLite at all is reported as corrupt by the readers and rebuilt by ``sync`` from the
mirror's trees, every local file's state kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from btfhub_mirror.errors import CacheError, CatalogCorruptError
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store, cache_status, list_kernels
from btfhub_mirror.mirror.sync import sync
from tests.helpers import REPO, TESTS, need_tool, require
from tests.helpers import invoke_cli as invoke
from tests.mirror.gitfixtures import Origin, isolate_from_real_remotes

OBJ = TESTS / "bpf" / "build" / "core_fields.bpf.el.o"
KYLIN = KernelFilter.create(distros=["kylin"])


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_real_remotes(monkeypatch, tmp_path / "cache")


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    need_tool("git")
    return Origin(tmp_path_factory.mktemp("faults-origin")).build(extra=10)


@pytest.fixture
def origin(_template: Origin, tmp_path: Path) -> Origin:
    copy = Origin(tmp_path / "served")
    shutil.copytree(_template.work, copy.work, symlinks=True)
    return copy


@pytest.fixture
def synced(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A real cache: kylin local, one kernel local that upstream then removed, one stale."""
    monkeypatch.setenv("BTFHUB_REPO", origin.url)
    store = Store.default()
    sync(store, KernelFilter.create(distros=["kylin", "debian"], versions=["V10", "11"]))
    origin.remove("debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz")
    origin.commit("upstream removes a kernel")
    sync(store, KYLIN)  # the debian file stays local, its entry removed
    return store


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under ``root`` (root included): type, size, mtime, content hash."""
    out: dict[str, tuple[int, int, int, str]] = {}

    def add(path: Path) -> None:
        st = os.lstat(path)
        digest = ""
        if stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        key = str(path.relative_to(root.parent))
        out[key] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, digest)

    if os.path.lexists(root):
        add(root)
        for dirpath, dirs, files in os.walk(root):
            for name in dirs + files:
                add(Path(dirpath) / name)
    return out


def catalog_rows(store: Store) -> list[tuple[object, ...]]:
    """What a rebuild must keep: each entry's path, blob, local state, removal and size."""
    return sorted(
        (e.path, e.blob_oid, e.local_state, e.removed, e.archive_size)
        for e in list_kernels(store, KernelFilter.create()).entries
    )


# -- a cache that is not laid out as one ------------------------------------------------------


def _cache_is_file(store: Store) -> Path:
    shutil.rmtree(store.root)
    store.root.write_bytes(b"not a cache\n")
    return store.root


def _replace_with_file(name: str) -> Callable[[Store], Path]:
    def fault(store: Store) -> Path:
        shutil.rmtree(store.root / name)
        (store.root / name).write_bytes(b"a file where a directory belongs\n")
        return store.root / name

    return fault


def _lock_is_dir(store: Store) -> Path:
    store.lock_path.unlink()
    store.lock_path.mkdir()
    return store.lock_path


def _lock_is_symlink(store: Store) -> Path:
    store.lock_path.unlink()
    store.lock_path.symlink_to(store.root.parent / "elsewhere")
    return store.lock_path


FAULTS = {
    "cache-is-a-file": _cache_is_file,
    "archive-is-a-file": _replace_with_file("archive"),
    "git-is-a-file": _replace_with_file("git"),
    "lock-is-a-directory": _lock_is_dir,
    "lock-is-a-symlink": _lock_is_symlink,
}

COMMANDS = {
    "sync": ("sync", "-d", "kylin"),
    "sync-catalog-only": ("sync",),
    "list": ("list", "--json"),
    "status": ("status",),
    "pack": ("pack", str(OBJ), "-o", "{out}/min.tar.gz"),
    "pack-selection": ("pack", str(OBJ), "-d", "kylin", "-o", "{out}/min.tar.gz"),
    "check": ("check", str(OBJ), "--json"),
    "check-selection": ("check", str(OBJ), "-d", "kylin", "--json"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_broken_layout_is_one_line_and_changes_nothing(
    synced: Store, tmp_path: Path, fault: str, command: str
) -> None:
    culprit = FAULTS[fault](synced)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = snapshot(synced.root), snapshot(out_dir)
    code, out, err = invoke(*(a.format(out=out_dir) for a in COMMANDS[command]))
    line = one_line(err)
    assert code == 1 and out == ""
    assert str(culprit) in line, line
    assert "not a directory" in line or "not a plain file" in line, line
    assert (snapshot(synced.root), snapshot(out_dir)) == before
    assert not (tmp_path / "elsewhere").exists()


def test_broken_layout_raises_cache_error_from_the_library(synced: Store) -> None:
    _replace_with_file("git")(synced)
    before = snapshot(synced.root)
    for call in (
        lambda: sync(synced, KYLIN),
        lambda: list_kernels(synced, KYLIN),
        lambda: cache_status(synced),
    ):
        with pytest.raises(CacheError, match="git: not a directory"):
            call()
    assert snapshot(synced.root) == before


def test_cache_below_a_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_bytes(b"x")
    monkeypatch.setenv("BTFHUB_CACHE", str(tmp_path / "file" / "cache"))
    for args in (("sync", "-d", "kylin"), ("list",), ("status",)):
        code, out, err = invoke(*args)
        assert code == 1 and out == ""
        assert "file/cache: cannot use as the cache: Not a directory" in one_line(err)
    assert (tmp_path / "file").read_bytes() == b"x"


# -- a read-only cache ------------------------------------------------------------------------

RO_SCRIPT = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'


@pytest.fixture(scope="module")
def _read_only_mounts() -> None:
    """Skip (fail under CI) where no private mount namespace can be made (not root)."""
    need_tool("unshare")
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none "$1"', "sh", "/mnt"],
        capture_output=True,
        check=False,
    )
    require(probe.returncode == 0, f"no private mount namespace: {probe.stderr!r}")


def run_read_only(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``btfmirror ARGS`` with ``cache`` mounted read-only for it alone (root included)."""
    env = {**os.environ, "BTFHUB_CACHE": str(cache), "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            RO_SCRIPT,
            "sh",
            str(cache),
            sys.executable,
            "-c",
            "from cli.app import main; main()",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _without_seconds(doc: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in doc.items() if k != "seconds"}


@pytest.mark.needs_unshare
@pytest.mark.usefixtures("_read_only_mounts")
def test_read_only_cache_serves_list_status_pack_check(synced: Store, tmp_path: Path) -> None:
    check_args = ("check", str(OBJ), "-d", "kylin", "--json")
    invoke(*check_args)  # saves the kernels' indexes, which the read-only run then reuses
    check_rw = invoke(*check_args)
    # After the check: status counts index/ too.
    expected = {args: invoke(*args) for args in (("list", "--json"), ("status", "--json"))}
    before = snapshot(synced.root)
    for args, (code, out, _) in expected.items():
        got = run_read_only(synced.root, *args)
        assert got.returncode == code == 0, got.stderr
        assert json.loads(got.stdout) == json.loads(out)
    got = run_read_only(synced.root, *check_args)
    assert got.returncode == check_rw[0] and "Traceback" not in got.stderr, got.stderr
    assert _without_seconds(json.loads(got.stdout)) == _without_seconds(json.loads(check_rw[1]))
    packed = tmp_path / "min.tar.gz"
    got = run_read_only(synced.root, "pack", str(OBJ), "-d", "kylin", "-o", str(packed))
    assert got.returncode == 0 and packed.stat().st_size > 0, got.stderr
    assert snapshot(synced.root) == before


@pytest.mark.needs_unshare
@pytest.mark.usefixtures("_read_only_mounts")
@pytest.mark.parametrize(
    "args",
    [
        ("sync", "-d", "kylin"),
        ("sync",),
        ("pack", str(OBJ), "-d", "debian", "-o", "{out}"),
        ("check", str(OBJ), "-d", "debian", "-V", "12"),
    ],
)
def test_read_only_cache_refuses_writes_in_one_line(
    synced: Store, tmp_path: Path, args: tuple[str, ...]
) -> None:
    # pack and check of kernels not local yet would have to fetch them: they need to write.
    before = snapshot(synced.root)
    got = run_read_only(synced.root, *(a.format(out=tmp_path / "x.tar.gz") for a in args))
    assert got.returncode == 1 and got.stdout == ""
    assert f"{synced.root}: the cache is read-only" in one_line(got.stderr)
    assert snapshot(synced.root) == before
    assert not (tmp_path / "x.tar.gz").exists()


def _leave_committed_wal(store: Store, last_sync: str) -> None:
    """A writer killed after COMMIT, before any checkpoint: the commit lives in -wal only."""
    code = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute(\"UPDATE meta SET value = ? WHERE key = 'last_sync'\", (sys.argv[2],))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(store.catalog_path), last_sync], check=True)
    assert Path(f"{store.catalog_path}-wal").stat().st_size > 0


@pytest.mark.needs_unshare
@pytest.mark.usefixtures("_read_only_mounts")
@pytest.mark.parametrize("shm", [True, False], ids=["with-shm", "without-shm"])
def test_read_only_cache_sees_commits_left_in_the_wal(synced: Store, shm: bool) -> None:
    _leave_committed_wal(synced, "2099-01-01T00:00:00Z")
    if not shm:
        Path(f"{synced.catalog_path}-shm").unlink()
    before = snapshot(synced.root)
    got = run_read_only(synced.root, "status", "--json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["last_sync"] == "2099-01-01T00:00:00Z"
    got = run_read_only(synced.root, "list", "--local", "--json")
    assert got.returncode == 0 and json.loads(got.stdout)["count"] == 3, got.stderr
    assert snapshot(synced.root) == before


@pytest.mark.needs_unshare
@pytest.mark.usefixtures("_read_only_mounts")
def test_sync_checkpoints_despite_an_open_reader(origin: Origin, tmp_path: Path) -> None:
    # SQLite checkpoints on the last close only; a reader open meanwhile (a `list`) would
    # leave this sync's commits in -wal, where a read-only reader would not see them.
    store = Store.default()
    sync(store, None, [origin.url])
    with sqlite3.connect(f"file:{store.catalog_path}?mode=ro", uri=True) as reader:
        reader.execute("SELECT count(*) FROM entries").fetchone()
        result = sync(store, KYLIN, [origin.url])
        wal = Path(f"{store.catalog_path}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    shutil.copytree(store.root, tmp_path / "copy", ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    got = run_read_only(tmp_path / "copy", "list", "--local", "--json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["count"] == result.selected == 2


# -- a corrupt catalog ------------------------------------------------------------------------


def _garbage_pages(path: Path) -> None:
    """Random bytes over every page but the first (the header and schema survive, so SQLite
    opens the file and meets the damage only when it reads the entries)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 3 * page, "the catalog is too small to damage its middle"
    rng = random.Random(12)
    data[page:] = rng.randbytes(len(data) - page)
    path.write_bytes(bytes(data))


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"\x89PNG not a catalog at all\n" * 300)


CORRUPTIONS = {"garbage-pages": _garbage_pages, "truncated": _truncated, "not-sqlite": _not_sqlite}


def _corrupt(store: Store, how: str) -> None:
    # The catalog fully checkpointed first (nothing in -wal), as a finished sync leaves it.
    assert not Path(f"{store.catalog_path}-wal").exists()
    CORRUPTIONS[how](store.catalog_path)


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_corrupt_catalog_readers_say_so_and_change_nothing(
    synced: Store, tmp_path: Path, how: str
) -> None:
    _corrupt(synced, how)
    before = snapshot(synced.root)
    for args in (
        ("list",),
        ("list", "--json", "-d", "kylin"),
        ("status", "--json"),
        ("pack", str(OBJ), "-o", str(tmp_path / "p.tar.gz")),
        ("check", str(OBJ), "-d", "kylin"),
    ):
        code, out, err = invoke(*args)
        line = one_line(err)
        assert code == 1 and out == "", (args, err)
        assert f"catalog {synced.catalog_path} is corrupt" in line and "btfmirror sync" in line
    with pytest.raises(CatalogCorruptError):
        list_kernels(synced, KYLIN)
    # The damaged file itself is never touched by a reader (SQLite's -wal/-shm aside).
    after = snapshot(synced.root)
    key = str(synced.catalog_path.relative_to(synced.root.parent))
    assert after[key] == before[key]
    assert not (tmp_path / "p.tar.gz").exists()


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_sync_rebuilds_a_corrupt_catalog_keeping_local_state(synced: Store, how: str) -> None:
    rows = catalog_rows(synced)
    assert {r[2] for r in rows} == {"absent", "present"} and any(r[3] for r in rows)
    _corrupt(synced, how)
    damaged = synced.catalog_path.read_bytes()
    code, out, err = invoke("sync", "--json")
    assert code == 0, err
    summary = json.loads(out)
    aside = Path(summary["catalog_rebuilt"])
    assert aside.parent == synced.root and aside.name.startswith("catalog.sqlite3.corrupt-")
    assert aside.read_bytes() == damaged
    assert summary["fetched"] == 0
    assert catalog_rows(synced) == rows  # local, removed-but-local and absent entries alike
    code, out, _ = invoke("sync", "--json")
    assert code == 0 and json.loads(out)["catalog_rebuilt"] is None  # once is enough


def test_sync_says_the_catalog_was_rebuilt(synced: Store) -> None:
    _corrupt(synced, "garbage-pages")
    code, out, _ = invoke("sync", "-d", "kylin")
    assert code == 0
    assert "catalog was corrupt, rebuilt" in out
    assert invoke("list", "--local", "--json")[0] == 0


def test_rebuild_marks_a_changed_local_file_stale(synced: Store) -> None:
    path = next(e for e in list_kernels(synced, KYLIN).entries if e.is_local)
    assert path.local_path is not None
    path.local_path.write_bytes(b"an older blob")
    _corrupt(synced, "not-sqlite")
    result = sync(synced, None)
    assert result.catalog_rebuilt is not None
    after = {e.path: e.local_state for e in list_kernels(synced, KYLIN).entries}
    assert after[path.path] == "stale"
    assert sync(synced, KYLIN).repaired == (path.path,)
