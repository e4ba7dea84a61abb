"""libbpf decides on btfmirror's minimized BTF exactly as on the full BTF, failures included.

The oracle (issue 14): for every sample kernel, and a hand-built target holding every shape
where libbpf refuses a relocation (``shapes.py``), x every test object, run
``bpftool -d gen min_core_btf`` twice, once with the full BTF as INPUT and once with
btfmirror's default minimized output as INPUT, and compare what libbpf logged per relocation
(btfgen-spec §6.2): the local spec, whether a candidate matched, the first match's C path,
``@ offset``, enumerator and type id (mapped through btfmirror's id map), and every error text
(ambiguities, "error matching candidate", "can't be satisfied for bitfield", bpftool's own
"Error:" lines, ids mapped). bpftool stops at an object's first failing relocation, and so
does libbpf when loading: both logs must stop at the same one with the same words.

Member indices (the raw spec) and candidate numbers are not compared: minimizing drops members
and candidates. Relocation lines do not name their object, so objects run one at a time.
"""

from __future__ import annotations

import functools
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from btfhub_mirror.btf import parse_btf
from btfhub_mirror.minimize import MinimizeError, MinimizeResult, minimize
from tests import cache
from tests.helpers import REPO, SAMPLE, need_tool, sample_archives, sample_id
from tests.minimize.shapes import DUP_COPIES, shapes_btf
from tests.oracle import OracleRun, Spec, parse_log

pytestmark = [pytest.mark.needs_bpftool, pytest.mark.slow]

BUILD = REPO / "tests" / "bpf" / "build"
OBJECTS = sorted(BUILD.glob("*.bpf.el.o"))
SHAPES = "hand-built-shapes"
KERNELS = [*(sample_id(p) for p in sample_archives()), SHAPES]
#: The objects whose relocation the hand-built target makes libbpf refuse, and how.
SHAPE_ERRORS = {
    "amb_offset": "field offset ambiguity: 64 != 32",
    "amb_size": "relocation decision ambiguity: success 16 != success 8",
    "deep_nest": "error matching candidate <byte_off> [*] struct deep_nest @ offset 0: -7",
    "big_bitfield": "relo 0 at insn #3 can't be satisfied for bitfield",
    "dup_task": "relocation decision ambiguity: success * != success *",
}


def obj_name(path: Path) -> str:
    return path.name.removesuffix(".bpf.el.o")


@functools.cache
def shapes_file() -> Path:
    out = cache.WORKDIR.get() / f"{SHAPES}.btf"
    out.write_bytes(shapes_btf())
    return out


def kernel_file(kernel: str) -> Path:
    """The kernel's BTF file: the sample archive, or the hand-built shapes."""
    return shapes_file() if kernel == SHAPES else SAMPLE / f"{kernel}.btf.tar.xz"


def run_bpftool(bpftool: str, btf: Path, obj: Path) -> OracleRun:
    done = cache.min_core_btf(bpftool, btf, [obj])
    # libbpf's "error matching candidate" warning ends in "\n " (relo_core.c): the next line
    # starts with a space.
    stderr = "\n".join(line.lstrip() for line in done.stderr.splitlines())
    return parse_log(stderr, done.returncode)


_ERR_MATCH = re.compile(r"^error matching candidate #\d+ <(\w+)> \[(\d+)\] (.*): (-?\d+)$")
_DECISION = re.compile(r"^relocation decision ambiguity: (\w+) (\d+) != (\w+) (\d+)$")
_UNSUPPORTED = re.compile(r"^Error: unsupported kind: (\w+) \((\d+)\)$")


@dataclass(frozen=True)
class Decision:
    """What libbpf logged for one relocation, with target ids through ``ids``."""

    section: str
    index: int
    local: str
    matched: bool
    first: tuple[str, str | None, tuple[str, int] | None, int | None] | None
    errors: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    returncode: int
    decisions: tuple[Decision, ...]
    #: libbpf's per-program lines that are neither specs nor candidates (the bitfield warning),
    #: and bpftool's "Error:" lines
    other: tuple[str, ...]


def _mapped(ids: dict[int, int] | None, type_id: int) -> int | None:
    return type_id if ids is None else ids.get(type_id)


