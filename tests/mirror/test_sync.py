from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pygit2
import pytest

from btfhub_mirror.catalog import connect
from btfhub_mirror.catalog.queries import select_entries
from btfhub_mirror.errors import CacheLockedError, GitCommandError
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.gitrepo import MirrorRepo
from btfhub_mirror.mirror.sync import ensure_local, sync

from .gitfixtures import Origin, git, mirror_blobs


def remote_url(transport: str, origin: Origin, request: pytest.FixtureRequest) -> str:
    if transport == "file":
        return origin.url
    return request.getfixturevalue("daemon").url(origin.git_dir)


def archive_files(store: Store) -> dict[str, Path]:
    """Regular archive files of the work tree, by archive path."""
    return {
        str(p.relative_to(store.archive_dir)): p
        for p in store.archive_dir.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def selected_paths(origin: Origin, flt: KernelFilter) -> dict[str, str]:
    """Ground truth from the origin's own tree: archive path → blob id."""
    out = {}
    for path, (mode, oid) in origin.blobs().items():
        parts = path.split("/")
        if mode == "120000" or len(parts) != 4 or not parts[3].endswith(".btf.tar.xz"):
            continue
        aliases = ["focal"] if parts[:2] == ["ubuntu", "20.04"] else []
        if parts[:2] == ["debian", "12"]:
            aliases = ["bookworm"]
        if flt.matches(parts[0], parts[1], parts[2], parts[3][:-11], aliases):
            out[path] = oid
    return out


@pytest.mark.parametrize("transport", ["file", "git"])
def test_sync_downloads_only_selected_blobs(
    transport: str, origin: Origin, store: Store, request: pytest.FixtureRequest
) -> None:
    url = remote_url(transport, origin, request)
    flt = KernelFilter.create(
        distros=["ubuntu"], versions=["focal"], arches=["aarch64"], kernels=[">=5.8,<5.12"]
    )
    expected = selected_paths(origin, flt)
    assert 0 < len(expected) < 20

    result = sync(store, flt, [url])

    symlink_oids = {oid for mode, oid in origin.blobs().values() if mode == "120000"}
    assert mirror_blobs(result_repo(store, url)) == set(expected.values()) | symlink_oids
    files = archive_files(store)
    assert set(files) == set(expected)
    for path, local in files.items():
        assert str(pygit2.hashfile(str(local))) == expected[path]
    assert result.fetched == len(expected) and result.already_present == 0
    assert result.selected_bytes == sum(p.stat().st_size for p in files.values())
    # Every blob fetched arrived in the packs: bytes received cover the selected archives.
    assert result.blob_bytes >= result.selected_bytes
    offered = [p for p in origin.blobs() if p.endswith(".btf.tar.xz") and p.count("/") == 3]
    assert result.catalog_entries == len(offered) - 1  # the file symlink is an alias


def result_repo(store: Store, url: str) -> Path:
    return store.repo_path(url)


def test_work_tree_is_btfhub_layout_with_codename_links(origin: Origin, store: Store) -> None:
    sync(store, KernelFilter.create(distros=["ubuntu", "debian"], arches=["x86_64"]), [origin.url])
    focal = store.archive_dir / "ubuntu" / "focal"
    assert focal.is_symlink() and os.readlink(focal) == "20.04"
    assert (store.archive_dir / "debian" / "bookworm").resolve() == store.archive_dir / "debian/12"
    latest = store.archive_dir / "ubuntu/20.04/x86_64/latest.btf.tar.xz"
    assert latest.is_symlink() and latest.resolve().is_file()
    assert not (store.archive_dir / "1").exists()  # the stray directory is not an entry


def test_second_sync_fetches_nothing(origin: Origin, store: Store) -> None:
    flt = KernelFilter.create(distros=["debian"], arches=["x86_64"])
    first = sync(store, flt, [origin.url])
    second = sync(store, flt, [origin.url])
    assert first.fetched == first.selected > 0
    assert second.fetched == 0 and second.already_present == first.selected
    assert second.blob_bytes == 0 and not second.added


def test_update_adds_new_and_marks_removed(origin: Origin, store: Store) -> None:
    flt = KernelFilter.create(distros=["ubuntu"], arches=["x86_64"], kernels=["5.4.*", "5.6.*"])
    first = sync(store, flt, [origin.url])
    gone = sorted(p for p in archive_files(store) if "/5.4.0-" in p)[0]
    new = "ubuntu/20.04/x86_64/5.4.0-999-generic.btf.tar.xz"
    origin.remove(gone)
    origin.write(new, b"a kernel added upstream")
    origin.write("centos/7/x86_64/3.10.0-1160.el7.x86_64.btf.tar.xz", b"not selected")
    origin.commit("update")

    second = sync(store, flt, [origin.url])

    assert set(second.added) == {new, "centos/7/x86_64/3.10.0-1160.el7.x86_64.btf.tar.xz"}
    assert second.removed == (gone,)
    assert second.fetched == 1 and second.already_present == first.selected - 1
    assert second.catalog_entries == first.catalog_entries + 2
    assert (store.archive_dir / gone).is_file()  # removed upstream, kept locally
    with contextlib.closing(connect(store.catalog_path)) as conn:
        rows = {e.path: e for e in select_entries(conn, KernelFilter())}
    assert rows[gone].removed and rows[gone].is_local
    assert rows[new].is_local and not rows[new].removed
    assert rows["centos/7/x86_64/3.10.0-1160.el7.x86_64.btf.tar.xz"].local_state == "absent"

    origin.write(gone, b"it came back with new contents")
    origin.commit("restore")
    third = sync(store, flt, [origin.url])
    assert third.restored == (gone,) and third.changed == (gone,) and third.fetched == 1
    assert (store.archive_dir / gone).read_bytes() == b"it came back with new contents"


def test_corrupt_and_missing_files_are_replaced(origin: Origin, store: Store) -> None:
    flt = KernelFilter.create(distros=["kylin", "debian"], versions=["V10", "11"])
    sync(store, flt, [origin.url])
    files = sorted(archive_files(store))
    corrupt, missing = store.archive_dir / files[0], store.archive_dir / files[1]
    corrupt.write_bytes(b"bit rot")
    missing.unlink()

    again = sync(store, flt, [origin.url])

    assert sorted(again.repaired) == sorted([files[0], files[1]])
    assert again.from_mirror == 2 and again.fetched == 0
    for path, oid in selected_paths(origin, flt).items():
        assert str(pygit2.hashfile(str(store.archive_dir / path))) == oid


def test_missing_blob_and_file_fetched_again(origin: Origin, store: Store) -> None:
    flt = KernelFilter.create(distros=["debian"], versions=["11"])
    sync(store, flt, [origin.url])
    (path,) = archive_files(store)
    (store.archive_dir / path).unlink()
    # Lose the mirror too: the blob is nowhere local and must come over the network again.
    shutil.rmtree(store.repo_path(origin.url))
    again = sync(store, flt, [origin.url])
    assert again.repaired == (path,) and again.fetched == 1
    assert str(pygit2.hashfile(str(store.archive_dir / path))) == selected_paths(origin, flt)[path]


def snapshot(store: Store) -> tuple[object, ...]:
    with contextlib.closing(connect(store.catalog_path)) as conn:
        rows = conn.execute("SELECT * FROM entries ORDER BY path").fetchall()
        remotes = conn.execute("SELECT * FROM remotes").fetchall()
    files = sorted(
        (str(p.relative_to(store.root)), p.lstat().st_mtime_ns)
        for p in store.root.rglob("*")
        if "catalog.sqlite3" not in p.name
    )
    return rows, remotes, files


@pytest.mark.parametrize("transport", ["file", "git"])
def test_dead_remote_leaves_cache_as_it_was(
    transport: str, origin: Origin, store: Store, request: pytest.FixtureRequest
) -> None:
    url = remote_url(transport, origin, request)
    flt = KernelFilter.create(distros=["debian"], versions=["12"], arches=["x86_64"])
    sync(store, flt, [url])
    before = snapshot(store)
    if transport == "git":
        request.getfixturevalue("daemon").__exit__()
    else:
        origin.git_dir.rename(origin.root / "moved.git")
    origin.write("debian/12/x86_64/6.1.0-99-amd64.btf.tar.xz", b"new")

    with pytest.raises(GitCommandError) as info:
        sync(store, flt, [url])

    message = str(info.value)
    assert "\n" not in message and url in message
    assert snapshot(store) == before


def test_second_remote_fills_gaps_first_wins(origin: Origin, store: Store, tmp_path: Path) -> None:
    other = Origin(tmp_path / "other")
    other.work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=other.work)
    git("config", "uploadpack.allowFilter", "true", cwd=other.work)
    other.write("debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz", b"shadowed by the first remote")
    other.write("fedora/31/x86_64/5.3.7-301.fc31.x86_64.btf.tar.xz", b"only here")
    other.commit("other archive")

    result = sync(
        store,
        KernelFilter.create(distros=["debian", "fedora"], versions=["11", "31"]),
        [origin.url, other.url],
    )

    with contextlib.closing(connect(store.catalog_path)) as conn:
        rows = {e.path: e for e in select_entries(conn, KernelFilter())}
    assert rows["debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"].remote == origin.url
    assert rows["fedora/31/x86_64/5.3.7-301.fc31.x86_64.btf.tar.xz"].remote == other.url
    assert (
        store.archive_dir / "fedora/31/x86_64/5.3.7-301.fc31.x86_64.btf.tar.xz"
    ).read_bytes() == b"only here"
    assert (
        store.archive_dir / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"
    ).read_bytes() != b"shadowed by the first remote"
    assert result.fetched == 2 and len(result.remotes) == 2


