"""The CO-RE engine decides exactly as libbpf: compared with `bpftool -d gen min_core_btf` logs.

Per relocation: the local spec text, every candidate tried (id, matching or not, its spec text
with C path and offset or enumerator) and libbpf's failures (ambiguity), for every test object
and every sample kernel plus the running one (spec §6.2).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.btf.core import Resolution, format_spec, format_spec_target, resolve_all
from btfhub_mirror.elf import BpfObject
from tests.cache import kernel_btf
from tests.helpers import REPO, VMLINUX, need_tool, sample_archives, sample_id
from tests.oracle import OracleRun, run_min_core_btf

pytestmark = [pytest.mark.needs_bpftool, pytest.mark.slow]

OBJECTS = sorted((REPO / "tests" / "bpf" / "build").glob("*.bpf.el.o"))
KERNELS = [*sample_archives(), VMLINUX]


def kernel_id(path: Path) -> str:
    return "running-kernel" if path == VMLINUX else sample_id(path)


def oracle(kernel: Path, obj: Path) -> OracleRun:
    return run_min_core_btf(kernel, [obj], bpftool=need_tool("bpftool"))


def compare(ours: list[Resolution], run: OracleRun) -> None:
    failures = [r for r in ours if r.failure is not None]
    # bpftool also aborts while marking (a FWD reached by a type relocation): not an engine
    # decision, so only relocation errors ("relo #N: ...") count here.
    relo_errors = [e for e in run.errors if "relo #" in e]
    assert bool(failures) == bool(relo_errors), (failures[:1], run.errors)
    if failures:
        # libbpf stops at the first failing record, with the same message.
        first = failures[0]
        assert first.failure is not None
        assert any(first.failure.reason.endswith(e.split(": ", 2)[-1]) for e in relo_errors)
    for res in ours:
        if res.failure is not None:
            break
        try:
            logged = run.relo(res.relo.section, res.index)
        except KeyError:
            assert not run.ok, f"bpftool logged no {res.relo.section} relo #{res.index}"
            break  # bpftool aborted (while marking) before reaching this record
        assert res.local_spec is not None
        assert format_spec(res.local_spec) == f"<{logged.kind}> [{logged.local_type_id}] " + (
            logged.local.text
        )
        mine = [(c.type_id, c.matched, format_spec_target(c.spec)) for c in res.candidates]
        theirs = [(c.type_id, c.matched, c.spec.text) for c in logged.candidates]
        assert mine == theirs, f"{res.relo.section} relo #{res.index}"
        assert res.matched == logged.matched


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda p: p.name.removesuffix(".bpf.el.o"))
@pytest.mark.parametrize("kernel", KERNELS, ids=kernel_id)
def test_engine_decides_like_libbpf(kernel: Path, obj: Path) -> None:
    if kernel == VMLINUX and not VMLINUX.exists():
        pytest.skip("this kernel has no /sys/kernel/btf/vmlinux")
    bpf = BpfObject.open(obj)
    ours = resolve_all(bpf.btf, bpf.core_relos, kernel_btf(kernel))
    assert ours, "test objects all have CO-RE relocations"
    compare(ours, oracle(kernel, obj))
