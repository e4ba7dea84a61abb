"""What a pack worker keeps between kernels: its objects, never the kernels already done."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from btfhub_mirror.btf.parse import Btf
from btfhub_mirror.pack import worker
from tests.helpers import REPO

SAMPLE = REPO / "tests" / "data" / "btfhub-sample"
KERNELS = [
    "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz",
    "kylin/V10/arm64/4.19.90-52.22.v2207.ky10.aarch64.btf.tar.xz",
]
OBJ = REPO / "tests" / "bpf" / "build" / "loadable.bpf.el.o"


def _kernel_btfs(keep: set[int]) -> list[Btf]:
    return [o for o in gc.get_objects() if isinstance(o, Btf) and id(o) not in keep]


def test_kernels_done_are_freed_by_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parsed BTF sits in reference cycles: without the worker's own collections it stayed
    alive until the collector came by (about 150 MB per worker on the corpus). Here every
    kernel is over the budget: each one is freed as soon as it is done."""
    monkeypatch.setattr(worker, "COLLECT_EVERY", 1)
    worker.adopt_objects(worker.parse_objects([(OBJ.name, OBJ.read_bytes())]))
    for obj in worker._OBJECTS:
        assert obj.btf is not None  # parsed now (lazily otherwise), so counted as alive below
    enabled = gc.isenabled()
    gc.collect()
    # What is alive before (the objects' BTF, the suite's session caches of parsed kernels)
    # stays; what the worker parses for each kernel must not.
    alive = {id(o) for o in gc.get_objects() if isinstance(o, Btf)}
    gc.disable()  # only minimize_kernel's collection may free anything
    try:
        for indexed in (False, True):  # first pass writes the index, second maps it
            for path in KERNELS:
                task = worker.Task(path, str(SAMPLE / path), str(tmp_path / Path(path).parent))
                outcome = worker.minimize_kernel(task)
                assert outcome.error is None and outcome.data
                assert outcome.index_reused is indexed
                assert _kernel_btfs(alive) == []
    finally:
        if enabled:
            gc.enable()
        worker.reset()
