"""Structural properties of every minimized BTF (btfgen-spec §6.4)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from btfhub_mirror.btf import parse_btf
from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.write import encode_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import MinimizeError, minimize
from tests.cache import bpf_object, kernel_btf, minimized
from tests.helpers import REPO, need_tool, sample_archives, sample_id

BUILD = REPO / "tests" / "bpf" / "build"
# fwd_typetag deliberately keeps a FWD where bpftool aborts; it has its own test below.
OBJECTS = sorted(p for p in BUILD.glob("*.bpf.el.o") if not p.name.startswith("fwd_typetag"))
KERNELS = sample_archives()


def objects() -> list[BpfObject]:
    return [bpf_object(p) for p in OBJECTS]


def refs(typ: t.Type) -> list[int]:
    match typ:
        case t.Pointer() | t.Typedef() | t.Volatile() | t.Const() | t.Restrict() | t.TypeTag():
            return [typ.type_id]
        case t.Array():
            return [typ.type_id, typ.index_type_id]
        case t.Struct() | t.Union():
            return [m.type_id for m in typ.members]
        case t.FuncProto():
            return [typ.return_type_id, *(p.type_id for p in typ.params)]
    return []


@pytest.mark.parametrize("path", KERNELS, ids=sample_id)
def test_output_keeps_only_what_the_source_has(path: Path) -> None:
    source = kernel_btf(path)
    result = minimized(path, OBJECTS)
    out = parse_btf(result.data)
    assert out.byte_order == "little" and out.header.hdr_len == 24
    old_ids = sorted(result.id_map)
    assert [result.id_map[o] for o in old_ids] == list(range(1, len(old_ids) + 1))
    strings_seen: list[str] = []
    for old in old_ids:
        new = result.id_map[old]
        src, got = source.type(old), out.type(new)
        assert type(got) is type(src) and got.name == src.name
        assert not isinstance(got, (t.Func, t.Var, t.Datasec, t.DeclTag, t.TypeTag, t.Fwd))
        for ref in refs(got):
            assert ref < out.type_count
        if isinstance(src, (t.Struct, t.Union)):
            assert isinstance(got, (t.Struct, t.Union))
            assert got.size == src.size
            by_name = {(m.name, m.bit_offset): m for m in src.members}
            for m in got.members:
                assert by_name[(m.name, m.bit_offset)].bitfield_size == m.bitfield_size
            needs_flag = any(m.bitfield_size or m.bit_offset % 8 for m in got.members)
            assert got.kind_flag == needs_flag
        elif isinstance(src, (t.Enum, t.Enum64)):
            assert got == src  # enums are kept whole
        inner = [
            *getattr(got, "members", ()),
            *getattr(got, "values", ()),
            *getattr(got, "params", ()),
        ]
        for name in [got.name, *(item.name for item in inner)]:
            if name and name not in strings_seen:
                strings_seen.append(name)
    # The string table is "\0" then each name once, in first-use order.
    assert out.strings.data == b"\0" + b"".join(n.encode() + b"\0" for n in strings_seen)


@pytest.mark.parametrize("path", KERNELS[:4], ids=sample_id)
def test_minimizing_twice_changes_nothing(path: Path) -> None:
    once = minimized(path, OBJECTS).data
    twice = minimize(parse_btf(once), objects()).data
    assert twice == once


def object_orders(items: list[BpfObject]) -> list[list[BpfObject]]:
    """Orders that put every object first and last, both ways round, plus seeded shuffles.

    All n! orders (40,320 for 8 objects) took most of the suite's time; a dependency on order
    shows as soon as one object's position or one pair's relative order changes, which the
    rotations, their reversals and 32 random orders cover.
    """
    n = len(items)
    orders = [items[i:] + items[:i] for i in range(n)]
    orders += [list(reversed(order)) for order in orders]
    rng = random.Random(0x0B7F)
    for _ in range(32):
        shuffled = list(items)
        rng.shuffle(shuffled)
        orders.append(shuffled)
    return orders


def test_object_order_does_not_matter() -> None:
    path = KERNELS[2]
    orders = object_orders(objects())
    assert len({tuple(id(o) for o in order) for order in orders}) > 2 * len(objects())
    outputs = {minimize(kernel_btf(path), order).data for order in orders}
    assert len(outputs) == 1


def typetag_kernel() -> bytes:
    """A tiny synthetic kernel BTF whose user_int_ptr goes through a TYPE_TAG."""
    return encode_btf(
        [
            t.Int("int", 4, 1, 0, 32),  # 1
            t.TypeTag("user", 1),  # 2
            t.Pointer(2),  # 3
            t.Typedef("user_int_ptr", 3),  # 4
            t.Fwd("__key_reference_with_attributes"),  # 5
            t.Pointer(5),  # 6
            t.Typedef("key_ref_t", 6),  # 7
        ]
    )


@pytest.mark.needs_bpftool
def test_fwd_and_type_tag_kept_with_warnings_where_bpftool_aborts(tmp_path: Path) -> None:
    bpftool = need_tool("bpftool")
    raw = tmp_path / "kernel.btf"
    raw.write_bytes(typetag_kernel())
    obj_path = BUILD / "fwd_typetag.bpf.el.o"
    ref = subprocess.run(
        [bpftool, "gen", "min_core_btf", str(raw), str(tmp_path / "out.btf"), str(obj_path)],
        capture_output=True,
        text=True,
    )
    assert ref.returncode != 0 and "unsupported kind" in ref.stderr
    result = minimize(parse_btf(raw.read_bytes()), [BpfObject.open(obj_path)])
    assert any("fwd" in w for w in result.warnings)
    assert any("type_tag" in w for w in result.warnings)
    out = parse_btf(result.data)
    assert sorted(typ.kind.name for _, typ in out.types()) == sorted(
        ["INT", "TYPE_TAG", "PTR", "TYPEDEF", "FWD", "PTR", "TYPEDEF"]
    )
    (tmp_path / "min.btf").write_bytes(result.data)
    dump = subprocess.run(
        [bpftool, "btf", "dump", "file", str(tmp_path / "min.btf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "TYPE_TAG 'user'" in dump and "FWD '__key_reference_with_attributes'" in dump
    with pytest.raises(MinimizeError, match="unsupported kind"):
        minimize(parse_btf(raw.read_bytes()), [BpfObject.open(obj_path)], strict=True)


@pytest.mark.needs_clang
def test_object_without_btf_ext_is_refused(tmp_path: Path) -> None:
    clang = need_tool("clang")
    src = tmp_path / "plain.c"
    src.write_text("int x;\n")
    obj = tmp_path / "plain.o"
    subprocess.run([clang, "-target", "bpf", "-c", str(src), "-o", str(obj)], check=True)
    from btfhub_mirror.errors import BtfmirrorError

    with pytest.raises(BtfmirrorError):
        minimize(kernel_btf(KERNELS[0]), [BpfObject.open(obj)])
