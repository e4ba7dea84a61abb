"""The saved per-kernel index: reused when valid, rebuilt when stale or damaged."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from btfhub_mirror.btf.core import ids_by_essential_name, pointer_size
from btfhub_mirror.btf.dump import dump_raw
from btfhub_mirror.btf.index import index_path_for, open_indexed
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import minimize
from tests.helpers import REPO, sample_archives


def copy_kernel(tmp_path: Path) -> Path:
    src = min(sample_archives(), key=lambda p: p.stat().st_size)
    dst = tmp_path / src.name
    shutil.copy2(src, dst)
    return dst


def test_index_is_saved_beside_and_reused(tmp_path: Path) -> None:
    kernel = copy_kernel(tmp_path)
    cold, reused = open_indexed(kernel)
    assert not reused and index_path_for(kernel).exists()
    warm, reused = open_indexed(kernel)
    assert reused
    assert list(dump_raw(warm)) == list(dump_raw(cold))
    assert pointer_size(warm) == pointer_size(cold) == 8
    for name in ("task_struct", "pid_type", "sk_buff", "no_such_type"):
        assert list(ids_by_essential_name(warm, name)) == list(
            ids_by_essential_name(cold, name)
        )
    objs = [BpfObject.open(p) for p in sorted((REPO / "tests/bpf/build").glob("*.el.o"))]
    assert minimize(warm, objs).data == minimize(cold, objs).data


def test_changed_source_rebuilds_the_index(tmp_path: Path) -> None:
    kernel = copy_kernel(tmp_path)
    open_indexed(kernel)
    stat = kernel.stat()
    os.utime(kernel, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    _, reused = open_indexed(kernel)
    assert not reused
    _, reused = open_indexed(kernel)
    assert reused


def test_damaged_index_is_ignored_and_rewritten(tmp_path: Path) -> None:
    kernel = copy_kernel(tmp_path)
    open_indexed(kernel)
    idx = index_path_for(kernel)
    data = bytearray(idx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    idx.write_bytes(bytes(data))
    btf, reused = open_indexed(kernel)
    assert not reused and btf.type_count > 1000
    idx.write_bytes(b"garbage")
    _, reused = open_indexed(kernel)
    assert not reused


def test_unwritable_index_location_is_not_an_error(tmp_path: Path) -> None:
    kernel = copy_kernel(tmp_path)
    missing_parent = tmp_path / "file-not-dir"
    missing_parent.write_text("x")
    btf, reused = open_indexed(kernel, index_dir=missing_parent / "sub")
    assert not reused and btf.type_count > 1000
