"""Verdicts of ``btfmirror check`` against libbpf (bpftool -d logs, the loader harness) and
against the kernels' own enums read with btfhub_mirror.btf, on every sample kernel."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from btfhub_mirror.btf import Btf, Kind, read_btf_source
from btfhub_mirror.btf import types as t
from btfhub_mirror.check import Checker, CheckRows, KernelRef, KernelReport, RelocState, Verdict
from btfhub_mirror.elf import BpfObject
from tests.cache import kernel_btf
from tests.harness.build import Loader
from tests.helpers import REPO, need_tool, sample_archives, sample_id
from tests.oracle import run_min_core_btf

pytestmark = pytest.mark.slow

BUILD = REPO / "tests" / "bpf" / "build"
OBJECTS = ["newfield", "ringbuf", "ambiguous", "core_types", "core_fields"]
KERNELS = sample_archives()
UNRESOLVED = {RelocState.MISSING, RelocState.GUARDED, RelocState.POISONED, RelocState.ZERO}


def obj_path(name: str) -> Path:
    return BUILD / f"{name}.bpf.el.o"


@functools.cache
def checked(name: str, kernel: Path) -> tuple[CheckRows, KernelReport]:
    checker = Checker([BpfObject.open(obj_path(name))])
    checker.check_kernel(KernelRef(sample_id(kernel), str(kernel)), kernel_btf(kernel))
    rows, reports = checker.reports()
    return rows, reports[0]


def enum_names(btf: Btf, name: str) -> set[str]:
    """Enumerator names of ``enum name``, found by walking every type (not the checker's
    name index)."""
    for _, typ in btf.types():
        if isinstance(typ, (t.Enum, t.Enum64)) and typ.name == name:
            return {v.name for v in typ.values}
    return set()


@pytest.mark.needs_bpftool
@pytest.mark.parametrize("name", OBJECTS)
@pytest.mark.parametrize("kernel", KERNELS, ids=sample_id)
def test_relocations_match_bpftool(kernel: Path, name: str) -> None:
    need_tool("bpftool")
    oracle = run_min_core_btf(kernel, [obj_path(name)])
    rows, report = checked(name, kernel)
    logged = {(r.section, r.index): r for r in oracle.relos}
    compared = 0
    for row, out in zip(rows.relocations, report.relocations, strict=True):
        relo = logged.get((row.section, row.index))
        if relo is None:  # bpftool stops at the first failing relocation
            assert not oracle.ok and compared > 0
            continue
        compared += 1
        if row.kind == "local_type_id":  # needs no kernel type: libbpf never looks
            assert out.state is RelocState.RESOLVED and not relo.errors
        elif relo.errors:
            assert out.state is RelocState.ERROR, (row, relo.errors)
            assert report.verdict is Verdict.FAILS
        elif relo.matched:
            assert out.state is RelocState.RESOLVED, (row, out)
            assert out.target is not None and relo.target_path is not None
            assert out.target.startswith(relo.target_path), (out.target, relo.target_path)
        else:
            assert relo.no_match and out.state in UNRESOLVED, (row, out)
    assert compared > 0
    assert oracle.ok == (RelocState.ERROR not in {o.state for o in report.relocations})


@pytest.mark.needs_bpftool
@pytest.mark.parametrize("kernel", KERNELS, ids=sample_id)
def test_newfield_guarded_and_unguarded(kernel: Path) -> None:
    need_tool("bpftool")
    oracle = run_min_core_btf(kernel, [obj_path("newfield")])
    rows, report = checked("newfield", kernel)
    has_state = all(r.matched for r in oracle.relos)
    by_program = {
        (r.program, r.kind): o for r, o in zip(rows.relocations, report.relocations, strict=True)
    }
    assert set(by_program) == {
        ("guarded", "field_exists"),
        ("guarded", "byte_off"),
        ("unguarded", "byte_off"),
    }
    if has_state:
        assert {o.state for o in report.relocations} == {RelocState.RESOLVED}
    else:
        assert by_program["guarded", "field_exists"].state is RelocState.MISSING
        assert by_program["guarded", "byte_off"].state is RelocState.GUARDED
        assert "field_exists" in (by_program["guarded", "byte_off"].detail or "")
        assert by_program["unguarded", "byte_off"].state is RelocState.POISONED
        assert report.verdict is Verdict.FAILS
        assert any("__state" in r and "not guarded" in r for r in report.reasons)
    # The field exists exactly from Linux 5.14 on: the kernel's own task_struct says so.
    btf = kernel_btf(kernel)
    task = btf.type(btf.find("task_struct", Kind.STRUCT))
    assert isinstance(task, t.Struct)
    assert has_state == ("__state" in {m.name for m in task.members})


@pytest.mark.parametrize("kernel", KERNELS, ids=sample_id)
def test_ringbuf_against_kernel_enums(kernel: Path) -> None:
    rows, report = checked("ringbuf", kernel)
    btf = kernel_btf(kernel)
    map_types = enum_names(btf, "bpf_map_type")
    helpers = enum_names(btf, "bpf_func_id")
    prog_types = enum_names(btf, "bpf_prog_type")
    assert map_types and helpers and prog_types
    seen = set()
    for row, out in zip(rows.features, report.features, strict=True):
        name = row.requirement.split(" (")[0]
        if row.category == "map":
            assert out.available == (name in map_types), (row, out)
        elif row.category == "helper":
            assert out.available == (name in helpers), (row, out)
        elif row.category == "program":
            assert out.available == (name in prog_types), (row, out)
        else:
            assert row.category == "object"  # byte order: see the test below
        seen.add(name)
    assert {
        "BPF_MAP_TYPE_RINGBUF",
        "BPF_FUNC_ringbuf_reserve",
        "BPF_PROG_TYPE_KPROBE",
        "BPF_PROG_TYPE_TRACEPOINT",
    } <= seen
    missing = [o for o in report.features if o.available is False]
    if "BPF_MAP_TYPE_RINGBUF" not in map_types:
        assert report.verdict is Verdict.FAILS
        assert any("map rb" in r and "perf-buffer fallback" in r for r in report.reasons)
    assert (report.verdict is Verdict.FAILS) == bool(
        missing or {o.state for o in report.relocations} & {RelocState.POISONED, RelocState.ERROR}
    )


@pytest.mark.needs_bpf
@pytest.mark.parametrize("name", ["newfield", "core_types", "ringbuf", "core_fields"])
@pytest.mark.parametrize("kernel", KERNELS, ids=sample_id)
def test_poisoning_and_load_match_libbpf(
    kernel: Path, name: str, libbpf_loader: Loader, tmp_path: Path
) -> None:
    """libbpf itself relocates the object against the sample kernel's BTF and the running
    kernel's verifier loads it: guarded poisoned instructions must be dead code to it."""
    raw = tmp_path / "kernel.btf"
    raw.write_bytes(read_btf_source(kernel))
    run = libbpf_loader.run(obj_path(name), raw)
    rows, report = checked(name, kernel)
    # libbpf names the program (function) and numbers relocations within the ELF section, as
    # RelocRow does; a poisoned ld_imm64 logs one line per instruction slot.
    decisions = {(d.prog, d.relo): d for d in run.core_decisions()}
    assert set(decisions) == {(row.program, row.index) for row in rows.relocations}
    ours = {
        (row.program, row.index)
        for row, out in zip(rows.relocations, report.relocations, strict=True)
        if out.state in (RelocState.GUARDED, RelocState.POISONED)
    }
    assert {key for key, d in decisions.items() if d.poisoned} == ours
    # The verifier rejects a reachable poisoned instruction: the object loads exactly when no
    # unguarded relocation is poisoned (the guarded ones sit in dead code).
    unguarded = RelocState.POISONED in {o.state for o in report.relocations}
    assert run.loaded == (not unguarded), run.lines[-5:]


@pytest.mark.parametrize("kernel", KERNELS, ids=sample_id)
def test_byte_order_against_the_btf_header(kernel: Path) -> None:
    """An object loads only on a kernel of its byte order; read both from the raw headers."""
    magic = read_btf_source(kernel)[:2]
    kernel_order = {b"\x9f\xeb": "little", b"\xeb\x9f": "big"}[magic]
    objects = [BUILD / "newfield.bpf.el.o", BUILD / "newfield.bpf.eb.o"]
    checker = Checker([BpfObject.open(p) for p in objects])
    checker.check_kernel(KernelRef(sample_id(kernel), str(kernel)), kernel_btf(kernel))
    rows, (report,) = checker.reports()
    for path in objects:
        ei_data = path.read_bytes()[5]  # ELFDATA2LSB = 1, ELFDATA2MSB = 2
        obj_order = {1: "little", 2: "big"}[ei_data]
        (out,) = [
            o
            for r, o in zip(rows.features, report.features, strict=True)
            if r.object == path.name and r.category == "object"
        ]
        assert out.available == (obj_order == kernel_order), (path.name, out)
        if not out.available:
            assert report.verdict is Verdict.FAILS
            assert any(path.name in r and "-target bpf" in r for r in report.reasons)
