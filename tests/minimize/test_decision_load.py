"""A real load through libbpf (``bpf_object_open_opts.btf_custom_path``): each object fails to
load with btfmirror's default minimized BTF exactly as with the full BTF (same CO-RE lines, same
error), and loads with the --first-match BTF, whose choice the full BTF does not allow.

Uses the loader harness (tests/harness): needs cc, libbpf-dev and the bpf() syscall (root);
skips without them, fails under CI=true.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from btfhub_mirror.btf import load_btf, read_btf_source
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import minimize
from tests.harness.build import Loader, LoadRun
from tests.helpers import REPO, SAMPLE
from tests.minimize.shapes import shapes_btf
from tests.minimize.test_decision_oracle import SHAPE_ERRORS, error_text

pytestmark = pytest.mark.needs_bpf

BUILD = REPO / "tests" / "bpf" / "build"
CENTOS = SAMPLE / "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64.btf.tar.xz"
CASES = [("shapes", name) for name in sorted(SHAPE_ERRORS)] + [
    ("centos", "ambiguous"),
    ("centos", "dup_task"),
]
_RELO_LINE = re.compile(r"prog '[^']+': relo #?(\d+)[: ]")
_LOCAL_KIND = re.compile(r"prog '[^']+': relo #(\d+): <(\w+)> \[\d+\] ")


def core_lines(run: LoadRun, ids: dict[int, int] | None = None) -> list[str]:
    """libbpf's CO-RE lines of a load, without the candidate lists (minimizing drops
    candidates) and with target type ids mapped through ``ids``."""
    kinds: dict[str, str] = {}
    out = []
    for raw in run.lines:
        line = raw.strip()
        local = _LOCAL_KIND.search(line)
        if local:
            kinds[local[1]] = local[2]
        m = _RELO_LINE.search(line)
        if m is None:
            if "CO-RE relocations" in line or line.startswith("btfmirror-harness:"):
                out.append(line)
            continue
        if "matching candidate #" in line and "error matching" not in line:
            continue
        head, _, rest = line.partition(f"relo #{m[1]}: ")
        if rest:
            line = head + f"relo #{m[1]}: " + error_text(rest, kinds.get(m[1], ""), ids)
        out.append(line)
    return out


@pytest.mark.parametrize(("kernel", "name"), CASES)
def test_same_load_result_with_full_and_minimized_btf(
    libbpf_loader: Loader, tmp_path: Path, kernel: str, name: str
) -> None:
    obj = BUILD / f"{name}.bpf.el.o"
    full = tmp_path / "full.btf"
    full.write_bytes(read_btf_source(CENTOS) if kernel == "centos" else shapes_btf())
    source = load_btf(full)
    result = minimize(source, [BpfObject.open(obj)])
    shipped = tmp_path / "min.btf"
    shipped.write_bytes(result.data)

    with_full = libbpf_loader.run(obj, full)
    with_shipped = libbpf_loader.run(obj, shipped)
    assert not with_full.loaded, with_full.lines[-5:]
    assert any("failed to relocate" in line for line in with_full.lines)
    assert core_lines(with_shipped) == core_lines(with_full, result.id_map)

    chosen = tmp_path / "first.btf"
    chosen.write_bytes(minimize(source, [BpfObject.open(obj)], first_match=True).data)
    with_chosen = libbpf_loader.run(obj, chosen)
    # The first-match BTF changes what libbpf does: it loads (with one candidate's values), or
    # (too-deep nesting: no candidate kept) fails in the verifier on a poisoned instruction
    # instead of in CO-RE relocation.
    assert not any("failed to relocate" in line for line in with_chosen.lines)
    assert with_chosen.loaded or name == "deep_nest"
