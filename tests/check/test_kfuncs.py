"""kfuncs (``extern ... __ksym`` functions): read from the object, resolved as libbpf 1.1 does.

The oracles are other tools: llvm-readelf for the object's undefined symbols and their binding,
``bpftool btf dump`` for the FUNCs a sample kernel has, and a real load by bpftool's libbpf on
the running kernel, whose log says which kernel id each kfunc resolved to or why it refused.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from btfhub_mirror.check import check
from btfhub_mirror.check.verdict import FeatureOutcome, FeatureRow, Verdict
from btfhub_mirror.elf import BpfObject
from tests.cache import btf_dump
from tests.harness.build import compile_bpf
from tests.helpers import (
    REPO,
    VMLINUX,
    need_root_bpf,
    need_tool,
    require,
    sample_archives,
    sample_id,
)

BUILD = REPO / "tests" / "bpf" / "build"
KFUNCS = ("bpf_rcu_read_lock", "bpf_rcu_read_unlock", "bpf_task_from_pid", "bpf_task_release")
WEAK = "bpf_btfmirror_no_such_kfunc"  # exists nowhere


def obj(name: str, endian: str = "el") -> Path:
    return BUILD / f"{name}.bpf.{endian}.o"


def kfunc_outcomes(
    outcomes: tuple[FeatureOutcome, ...], rows: tuple[FeatureRow, ...]
) -> dict[tuple[str, str], FeatureOutcome]:
    """(object stem, kfunc) -> one kernel's outcome."""
    return {
        (row.object.split(".")[0], row.subject): out
        for row, out in zip(rows, outcomes, strict=True)
        if row.category == "kfunc"
    }


