"""``check`` on a kernel where libbpf refuses a relocation: the kernel fails with libbpf's
reason, whether it is given the full BTF or the minimized BTF btfmirror ships for it (which
keeps the failure by default; with --first-match it would not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.btf import load_btf
from btfhub_mirror.check import RelocState, Verdict, check
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import minimize
from tests.helpers import REPO, SAMPLE
from tests.minimize.shapes import shapes_btf

BUILD = REPO / "tests" / "bpf" / "build"
CENTOS = SAMPLE / "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64.btf.tar.xz"


def _target(tmp_path: Path, kernel: str) -> Path:
    if kernel == "centos":
        return CENTOS
    path = tmp_path / "shapes.btf"
    path.write_bytes(shapes_btf())
    return path


@pytest.mark.parametrize(
    ("kernel", "name", "reason"),
    [
        ("centos", "ambiguous", "relocation decision ambiguity"),
        ("centos", "dup_task", "relocation decision ambiguity"),
        ("shapes", "amb_offset", "field offset ambiguity: 64 != 32"),
        ("shapes", "amb_size", "relocation decision ambiguity: success 16 != success 8"),
        ("shapes", "deep_nest", "struct/union/array nesting too deep"),
        ("shapes", "big_bitfield", "bitfield f can't be read with one 64-bit load"),
    ],
)
def test_check_fails_alike_on_full_and_minimized_btf(
    tmp_path: Path, kernel: str, name: str, reason: str
) -> None:
    obj = BUILD / f"{name}.bpf.el.o"
    full = _target(tmp_path, kernel)
    source = load_btf(full)
    shipped = tmp_path / "min.btf"
    shipped.write_bytes(minimize(source, [BpfObject.open(obj)]).data)
    on_full, on_shipped = check([obj], btf_files=[full, shipped]).kernels
    for report in (on_full, on_shipped):
        assert report.verdict is Verdict.FAILS, report.reasons
        assert any(f"libbpf error: {reason}" in r for r in report.reasons), report.reasons
        assert RelocState.ERROR in {o.state for o in report.relocations}
    # The first-match BTF hides the failure: check no longer sees it.
    chosen = tmp_path / "first.btf"
    chosen.write_bytes(minimize(source, [BpfObject.open(obj)], first_match=True).data)
    [on_chosen] = check([obj], btf_files=[chosen]).kernels
    assert RelocState.ERROR not in {o.state for o in on_chosen.relocations}
