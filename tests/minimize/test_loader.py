"""Loader check: libbpf makes the same CO-RE decisions with the minimized BTF as with the full.

Minimize the running kernel's BTF for kprobe/tracepoint programs, load each program with libbpf
using the minimized file as btf_custom_path, and compare every `patched insn` / `substituting
insn` decision with a load that uses the full BTF (btfgen-spec §6.3). Needs bpf() (root).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.btf import load_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import minimize
from tests.harness.build import Loader
from tests.helpers import REPO, VMLINUX, require

LOADABLE = REPO / "tests" / "bpf" / "build" / "loadable.bpf.el.o"


def decisions(loader: Loader, obj: Path, btf: Path) -> list[tuple[str, int, str]]:
    run = loader.run(obj, btf)
    assert run.loaded, "\n".join(run.lines[-20:])
    found = [(d.prog, d.relo, d.text) for d in run.core_decisions()]
    assert found, "the program has CO-RE relocations, so libbpf must log decisions"
    assert len(found) == run.relocation_count()
    return found


@pytest.mark.needs_bpf
@pytest.mark.needs_clang
@pytest.mark.parametrize("which", ["loadable", "probe"])
def test_minimized_btf_gives_libbpf_the_same_decisions(
    which: str, libbpf_loader: Loader, probe_object: Path, tmp_path: Path
) -> None:
    require(VMLINUX.exists(), "this kernel has no /sys/kernel/btf/vmlinux")
    obj = LOADABLE if which == "loadable" else probe_object
    result = minimize(load_btf(VMLINUX), [BpfObject.open(obj)])
    assert result.warnings == ()
    minimized = tmp_path / "min.btf"
    minimized.write_bytes(result.data)
    assert len(result.data) < VMLINUX.stat().st_size // 100  # it really is minimal
    assert decisions(libbpf_loader, obj, minimized) == decisions(libbpf_loader, obj, VMLINUX)
