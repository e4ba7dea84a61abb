"""``sync`` indexes each archive as it writes it, so ``pack`` afterwards only reads indexes."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from btfhub_mirror.btf.index import INDEX_SUFFIX, has_current_index
from btfhub_mirror.catalog.queries import KernelEntry
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store, list_kernels
from btfhub_mirror.mirror.sync import sync
from btfhub_mirror.pack import pack
from tests.helpers import SAMPLE, invoke_cli

from .gitfixtures import Origin

BUILD = Path(__file__).resolve().parent.parent / "bpf" / "build"
OBJECTS = [BUILD / "loadable.bpf.el.o", BUILD / "core_fields.bpf.el.o"]
#: debian/11 and debian/12 x86_64: four real kernels of the sample.
DEBIAN = KernelFilter.create(distros=["debian"], versions=["11", "12"], arches=["x86_64"])


def local_entries(store: Store, flt: KernelFilter) -> list[KernelEntry]:
    return [e for e in list_kernels(store, flt, local_only=True).entries if e.local_path]


def indexed(store: Store, entries: list[KernelEntry]) -> list[str]:
    return [
        e.path
        for e in entries
        if e.local_path and has_current_index(e.local_path, index_dir=store.index_dir_for(e))
    ]


def test_pack_after_sync_reads_every_index(origin: Origin, store: Store, tmp_path: Path) -> None:
    result = sync(store, DEBIAN, [origin.url])

    packed = pack(store, OBJECTS, tmp_path / "out.tar.gz", DEBIAN, jobs=1)
    assert len(packed.packed) == 4
    assert packed.index_reused == 4  # nothing left to decompress or index
    entries = local_entries(store, DEBIAN)
    assert sorted(indexed(store, entries)) == sorted(e.path for e in entries)
    assert result.indexed == 4 and result.unindexed == ()
    assert not list(store.archive_dir.rglob(f"*{INDEX_SUFFIX}"))  # archive/ stays btfhub's


def test_no_index_then_a_sync_indexes_what_is_local(origin: Origin, store: Store) -> None:
    first = sync(store, DEBIAN, [origin.url], index=False)
    assert first.indexed == 0 and not (store.root / "index").exists()

    again = sync(store, DEBIAN, [origin.url])

    assert again.fetched == 0 and again.indexed == 4
    assert len(indexed(store, local_entries(store, DEBIAN))) == 4
    assert sync(store, DEBIAN, [origin.url]).indexed == 0  # current indexes are kept


def test_cli_no_index(origin: Origin) -> None:
    code, out, err = invoke_cli(
        "sync", "-d", "debian", "-V", "11", "-r", origin.url, "--no-index", "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["fetched"] == 1 and summary["indexed"] == 0
    assert summary["not_indexed"] == []
    assert not (Store.default().root / "index").exists()


def test_unreadable_archives_are_local_and_listed(origin: Origin, store: Store) -> None:
    good = (SAMPLE / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz").read_bytes()
    truncated = "debian/11/x86_64/5.10.0-31-amd64.btf.tar.xz"
    origin.write(truncated, good[: len(good) // 2])
    origin.commit("a truncated archive")
    flt = KernelFilter.create(distros=["debian"], versions=["11"])

    result = sync(store, flt, [origin.url])

    assert result.fetched == 2 and result.indexed == 1
    assert [f.path for f in result.unindexed] == [truncated]
    assert "xz" in result.unindexed[0].reason  # what is wrong with it, from the xz reader
    assert (store.archive_dir / truncated).read_bytes() == good[: len(good) // 2]
    assert result.to_json()["not_indexed"] == [
        {"path": truncated, "reason": result.unindexed[0].reason}
    ]


class _Interrupt:
    """Ctrl-C once the second archive is checked out: the first one is being indexed."""

    def __init__(self) -> None:
        self.label = ""
        self.done = 0

    def phase(self, label: str, total: int | None = None) -> None:
        self.label = label

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        if self.label.startswith("checking out"):
            self.done += steps
            if self.done == 2:
                raise KeyboardInterrupt

    def note(self, message: str) -> None:
        pass


def test_interrupted_sync_leaves_no_index_worker(origin: Origin, store: Store) -> None:
    with pytest.raises(KeyboardInterrupt):
        sync(store, DEBIAN, [origin.url], progress=_Interrupt())

    assert multiprocessing.active_children() == []
    index = store.root / "index"
    leftovers = [p.name for p in index.rglob("*") if p.is_file()] if index.exists() else []
    assert all(name.endswith(INDEX_SUFFIX) for name in leftovers), leftovers
    # The lock is free and the next run completes the job.
    again = sync(store, DEBIAN, [origin.url], wait=False)
    assert again.indexed + len(leftovers) >= 4
    assert len(indexed(store, local_entries(store, DEBIAN))) == 4
