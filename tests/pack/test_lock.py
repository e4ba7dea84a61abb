"""Readers (pack, check) hold the cache lock shared: syncs wait for them, readers do not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from btfhub_mirror.check import check
from btfhub_mirror.errors import CacheLockedError, GitCommandError, NotFoundError
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import sync
from btfhub_mirror.pack import pack
from tests.mirror.gitfixtures import Origin

from .conftest import SELECTION, obj


def test_shared_and_exclusive_locks(store_copy: Store) -> None:
    with store_copy.lock(shared=True):
        with store_copy.lock(shared=True, wait=False):
            pass  # another reader
        with (
            pytest.raises(CacheLockedError, match="another btfmirror"),
            store_copy.lock(wait=False),
        ):
            pass  # a writer
    with (
        store_copy.lock(),
        pytest.raises(CacheLockedError),
        store_copy.lock(shared=True, wait=False),
    ):
        pass
    with store_copy.lock(wait=False):
        pass  # all released


class LockProbe:
    """A Progress that, while kernels are being read, tries what a concurrent run would."""

    def __init__(self, store: Store):
        self.store = store
        self.reading = False
        self.outcomes: list[tuple[str, str]] = []

    def phase(self, label: str, total: int | None = None) -> None:
        self.reading = label.startswith(("minimizing", "checking kernels"))

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        if not self.reading or self.outcomes:
            return
        with self.store.lock(shared=True, wait=False):
            self.outcomes.append(("reader", "ok"))
        try:
            sync(self.store, None, wait=False)  # fails on the lock before touching a remote
        except CacheLockedError as err:
            self.outcomes.append(("sync", str(err)))

    def note(self, message: str) -> None:
        pass


def test_pack_reads_under_a_shared_lock(store_copy: Store, tmp_path: Path) -> None:
    probe = LockProbe(store_copy)
    pack(store_copy, [obj("loadable")], tmp_path / "p.tar.gz", SELECTION, jobs=1, progress=probe)
    assert probe.outcomes[0] == ("reader", "ok")
    assert probe.outcomes[1][0] == "sync" and "another btfmirror" in probe.outcomes[1][1]
    with store_copy.lock(wait=False):
        pass  # released at the end


def test_check_reads_under_a_shared_lock(store_copy: Store) -> None:
    probe = LockProbe(store_copy)
    result = check([obj("loadable")], flt=SELECTION, store=store_copy, progress=probe)
    assert result.kernels
    assert [kind for kind, _ in probe.outcomes] == ["reader", "sync"]
    with store_copy.lock(wait=False):
        pass


def test_no_catalog_is_one_clear_error_and_creates_nothing(tmp_path: Path) -> None:
    """Without a selection there is nothing to fetch; with one, the first sync runs (here
    from the isolation's dead $BTFHUB_REPO, so it fails as sync would)."""
    empty = Store(tmp_path / "never-synced")
    with pytest.raises(NotFoundError, match=r"select kernels .*, or run `btfmirror sync` first"):
        pack(empty, [obj("loadable")], tmp_path / "p.tar.gz", KernelFilter())
    with pytest.raises(NotFoundError, match="run `btfmirror sync` first"):
        check([obj("loadable")], store=empty)
    assert not empty.root.exists() and not (tmp_path / "p.tar.gz").exists()
    with pytest.raises(GitCommandError, match="cannot clone file:///nonexistent"):
        pack(empty, [obj("loadable")], tmp_path / "p.tar.gz", SELECTION)
    assert not (tmp_path / "p.tar.gz").exists()


def test_readers_with_a_selection_share_the_lock(synced: Store, tmp_path: Path) -> None:
    """Nothing to fetch: no exclusive lock is needed, so another reader does not block it."""
    with synced.lock(shared=True):
        result = check([obj("loadable")], flt=SELECTION, store=synced, wait=False)
        assert result.kernels
        pack(synced, [obj("loadable")], tmp_path / "p.tar.gz", SELECTION, jobs=1, wait=False)


def test_a_kernel_removed_upstream_whose_file_is_gone(
    _origin_template: Origin, tmp_path: Path
) -> None:
    origin = Origin(tmp_path / "served")
    shutil.copytree(_origin_template.work, origin.work, symlinks=True)
    store = Store(tmp_path / "cache")
    sync(store, SELECTION, [origin.url])
    gone = "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"
    origin.remove(gone)
    origin.commit("gone upstream")
    sync(store, SELECTION, [origin.url])  # marks it removed, keeps the file
    store.local_file(gone).unlink()

    result = pack(store, [obj("loadable")], tmp_path / "p.tar.gz", SELECTION, jobs=1)
    lost = "debian/11/x86_64/5.10.0-30-amd64: not packed"
    assert any(w.startswith(lost) for w in result.warnings)
    assert len(result.packed) == len(result.kernels) - 1
    with pytest.raises(NotFoundError, match="the file is gone"):
        check([obj("loadable")], flt=SELECTION, store=store)
