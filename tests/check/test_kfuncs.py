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

from btfhub_mirror.btf import read_btf_source
from btfhub_mirror.check import check
from btfhub_mirror.check.verdict import FeatureOutcome, FeatureRow, Verdict
from btfhub_mirror.elf import BpfObject
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
    btf = BpfObject.open(obj(name, endian)).btf
    assert all(btf.type(k.local_type_id).kind.name == "FUNC_PROTO" for k in ksyms)


def kernel_funcs(kernel: Path, tmp_path: Path) -> set[str]:
    raw = tmp_path / "k.btf"
    raw.write_bytes(read_btf_source(kernel))
    dump = subprocess.run(
        [need_tool("bpftool"), "btf", "dump", "file", str(raw)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return set(re.findall(r"^\[\d+\] FUNC '([^']+)'", dump, re.MULTILINE))


@pytest.mark.parametrize("kernel", sample_archives(), ids=sample_id)
def test_kfuncs_found_where_bpftool_lists_them(kernel: Path, tmp_path: Path) -> None:
    funcs = kernel_funcs(kernel, tmp_path)
    endian = "eb" if "s390x" in str(kernel) else "el"
    result = check([obj("kfuncs", endian)], btf_files=[kernel])
    (report,) = result.kernels
    outcomes = kfunc_outcomes(report.features, result.rows.features)
    assert {subject for _, subject in outcomes} == set(KFUNCS)
    for (_, subject), out in outcomes.items():
        assert out.available is (subject in funcs), subject
        assert not out.degraded
    missing = [k for k in KFUNCS if k not in funcs]
    assert (report.verdict is Verdict.FAILS) == bool(missing)
    for name in missing:
        assert any(f"kfunc {name}: not in the kernel BTF" in r for r in report.reasons)


def test_weak_missing_kfunc_degrades_and_a_wrong_prototype_fails(tmp_path: Path) -> None:
    kernel = next(p for p in sample_archives() if "s390x" in str(p))  # 6.12: has the kfuncs
    result = check([obj("kfunc_mismatch", "eb")], btf_files=[kernel])
    (report,) = result.kernels
    outcomes = kfunc_outcomes(report.features, result.rows.features)
    weak = outcomes[("kfunc_mismatch", "bpf_btfmirror_no_such_kfunc")]
    assert weak.available is True and weak.degraded and "bpf_ksym_exists" in (weak.detail or "")
    wrong = outcomes[("kfunc_mismatch", "bpf_rcu_read_lock")]
    assert wrong.available is False and re.fullmatch(
        r"func_proto \[\d+\] incompatible with kernel \[\d+\]", wrong.detail or ""
    )
    assert report.verdict is Verdict.FAILS


_RESOLVED = re.compile(r"extern \(func ksym\) '(\w+)': resolved to kernel \[(\d+)\]")
_INCOMPATIBLE = re.compile(
    r"extern \(func ksym\) '(\w+)': (func_proto \[\d+\] incompatible with kernel \[\d+\])"
)


@pytest.mark.parametrize("name", ["kfuncs", "kfunc_mismatch"])
def test_running_kernel_resolution_matches_libbpf(name: str) -> None:
    need_root_bpf()
    bpftool = need_tool("bpftool")
    require(VMLINUX.exists(), "no /sys/kernel/btf/vmlinux on this machine")
    pins = Path("/sys/fs/bpf") / f"btfmirror-kfunc-test-{os.getpid()}-{name}"
    try:
        load = subprocess.run(
            [bpftool, "-d", "prog", "loadall", str(obj(name)), str(pins)],
            capture_output=True, text=True,
        )  # fmt: skip
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