def test_lock_no_wait_fails_clearly(origin: Origin, store: Store) -> None:
    with store.lock(), pytest.raises(CacheLockedError, match="another btfmirror"):
        sync(store, KernelFilter.create(distros=["debian"]), [origin.url], wait=False)
    assert not store.catalog_path.exists()


def test_ensure_local_returns_paths_and_repairs(origin: Origin, store: Store) -> None:
    sync(store, None, [origin.url])  # catalog only
    assert archive_files(store) == {}
    flt = KernelFilter.create(distros=["kylin"])
    entries = ensure_local(store, flt)
    expected = selected_paths(origin, flt)
    assert {e.path for e in entries} == set(expected)
    for entry in entries:
        assert entry.local_path is not None
        assert str(pygit2.hashfile(str(entry.local_path))) == expected[entry.path]
    entries[0].local_path.write_bytes(b"corrupted")  # type: ignore[union-attr]
    again = ensure_local(store, flt)
    assert str(pygit2.hashfile(str(again[0].local_path))) == expected[again[0].path]


def test_second_run_waits_for_the_lock(origin: Origin, store: Store) -> None:
    import threading

    notes: list[str] = []

    class Recorder:
        def phase(self, label: str, total: int | None = None) -> None:
            pass

        def advance(self, steps: int = 1, detail: str | None = None) -> None:
            pass

        def note(self, message: str) -> None:
            notes.append(message)

    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.lock():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    threading.Timer(0.3, release.set).start()
    result = sync(store, KernelFilter.create(distros=["kylin"]), [origin.url], progress=Recorder())
    thread.join()
    assert result.fetched == 2
    assert any("waiting for another btfmirror" in n for n in notes)


