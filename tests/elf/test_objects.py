"""The committed BPF objects parse, and both byte orders tell the same story."""

from __future__ import annotations

import subprocess

import pytest

from btfhub_mirror.btf.ext import CoreRelo, CoreReloKind, describe_access
from btfhub_mirror.elf import BpfObject
from tests.helpers import need_tool

from .conftest import NAMES, bpf_object, object_path


def test_every_source_has_both_objects() -> None:
    assert NAMES, "no tests/bpf/*.bpf.c"
    for name in NAMES:
        assert object_path(name, "el").is_file(), f"{name}: run scripts/build_bpf.sh"
        assert object_path(name, "eb").is_file(), f"{name}: run scripts/build_bpf.sh"


@pytest.mark.parametrize("name", NAMES)
def test_byte_order_follows_the_target(name: str) -> None:
    assert bpf_object(name, "el").byte_order == "little"
    assert bpf_object(name, "eb").byte_order == "big"
    assert bpf_object(name, "el").btf.byte_order == "little"
    assert bpf_object(name, "eb").btf.byte_order == "big"


@pytest.mark.parametrize("name", NAMES)
def test_el_and_eb_give_the_same_records(name: str) -> None:
    el, eb = bpf_object(name, "el"), bpf_object(name, "eb")

    # The same relocations in the same order, except that on big endian libbpf's
    # BPF_CORE_READ_BITFIELD_PROBED asks for the field size once more (to place the bytes).
    def key(r: CoreRelo) -> tuple[str, int, str, CoreReloKind]:
        return (r.section, r.type_id, r.access_str, r.kind)

    extra = {CoreReloKind.FIELD_BYTE_SIZE}
    bitfields = {key(r)[:3] for r in el.core_relos if r.kind is CoreReloKind.FIELD_LSHIFT_U64}
    el_keys = [key(r) for r in el.core_relos]
    eb_keys = [key(r) for r in eb.core_relos]
    if not bitfields:
        assert el.core_relos == eb.core_relos
    else:
        assert set(el_keys) == set(eb_keys)
        surplus = list(eb_keys)
        for k in el_keys:
            surplus.remove(k)
        assert {(k[:3], k[3]) for k in surplus} <= {(b, kind) for b in bitfields for kind in extra}
    assert el.func_infos == eb.func_infos
    assert {(i.section, i.file_name, i.line_num) for i in el.line_infos} == {
        (i.section, i.file_name, i.line_num) for i in eb.line_infos
    }
    assert el.maps == eb.maps
    assert [(p.section, p.helper_calls) for p in el.programs] == [
        (p.section, p.helper_calls) for p in eb.programs
    ]


@pytest.mark.parametrize("name", NAMES)
def test_records_point_into_their_sections(name: str) -> None:
    obj = bpf_object(name)
    sizes = {s.name: s.size for s in obj.sections}
    programs = {p.section for p in obj.programs}
    assert obj.core_relos, f"{name} has no CO-RE relocations"
    for relo in obj.core_relos:
        assert relo.section in programs
        assert relo.insn_off % 8 == 0 and relo.insn_off < sizes[relo.section]
        assert 0 < relo.type_id < obj.btf.type_count
        describe_access(obj.btf, relo)  # raises if the record does not fit the BTF
    for info in obj.func_infos:
        assert info.section in programs
        assert type(obj.btf.type(info.type_id)).__name__ == "Func"
    assert {info.section for info in obj.func_infos} == programs
    assert all(info.file_name.endswith(f"{name}.bpf.c") for info in obj.line_infos)


def test_every_clang14_relocation_kind_is_covered() -> None:
    kinds = {relo.kind for name in NAMES for relo in bpf_object(name).core_relos}
    assert kinds == set(CoreReloKind) - {CoreReloKind.TYPE_MATCHES}


def test_ambiguous_does_exactly_one_thing() -> None:
    obj = bpf_object("ambiguous")
    (relo,) = obj.core_relos
    assert relo.kind is CoreReloKind.TYPE_ID_TARGET
    assert describe_access(obj.btf, relo) == "struct task_struct"


def test_describe_access_renders_nested_anonymous_and_arrays() -> None:
    obj = bpf_object("core_fields")
    described = {describe_access(obj.btf, r) for r in obj.core_relos}
    # From core_fields.bpf.c: a nested member through an anonymous union/struct, an array
    # element, a member of an array element, and a ___flavor root.
    assert "struct dentry.d_name.len" in described
    assert "struct task_struct.comm[3]" in described
    assert "struct pid.numbers[0].nr" in described
    assert "struct task_struct___old.state" in described
    anon = next(r for r in obj.core_relos if describe_access(obj.btf, r).endswith("d_name.len"))
    assert anon.access_str.count(":") == 4  # 0 : d_name : <anon union> : <anon struct> : len


def test_maps_read_from_btf() -> None:
    ringbuf = {m.name: m for m in bpf_object("ringbuf").maps}
    assert ringbuf["rb"].type == 27 and ringbuf["rb"].max_entries == 256 * 1024
    assert ringbuf["rb"].key_type_id is None
    assert ringbuf["drops"].type == 6 and (
        ringbuf["drops"].key_size,
        ringbuf["drops"].value_size,
    ) == (4, 8)
    obj = bpf_object("core_fields")
    (events,) = obj.maps
    assert obj.btf.type(events.value_type_id or 0).name == "event"


def _objdump(tool: str, *args: str) -> str:
    return subprocess.run([tool, *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("endian", ["el", "eb"])
@pytest.mark.parametrize("name", NAMES)
def test_sections_and_helper_calls_match_llvm_objdump(name: str, endian: str) -> None:
    tool = need_tool("llvm-objdump")
    path = object_path(name, endian)
    obj = BpfObject.open(path)
    headers = _objdump(tool, "-h", str(path))
    listed = {}
    for line in headers.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit() and parts[0] != "0":
            listed[parts[1]] = int(parts[2], 16)
    mine = {s.name: s.size for s in obj.sections if s.index}
    assert mine == listed
    calls: dict[str, list[int]] = {}
    section = ""
    # -r: a call followed by a relocation is a kfunc (extern __ksym) or subprogram call that
    # libbpf patches, not a helper call.
    lines = _objdump(tool, "-d", "-r", "--no-show-raw-insn", str(path)).splitlines()
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("Disassembly of section "):
            section = line.removeprefix("Disassembly of section ").rstrip(":")
        elif ("\tcall " in line or " call " in line) and "R_BPF_64_32" not in after:
            target = line.split("call", 1)[1].strip()
            if target.lstrip("-").isdigit():
                calls.setdefault(section, []).append(int(target))
    assert {p.section: list(p.helper_calls) for p in obj.programs if p.helper_calls} == calls