def error_text(text: str, kind: str, ids: dict[int, int] | None) -> str:
    """A libbpf error line with candidate numbers and raw specs dropped, ids through ``ids``."""
    m = _ERR_MATCH.match(text)
    if m:
        spec = Spec.parse(m[3])
        return (
            f"error matching candidate <{m[1]}> [{_mapped(ids, int(m[2]))}] "
            f"{spec.c_text} @ offset {spec.offset}: {m[4]}"
        )
    m = _DECISION.match(text)
    if m and kind == "target_type_id":  # the values are target type ids
        return (
            f"relocation decision ambiguity: {m[1]} {_mapped(ids, int(m[2]))} != "
            f"{m[3]} {_mapped(ids, int(m[4]))}"
        )
    return text


def outcome(run: OracleRun, ids: dict[int, int] | None = None) -> Outcome:
    """``run`` reduced to what must not change; ``ids`` maps full-BTF ids to minimized ones."""
    decisions = []
    for relo in run.relos:
        first = relo.first_match
        summary = None
        if first is not None:
            spec = first.spec
            summary = (spec.c_text, spec.offset, spec.enumerator, _mapped(ids, first.type_id))
        decisions.append(
            Decision(
                relo.section,
                relo.index,
                relo.local.text,
                relo.matched,
                summary,
                tuple(error_text(e, relo.kind, ids) for e in relo.errors),
            )
        )
    other = []
    for line in [*run.other, *(e for e in run.errors if e.startswith("Error: "))]:
        m = _UNSUPPORTED.match(line)
        if m:
            line = f"Error: unsupported kind: {m[1]} ({_mapped(ids, int(m[2]))})"
        if line.startswith(("libbpf: prog '", "Error: ")):
            other.append(line)
    return Outcome(run.returncode, tuple(decisions), tuple(other))


@dataclass(frozen=True)
class Pair:
    kernel: str
    obj: Path
    full: OracleRun
    minimized: OracleRun
    result: MinimizeResult


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Pair]:
    """Every kernel x object: bpftool on the full BTF, btfmirror's output, bpftool on that.

    bpftool takes well under a second per run; the runs go two at a time beside the
    (single-threaded) minimizing, which is what costs here.
    """
    bpftool = need_tool("bpftool")
    work = tmp_path_factory.mktemp("decision-oracle")
    jobs = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for kernel in KERNELS:
            path = kernel_file(kernel)
            for obj in OBJECTS:
                result = cache.minimized(path, [obj])
                stem = f"{kernel.replace('/', '_')}-{obj_name(obj)}"
                mini = work / f"{stem}.min.btf"
                mini.write_bytes(result.data)
                full = pool.submit(run_bpftool, bpftool, path, obj)
                again = pool.submit(run_bpftool, bpftool, mini, obj)
                jobs.append((kernel, obj, full, again, result))
        return {
            (k, obj_name(o)): Pair(k, o, full.result(), again.result(), result)
            for k, o, full, again, result in jobs
        }


@pytest.mark.parametrize("obj", [obj_name(o) for o in OBJECTS])
@pytest.mark.parametrize("kernel", KERNELS)
def test_same_decisions_on_minimized_btf(
    pairs: dict[tuple[str, str], Pair], kernel: str, obj: str
) -> None:
    pair = pairs[(kernel, obj)]
    full = outcome(pair.full, pair.result.id_map)
    again = outcome(pair.minimized)
    assert again == full, pair.minimized.stderr
    assert pair.full.relos, "bpftool logged no relocation: nothing was compared"
    # A failure libbpf meets with the full BTF is reported as one, naming libbpf's reason.
    failed = [d for d in full.decisions if d.errors] + [
        o for o in full.other if o.startswith("libbpf: prog")
    ]
    assert bool(failed) == bool(pair.result.failures), (failed, pair.result.failures)