def test_select_without_a_root_gives_no_local_paths(origin: Origin, store: Store) -> None:
    entries = ensure_local_after_sync(origin, store)
    assert entries and all(e.local_path is not None for e in entries)
    with contextlib.closing(connect(store.catalog_path)) as conn:
        rows = select_entries(conn, KernelFilter.create(distros=["kylin"]))
    assert rows and all(row.local_path is None for row in rows)  # the query invents no paths


def ensure_local_after_sync(origin: Origin, store: Store) -> list:  # type: ignore[type-arg]
    sync(store, None, [origin.url])
    return ensure_local(store, KernelFilter.create(distros=["kylin"]))


def test_inherited_git_environment_is_ignored(
    origin: Origin, store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As inside a git hook: GIT_DIR and friends point at some other repository.
    decoy = tmp_path / "decoy.git"
    git("init", "-q", "--bare", decoy)
    flt = KernelFilter.create(distros=["kylin"])
    expected = selected_paths(origin, flt)
    with monkeypatch.context() as env:
        env.setenv("GIT_DIR", str(decoy))
        env.setenv("GIT_OBJECT_DIRECTORY", str(decoy / "objects"))
        first = sync(store, flt, [origin.url])
        again = sync(store, flt, [origin.url])
    assert first.fetched == len(expected) == 2 and again.already_present == 2
    assert mirror_blobs(decoy) == set()
    assert set(expected.values()) <= mirror_blobs(store.repo_path(origin.url))


def test_hostile_tree_is_bounded(origin: Origin, store: Store) -> None:
    deep = "/".join(f"d{i}" for i in range(60))
    origin.write(f"{deep}/5.4.0-1-generic.btf.tar.xz", b"far too deep")
    origin.write("ubuntu/20.04/x86_64/extra/5.4.0-2-generic.btf.tar.xz", b"depth five")
    (origin.work / "ubuntu" / "escape").symlink_to("../../../etc")
    (origin.work / "ubuntu" / "absolute").symlink_to("/etc")
    git("add", "-A", cwd=origin.work)
    # A symlink target longer than PATH_MAX cannot be made on disk; put it in the index directly.
    long_target = git("hash-object", "-w", "--stdin", cwd=origin.work, stdin="x/" * 3000).strip()
    git(
        "update-index", "--add", "--cacheinfo", f"120000,{long_target},ubuntu/long", cwd=origin.work
    )
    git("commit", "-q", "-m", "hostile entries", cwd=origin.work)

    result = sync(store, KernelFilter.create(distros=["ubuntu"], arches=["x86_64"]), [origin.url])

    with contextlib.closing(connect(store.catalog_path)) as conn:
        kinds = dict(conn.execute("SELECT path, kind FROM aliases").fetchall())
        paths = {r[0] for r in conn.execute("SELECT path FROM entries")}
    assert kinds["ubuntu/escape"] == kinds["ubuntu/absolute"] == kinds["ubuntu/long"] == "dangling"
    assert kinds["ubuntu/focal"] == "dir"
    assert not any(p.startswith("d0/") or "/extra/" in p for p in paths)
    for link in store.archive_dir.rglob("*"):
        if link.is_symlink():
            assert link.resolve().is_relative_to(store.archive_dir.resolve())
    assert result.fetched == result.selected == 20
    walked = list(MirrorRepo(store.repo_path(origin.url), origin.url).files())
    assert max(f.path.count("/") for f in walked) == 3  # never below <distro>/<ver>/<arch>/
