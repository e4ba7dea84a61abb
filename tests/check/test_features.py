"""Program types from section names against each sample kernel's BTF, and the section rules."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from btfhub_mirror.btf import Kind
from btfhub_mirror.btf import types as t
from btfhub_mirror.check import Checker, KernelRef, Verdict, section_rule
from btfhub_mirror.elf import BpfObject
from tests.cache import kernel_btf
from tests.harness.build import compile_bpf
from tests.helpers import REPO, sample_archives, sample_id

SOURCE = Path(__file__).with_name("progtypes.bpf.c")
INCLUDE = REPO / "tests" / "bpf"


@pytest.fixture(scope="module")
def progtypes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_bpf(SOURCE, tmp_path_factory.mktemp("progtypes"), f"-I{INCLUDE}")


@functools.cache
def kernel_names(kernel: Path) -> dict[str, set[str]]:
    """Every name per kind of the kernel BTF, and the enumerators of every enum, by walking
    all types (independently of the checker's lookups)."""
    btf = kernel_btf(kernel)
    out: dict[str, set[str]] = {}
    for type_id in btf.own_ids():
        kind = btf.kind(type_id)
        out.setdefault(kind.name, set()).add(btf.name_of(type_id))
        if kind in (Kind.ENUM, Kind.ENUM64):
            enum = btf.type(type_id)
            assert isinstance(enum, (t.Enum, t.Enum64))
            out.setdefault("enumerator", set()).update(v.name for v in enum.values)
    return out


def expected(section: str, names: dict[str, set[str]]) -> bool:
    funcs, typedefs = names.get("FUNC", set()), names.get("TYPEDEF", set())
    values = names["enumerator"]
    kind, _, target = section.partition("/")
    tracing = "BPF_PROG_TYPE_TRACING" in values
    trampoline = "bpf_trampoline" in names.get("STRUCT", set())
    return {
        "fentry": tracing and "BPF_TRACE_FENTRY" in values and trampoline and target in funcs,
        "fexit": tracing and "BPF_TRACE_FEXIT" in values and trampoline and target in funcs,
        "lsm": "BPF_PROG_TYPE_LSM" in values
        and "BPF_LSM_MAC" in values
        and trampoline
        and f"bpf_lsm_{target}" in funcs,
        "tp_btf": tracing and "BPF_TRACE_RAW_TP" in values and f"btf_trace_{target}" in typedefs,
        "iter": tracing and "BPF_TRACE_ITER" in values and f"bpf_iter_{target}" in funcs,
        "tracepoint": "BPF_PROG_TYPE_TRACEPOINT" in values,
        "kprobe": "BPF_PROG_TYPE_KPROBE" in values,
    }[kind]


@pytest.mark.needs_clang
@pytest.mark.parametrize("kernel", sample_archives(), ids=sample_id)
def test_program_types_against_kernel_btf(kernel: Path, progtypes: Path) -> None:
    checker = Checker([BpfObject.open(progtypes)])
    checker.check_kernel(KernelRef(sample_id(kernel), str(kernel)), kernel_btf(kernel))
    rows, (report,) = checker.reports()
    names = kernel_names(kernel)
    programs = [
        (r, o)
        for r, o in zip(rows.features, report.features, strict=True)
        if r.category == "program"
    ]
    assert len(programs) == 7
    for row, out in programs:
        assert out.available == expected(row.subject, names), (row, out)
    assert (report.verdict is Verdict.FAILS) == any(o.available is False for o in report.features)


@pytest.mark.needs_clang
def test_the_samples_cover_both_outcomes(progtypes: Path) -> None:
    """The kernels of the sample differ on these programs (else the test above proves little)."""
    seen: dict[str, set[bool]] = {}
    for kernel in sample_archives():
        names = kernel_names(kernel)
        for section in ("fentry/do_exit", "lsm/file_open", "tp_btf/sched_switch", "iter/task"):
            seen.setdefault(section, set()).add(expected(section, names))
    assert all(outcomes == {True, False} for outcomes in seen.values()), seen


@pytest.mark.parametrize(
    ("section", "prog_type", "attach"),
    [
        ("kprobe/do_exit", "BPF_PROG_TYPE_KPROBE", None),
        ("kprobe.multi/do_*", "BPF_PROG_TYPE_KPROBE", "BPF_TRACE_KPROBE_MULTI"),
        ("uprobe.s//bin/sh:main", "BPF_PROG_TYPE_KPROBE", None),
        ("tp/sched/sched_switch", "BPF_PROG_TYPE_TRACEPOINT", None),
        ("raw_tp.w/x", "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE", None),
        ("raw_tp/x", "BPF_PROG_TYPE_RAW_TRACEPOINT", None),
        ("fentry.s/x", "BPF_PROG_TYPE_TRACING", "BPF_TRACE_FENTRY"),
        ("lsm.s/bprm_check_security", "BPF_PROG_TYPE_LSM", "BPF_LSM_MAC"),
        ("lsm_cgroup/socket_bind", "BPF_PROG_TYPE_LSM", "BPF_LSM_CGROUP"),
        ("cgroup/connect4", "BPF_PROG_TYPE_CGROUP_SOCK_ADDR", None),
        ("cgroup/sock_create", "BPF_PROG_TYPE_CGROUP_SOCK", None),
        ("cgroup/getsockopt", "BPF_PROG_TYPE_CGROUP_SOCKOPT", None),
        ("xdp", "BPF_PROG_TYPE_XDP", None),
        ("tc", "BPF_PROG_TYPE_SCHED_CLS", None),
    ],
)
def test_section_rules(section: str, prog_type: str, attach: str | None) -> None:
    rule = section_rule(section)
    assert rule is not None and (rule.prog_type, rule.attach_type) == (prog_type, attach)


@pytest.mark.parametrize("section", ["my_section", "kprobex/foo", "tpx", ".text"])
def test_unknown_sections(section: str) -> None:
    assert section_rule(section) is None