@pytest.fixture(scope="module")
def together(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Pair]:
    """One minimized BTF per kernel for all objects at once (what a package ships), and each
    object run through bpftool against it: one object's kept candidates must not change
    another's decisions."""
    bpftool = need_tool("bpftool")
    work = tmp_path_factory.mktemp("decision-oracle-all")
    jobs = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for kernel in KERNELS:
            path = kernel_file(kernel)
            result = cache.minimized(path, OBJECTS)
            mini = work / f"{kernel.replace('/', '_')}.all.btf"
            mini.write_bytes(result.data)
            for obj in OBJECTS:
                full = pool.submit(run_bpftool, bpftool, path, obj)
                again = pool.submit(run_bpftool, bpftool, mini, obj)
                jobs.append((kernel, obj, full, again, result))
        return {
            (k, obj_name(o)): Pair(k, o, full.result(), again.result(), result)
            for k, o, full, again, result in jobs
        }


@pytest.mark.parametrize("kernel", KERNELS)
def test_same_decisions_on_btf_minimized_for_all_objects(
    together: dict[tuple[str, str], Pair], kernel: str
) -> None:
    for obj in OBJECTS:
        pair = together[(kernel, obj_name(obj))]
        full = outcome(pair.full, pair.result.id_map)
        assert outcome(pair.minimized) == full, (obj.name, pair.minimized.stderr)


def test_every_shape_fails_as_expected_on_the_hand_built_target(
    pairs: dict[tuple[str, str], Pair],
) -> None:
    """The hand-built target really makes libbpf refuse each shape (the oracle above would
    compare nothing interesting otherwise), and btfmirror names the same reason."""
    for obj, expected in SHAPE_ERRORS.items():
        pair = pairs[(SHAPES, obj)]
        assert not pair.full.ok, obj
        texts = [
            *(e for r in outcome(pair.full).decisions for e in r.errors),
            *outcome(pair.full).other,
        ]
        pattern = re.escape(expected).replace(r"\*", r"\d+")
        assert any(re.search(pattern, t) for t in texts), (obj, texts)
        assert len(pair.result.failures) == 1, obj
        assert pair.result.warnings == (), obj


def test_duplicate_copies_kept_only_as_far_as_libbpf_looks(
    pairs: dict[tuple[str, str], Pair],
) -> None:
    """libbpf stops at the second task_struct: the third copy takes no part and is dropped; the
    second keeps ``pid`` so that the earlier read does not prune it away."""
    pair = pairs[(SHAPES, "dup_task")]
    out = parse_btf(pair.result.data)
    copies = [out.type(i) for i in out.ids_by_name("task_struct")]
    assert len(copies) == 2 < DUP_COPIES
    assert all([m.name for m in c.members] == ["pid"] for c in copies)  # type: ignore[attr-defined]
    assert pair.result.failures[0].code == "decision-ambiguity"
    assert len(pair.result.failures[0].kept) == 2


def test_real_duplicate_type_kernels_fail_with_both_btfs(
    pairs: dict[tuple[str, str], Pair],
) -> None:
    """centos 8, kylin V10 and bclinux hold several task_struct: type_id_kernel is ambiguous."""
    failing = {k for k in KERNELS if k != SHAPES and pairs[(k, "dup_task")].result.failures}
    assert {k.split("/")[0] for k in failing} == {"bclinux", "centos", "kylin"}
    for kernel in failing:
        assert not pairs[(kernel, "dup_task")].minimized.ok
        assert not pairs[(kernel, "ambiguous")].minimized.ok


@pytest.mark.parametrize("obj", sorted(SHAPE_ERRORS))
def test_first_match_and_strict_on_the_shapes(tmp_path: Path, obj: str) -> None:
    """--first-match keeps today's loadable choice (bpftool then succeeds on it, where it
    fails on the full BTF); strict fails like bpftool."""
    bpftool = need_tool("bpftool")
    source = cache.kernel_btf(kernel_file(SHAPES))
    bpf = cache.bpf_object(BUILD / f"{obj}.bpf.el.o")
    chosen = minimize(source, [bpf], first_match=True)
    assert chosen.failures == () and chosen.warnings
    mini = tmp_path / "first.btf"
    mini.write_bytes(chosen.data)
    assert run_bpftool(bpftool, mini, BUILD / f"{obj}.bpf.el.o").ok
    with pytest.raises(MinimizeError):
        minimize(source, [bpf], strict=True)