@pytest.mark.parametrize("name", ["kfuncs", "kfunc_mismatch"])
@pytest.mark.parametrize("endian", ["el", "eb"])
def test_ksyms_are_the_undefined_symbols(name: str, endian: str) -> None:
    readelf = need_tool("llvm-readelf")
    listing = subprocess.run(
        [readelf, "-s", str(obj(name, endian))], capture_output=True, text=True, check=True
    ).stdout
    undefined = {
        parts[-1]: parts[4] == "WEAK"
        for parts in (line.split() for line in listing.splitlines())
        if len(parts) == 8 and parts[6] == "UND" and parts[-1] != "UND"
    }
    ksyms = BpfObject.open(obj(name, endian)).ksyms
    assert {k.name: k.weak for k in ksyms} == undefined
    assert all(k.is_func and k.used_in == ("tp_btf/sched_process_exec",) for k in ksyms)
    # Only kfuncs/ksyms whose address an ld_imm64 loads (an R_BPF_64_64 relocation) are tested.
    relocs = subprocess.run(
        [readelf, "-r", str(obj(name, endian))], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(re.findall(r"R_BPF_64_64\s+\S+\s+(\w+)", relocs))
    assert {k.name for k in ksyms if k.address_taken} == loaded & {k.name for k in ksyms}
    assert (WEAK in loaded) == (name == "kfuncs")
    btf = BpfObject.open(obj(name, endian)).btf
    assert all(btf.type(k.local_type_id).kind.name == "FUNC_PROTO" for k in ksyms)


def kernel_funcs(kernel: Path) -> set[str]:
    dump = btf_dump(need_tool("bpftool"), kernel)
    return set(re.findall(r"^\[\d+\] FUNC '([^']+)'", dump, re.MULTILINE))


@pytest.mark.slow
@pytest.mark.needs_bpftool
@pytest.mark.parametrize("kernel", sample_archives(), ids=sample_id)
def test_kfuncs_found_where_bpftool_lists_them(kernel: Path) -> None:
    funcs = kernel_funcs(kernel)
    endian = "eb" if "s390x" in str(kernel) else "el"
    result = check([obj("kfuncs", endian)], btf_files=[kernel])
    (report,) = result.kernels
    outcomes = kfunc_outcomes(report.features, result.rows.features)
    assert {subject for _, subject in outcomes} == {*KFUNCS, WEAK}
    weak = outcomes.pop(("kfuncs", WEAK))
    assert weak.available is True and weak.degraded  # tested before its call: degraded only
    for (_, subject), out in outcomes.items():
        assert out.available is (subject in funcs), subject
        assert not out.degraded
    missing = [k for k in KFUNCS if k not in funcs]
    assert report.verdict is (Verdict.FAILS if missing else Verdict.DEGRADED)
    for name in missing:
        assert any(f"kfunc {name}: not in the kernel BTF" in r for r in report.reasons)


def test_untested_weak_kfunc_and_wrong_prototype_fail(tmp_path: Path) -> None:
    kernel = next(p for p in sample_archives() if "s390x" in str(p))  # 6.12: has the kfuncs
    result = check([obj("kfunc_mismatch", "eb")], btf_files=[kernel])
    (report,) = result.kernels
    outcomes = kfunc_outcomes(report.features, result.rows.features)
    weak = outcomes[("kfunc_mismatch", WEAK)]  # called without testing its address first
    assert weak.available is False and "verifier rejects" in (weak.detail or "")
    wrong = outcomes[("kfunc_mismatch", "bpf_rcu_read_lock")]
    assert wrong.available is False and re.fullmatch(
        r"func_proto \[\d+\] incompatible with kernel \[\d+\]", wrong.detail or ""
    )
    assert report.verdict is Verdict.FAILS


_RESOLVED = re.compile(r"extern \(func ksym\) '(\w+)': resolved to kernel \[(\d+)\]")
_INCOMPATIBLE = re.compile(
    r"extern \(func ksym\) '(\w+)': (func_proto \[\d+\] incompatible with kernel \[\d+\])"
)


@pytest.mark.needs_bpftool
@pytest.mark.needs_bpf
@pytest.mark.parametrize("name", ["kfuncs", "kfunc_mismatch"])
def test_running_kernel_resolution_matches_libbpf(name: str) -> None:
    need_root_bpf()
    bpftool = need_tool("bpftool")
    require(VMLINUX.exists(), "no /sys/kernel/btf/vmlinux on this machine")
    pins = Path("/sys/fs/bpf") / f"btfmirror-kfunc-test-{os.getpid()}-{name}"
    try:
        load = subprocess.run(
            [bpftool, "-d", "prog", "loadall", str(obj(name)), str(pins)],
            capture_output=True,
            text=True,
        )
    finally:
        subprocess.run(["rm", "-rf", str(pins)], check=False)
    resolved = dict(_RESOLVED.findall(load.stderr))
    refused = dict(_INCOMPATIBLE.findall(load.stderr))
    assert resolved or refused, load.stderr[-2000:]
    result = check([obj(name)], btf_files=[VMLINUX])
    (report,) = result.kernels
    outcomes = kfunc_outcomes(report.features, result.rows.features)
    for kfunc, kernel_id in resolved.items():
        assert outcomes[(name, kfunc)] == FeatureOutcome(True, f"[{kernel_id}]")
    for kfunc, reason in refused.items():
        assert outcomes[(name, kfunc)] == FeatureOutcome(False, reason)
    # libbpf loads the object exactly when no kfunc fails (kfuncs resolve before verification).
    kfunc_fails = any(o.available is False for o in outcomes.values())
    assert (load.returncode == 0) == (not kfunc_fails), load.stderr[-2000:]


_VAR_RESOLVED = re.compile(r"extern \(var ksym\) '(\w+)': resolved to \[(\d+)\]")


@pytest.mark.needs_bpftool
@pytest.mark.needs_bpf
@pytest.mark.needs_clang
def test_kernel_variables_typed_and_typeless(tmp_path: Path) -> None:
    """A typed ksym resolves to the kernel VAR libbpf picks, but BTF cannot tell whether the
    verifier will find its address (kallsyms), nor anything about a typeless one: unknown."""
    need_root_bpf()
    require(VMLINUX.exists(), "no /sys/kernel/btf/vmlinux on this machine")
    compiled = compile_bpf(
        Path(__file__).with_name("ksyms.bpf.c"),
        tmp_path,
        f"-I{REPO / 'tests' / 'bpf'}",
        "-D__TARGET_ARCH_x86",
        "-mlittle-endian",
    )
    result = check([compiled], btf_files=[VMLINUX])
    (report,) = result.kernels
    rows = {
        r.subject: (r, o)
        for r, o in zip(result.rows.features, report.features, strict=True)
        if r.category == "ksym"
    }
    typed_row, typed = rows["bpf_prog_active"]
    typeless_row, typeless = rows["jiffies"]
    assert typed_row.requirement == "VAR bpf_prog_active in the kernel BTF"
    assert typeless_row.requirement == "jiffies in /proc/kallsyms (typeless)"
    assert typed.available is None and typeless.available is None
    assert report.verdict is Verdict.OK  # unknowns do not fail a kernel
    pins = Path("/sys/fs/bpf") / f"btfmirror-ksym-test-{os.getpid()}"
    try:
        load = subprocess.run(
            [need_tool("bpftool"), "-d", "prog", "loadall", str(compiled), str(pins)],
            capture_output=True,
            text=True,
        )
    finally:
        subprocess.run(["rm", "-rf", str(pins)], check=False)
    resolved = dict(_VAR_RESOLVED.findall(load.stderr))
    assert typed.detail is not None and typed.detail.startswith(f"[{resolved['bpf_prog_active']}]")
