"""btfmirror's minimizer writes exactly the bytes Debian's bpftool 7.1 writes.

Every sample kernel (and the running one) x every test object, one at a time and all at once.
Where bpftool aborts, btfmirror writes a valid BTF and warns (or, where libbpf itself refuses a
relocation, reports a load failure, see test_decision_oracle.py), and strict mode fails like
bpftool.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.btf import parse_btf
from btfhub_mirror.minimize import MinimizeError, minimize
from tests.cache import bpf_object, kernel_btf, minimized
from tests.helpers import REPO, VMLINUX, need_tool, sample_archives, sample_id
from tests.oracle import run_min_core_btf

pytestmark = [pytest.mark.needs_bpftool, pytest.mark.slow]

OBJECTS = sorted((REPO / "tests" / "bpf" / "build").glob("*.bpf.el.o"))
KERNELS = [*sample_archives(), VMLINUX]
OBJECT_SETS = [[o] for o in OBJECTS] + [OBJECTS]


def kernel_id(path: Path) -> str:
    return "running-kernel" if path == VMLINUX else sample_id(path)


def set_id(objs: list[Path]) -> str:
    return "all" if len(objs) > 1 else objs[0].name.removesuffix(".bpf.el.o")


@pytest.mark.parametrize("objs", OBJECT_SETS, ids=set_id)
@pytest.mark.parametrize("path", KERNELS, ids=kernel_id)
def test_same_bytes_as_bpftool(path: Path, objs: list[Path]) -> None:
    if path == VMLINUX and not VMLINUX.exists():
        pytest.skip("this kernel has no /sys/kernel/btf/vmlinux")
    run = run_min_core_btf(path, objs, bpftool=need_tool("bpftool"))
    objects = [bpf_object(o) for o in objs]
    ours = minimized(path, objs)
    if run.ok:
        assert run.output is not None
        assert ours.data == run.output
        assert ours.warnings == () and ours.failures == ()
        return
    # bpftool aborted: we still produce valid BTF and say why (a relocation libbpf refuses too,
    # or a type only bpftool refuses), and strict mode fails the same way.
    libbpf_refuses = any(relo.errors for relo in run.relos)
    assert bool(ours.failures) == libbpf_refuses, run.errors
    assert ours.failures or ours.warnings, run.errors
    parsed = parse_btf(ours.data)
    assert parsed.type_count == ours.type_count + 1
    with pytest.raises(MinimizeError):
        minimize(kernel_btf(path), objects, strict=True)


def test_sample_has_kernels_where_bpftool_aborts() -> None:
    """The ambiguity and FWD cases above really occur (so the lenient branch is exercised)."""
    bpftool = need_tool("bpftool")
    ambiguous = REPO / "tests/bpf/build/ambiguous.bpf.el.o"
    fwd = REPO / "tests/bpf/build/fwd_typetag.bpf.el.o"
    aborted = {
        (sample_id(k), o.name)
        for k in sample_archives()
        for o in (ambiguous, fwd)
        if not run_min_core_btf(k, [o], bpftool=bpftool).ok
    }
    assert ("centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64", ambiguous.name) in aborted
    assert ("debian/12/x86_64/6.1.0-50-amd64", fwd.name) in aborted
