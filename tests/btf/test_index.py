"""The saved per-kernel index: reused when valid, rebuilt when stale or damaged."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from btfhub_mirror.btf import parse_btf, read_btf_source
from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.dump import dump_raw
from btfhub_mirror.btf.index import index_path_for, open_indexed
from btfhub_mirror.btf.strings import StringTableBuilder
from btfhub_mirror.btf.write import encode_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.errors import BtfFormatError
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
    assert warm.pointer_size() == cold.pointer_size() == 8
    plain = parse_btf(read_btf_source(kernel)).essential_names()  # no saved table
    for name in ("task_struct", "pid_type", "sk_buff", "no_such_type"):
        assert (
            list(warm.ids_by_essential_name(name))
            == list(cold.ids_by_essential_name(name))
            == plain.get(name, [])
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


def test_saved_lookup_finds_every_name_of_a_real_kernel(tmp_path: Path) -> None:
    """Every essential name of a kernel (flavored ones included) gives the same ids, in the
    same order, as the plain name index."""
    kernel = copy_kernel(tmp_path)
    open_indexed(kernel)
    warm, reused = open_indexed(kernel)
    assert reused
    plain = parse_btf(read_btf_source(kernel)).essential_names()
    assert len(plain) > 10_000
    for name, ids in plain.items():
        if name:
            assert list(warm.ids_by_essential_name(name)) == ids, name


def test_saved_lookup_on_odd_names(tmp_path: Path) -> None:
    """Flavors (the last ``___`` wins), a name offset into the middle of another string and
    names that are not ASCII all index like libbpf's essential names."""
    names = [
        "x",
        "x___v2",
        "x___",
        "a___b___c",
        "a___b",
        "___GFP",
        "task_struct",
        "struct",
        "y___1",
        "y___2",
    ]
    ascii_types = [t.Int(name, 4, 0, 0, 32) for name in names]
    for extra, expect_ascii in (([], True), ([t.Int("caf\u00e9___v1", 4, 0, 0, 32)], False)):
        raw = bytearray(encode_btf([*ascii_types, *extra]))
        btf = parse_btf(bytes(raw))
        assert btf.strings.data.isascii() == expect_ascii
        # Point "struct" (id 8) into the middle of "task_struct" (id 7)'s string.
        middle = btf.type_index().name_offs[6] + len("task_")
        pos = btf.type_index().offsets[7]
        raw[pos : pos + 4] = middle.to_bytes(4, "little")
        path = tmp_path / f"odd{len(extra)}.btf"
        path.write_bytes(raw)
        open_indexed(path)
        warm, reused = open_indexed(path)
        assert reused and warm.name_of(8) == "struct"
        plain = parse_btf(bytes(raw)).essential_names()
        assert plain["x"] == [1, 2] and plain["x___"] == [3] and plain["___GFP"] == [6]
        assert plain["a___b"] == [4] and plain["a"] == [5]  # the last separator wins
        assert plain["y"] == [9, 10] and plain["struct"] == [8]
        for name in [*plain, "café", "nothing"]:
            if name:
                assert list(warm.ids_by_essential_name(name)) == plain.get(name, []), name


def test_split_btf_lookup_includes_the_base() -> None:
    base = parse_btf(encode_btf([t.Int("int", 4, 1, 0, 32), t.Struct("foo", 4, ())]))
    split = parse_btf(
        encode_btf(
            [t.Struct("foo___v2", 4, ()), t.Struct("foo", 4, ())],
            strings=StringTableBuilder(b"", base=base.strings),
        ),
        base=base,
    )
    assert list(split.ids_by_essential_name("foo")) == [2, 3, 4]


def test_a_name_offset_past_the_last_string_is_an_error_on_every_path() -> None:
    for strings in (b"\0foo\0", b"\0foo\0\xc3\xa9\0"):  # the ASCII fast path and the general one
        raw = bytearray(encode_btf([t.Int("foo", 4, 0, 0, 32), t.Int("foo", 4, 0, 0, 32)]))
        raw[-len(b"\0foo\0") :] = b""  # rebuild the string section by hand
        raw += strings
        hdr = 24
        raw[hdr - 4 : hdr] = len(strings).to_bytes(4, "little")  # str_len
        raw[hdr + 16 * 1 : hdr + 16 * 1 + 4] = len(strings).to_bytes(4, "little")  # 2nd name
        with pytest.raises(BtfFormatError, match="outside the string section"):
            list(parse_btf(bytes(raw)).ids_by_essential_name("foo"))
