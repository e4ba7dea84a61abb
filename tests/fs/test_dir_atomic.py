"""fsutil.write_dir_atomic_with: a directory tree appears whole or not at all (``pack --for dir``),
through renameat2's exchange and through the two-rename fallback."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from btfhub_mirror import fsutil
from btfhub_mirror.errors import FileWriteError
from btfhub_mirror.fsutil import write_dir_atomic_with


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def fill_with(files: dict[str, bytes]) -> Callable[[Path], int]:
    def fill(root: Path) -> int:
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        return len(files)

    return fill


@pytest.mark.parametrize("exchange", [True, False])
def test_a_tree_replaces_the_old_one_whole(
    exchange: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    swaps: list[tuple[Path, Path]] = []
    if not exchange:  # a filesystem without RENAME_EXCHANGE: the two renames

        def no_exchange(a: Path, b: Path) -> bool:
            swaps.append((a, b))
            return False

        monkeypatch.setattr(fsutil, "_exchange", no_exchange)
    target = tmp_path / "btfs"
    assert write_dir_atomic_with(target, fill_with({"a/1.btf": b"one", "b.json": b"{}"})) == 2
    assert tree(target) == {"a/1.btf": b"one", "b.json": b"{}"}
    write_dir_atomic_with(target, fill_with({"c/2.btf": b"two"}))
    assert tree(target) == {"c/2.btf": b"two"}
    assert os.listdir(tmp_path) == ["btfs"]  # neither the old tree nor a temporary one
    assert len(swaps) == (0 if exchange else 1)


def test_a_failing_fill_leaves_the_old_tree(tmp_path: Path) -> None:
    target = tmp_path / "btfs"
    write_dir_atomic_with(target, fill_with({"x.btf": b"old"}))

    def broken(root: Path) -> int:
        (root / "half.btf").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_dir_atomic_with(target, broken)
    assert tree(target) == {"x.btf": b"old"} and os.listdir(tmp_path) == ["btfs"]


def test_an_unwritable_parent_is_a_file_write_error(tmp_path: Path) -> None:
    with pytest.raises(FileWriteError, match="cannot write"):
        write_dir_atomic_with(tmp_path / "missing" / "btfs", fill_with({}))
