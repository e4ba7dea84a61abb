"""Hostile kernel BTF and objects for the CO-RE engine: deep anonymous nesting, huge indices.

Built for real: kernels with ``encode_btf``, objects by patching a committed test object's
``.BTF`` / ``.BTF.ext`` with ``llvm-objcopy --update-section``. Decisions are compared with
libbpf through ``bpftool -d gen min_core_btf``; the costly cases run in a subprocess under an
address-space limit and a timeout of a few seconds.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.core import resolve_all
from btfhub_mirror.btf.parse import parse_btf
from btfhub_mirror.btf.write import encode_btf
from btfhub_mirror.elf import BpfObject, list_relocations
from btfhub_mirror.errors import BtfmirrorError, CoreReloError
from btfhub_mirror.minimize import minimize
from tests.btf.test_core_oracle import compare
from tests.helpers import REPO, need_tool
from tests.oracle import OracleRun, run_min_core_btf

LOADABLE = REPO / "tests" / "bpf" / "build" / "loadable.bpf.el.o"
#: What the hostile runs may use: far below what the old exponential walk needed in time,
#: enough for Python and a few kernels' worth of types.
CHILD_AS_LIMIT = 1 << 30
CHILD_TIMEOUT = 10.0


def dag_kernel(depth: int, *, leaky: bool = False) -> bytes:
    """A kernel whose ``task_struct`` holds two anonymous members of ``nest<depth-1>``, each of
    which holds two of the level below, down to a leaf: a DAG with 2**depth paths, no cycle.

    The leaf holds ``tgid`` (found at the bottom of the first path). ``pid`` and ``comm`` sit in
    ``task_struct`` after the anonymous members, so libbpf searches every path before it finds
    them. ``leaky`` puts an incompatible ``comm`` (an int) in the leaf: libbpf leaves the index
    of each such near-miss pushed on the spec, which is then part of the answer.
    """
    leaf = [t.Member("tgid", 2, 0)] + ([t.Member("comm", 1, 32)] if leaky else [])
    types: list[t.Type] = [
        t.Int("int", 4, 1, 0, 32),  # 1
        t.Typedef("pid_t", 1),  # 2
        t.Int("char", 1, 0, 0, 8),  # 3
        t.Array(3, 1, 16),  # 4
        t.Struct("leaf", 8, tuple(leaf)),  # 5
    ]
    below = 5
    for level in range(depth):
        types.append(t.Struct(f"nest{level}", 8, (t.Member("", below, 0), t.Member("", below, 0))))
        below = len(types)
    task_id = len(types) + 2
    types.append(t.Pointer(task_id))
    members = (
        t.Member("", below, 0),
        t.Member("", below, 0),
        t.Member("pid", 2, 64),
        t.Member("real_parent", task_id - 1, 128),
        t.Member("comm", 4, 256),
    )
    types.append(t.Struct("task_struct", 64, members))
    return encode_btf(types)


def oracle(kernel: Path, obj: Path = LOADABLE) -> OracleRun:
    return run_min_core_btf(kernel, [obj], bpftool=need_tool("bpftool"))


@pytest.mark.needs_bpftool
@pytest.mark.parametrize(("depth", "leaky"), [(3, False), (3, True), (20, False)])
def test_deep_anonymous_nesting_decides_like_libbpf(
    depth: int, leaky: bool, tmp_path: Path
) -> None:
    """Same candidates, specs (raw indices and offsets, leaked near-misses included) as libbpf;
    at depth 20 libbpf itself walks a million paths, we a few dozen types."""
    kernel = tmp_path / "kernel.btf"
    kernel.write_bytes(dag_kernel(depth, leaky=leaky))
    obj = BpfObject.open(LOADABLE)
    ours = resolve_all(obj.btf, obj.core_relos, parse_btf(kernel.read_bytes()))
    run = oracle(kernel)
    compare(ours, run)
    deep = next(r for r in ours if r.target_spec is not None and len(r.target_spec.raw_spec) > 2)
    assert deep.target_spec is not None and deep.target_spec.raw_spec[: depth + 1] == [0] * (
        depth + 1
    )
    if run.ok:  # bpftool's minimized BTF, byte for byte
        assert minimize(parse_btf(kernel.read_bytes()), [obj]).data == run.output


@pytest.mark.needs_bpftool
def test_spec_length_limit_reached_through_near_misses_fails_like_libbpf(tmp_path: Path) -> None:
    """Six levels of leaked near-misses pass BPF_CORE_SPEC_MAX_LEN: libbpf gives -E2BIG on the
    comm relocation (kprobe/do_nanosleep relo #0) and so do we; the others still resolve."""
    kernel = tmp_path / "kernel.btf"
    kernel.write_bytes(dag_kernel(6, leaky=True))
    obj = BpfObject.open(LOADABLE)
    ours = resolve_all(obj.btf, obj.core_relos, parse_btf(kernel.read_bytes()))
    failed = [(r.relo.section, r.index) for r in ours if r.failure is not None]
    assert failed == [("kprobe/do_nanosleep", 0)]
    failure = next(r.failure for r in ours if r.failure is not None)
    assert failure is not None and failure.code == "invalid" and "too deep" in failure.reason
    errors = oracle(kernel).errors
    assert any(
        e.startswith("prog 'kprobe/do_nanosleep': relo #0: ") and e.endswith(": -7") for e in errors
    ), errors
    assert all(r.target_spec is not None for r in ours if r.failure is None)


def run_bounded(code: str, timeout: float = CHILD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter under an address-space limit, with a timeout."""
    prelude = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({CHILD_AS_LIMIT}, {CHILD_AS_LIMIT}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


def test_deep_anonymous_nesting_is_bounded(tmp_path: Path) -> None:
    """40 levels (2**40 paths for a plain depth-first search) minimize in well under a second."""
    kernel = tmp_path / "kernel.btf"
    kernel.write_bytes(dag_kernel(40))
    proc = run_bounded(
        f"""
        import time
        from btfhub_mirror.btf.parse import parse_btf
        from btfhub_mirror.elf import BpfObject
        from btfhub_mirror.minimize import minimize
        kernel = parse_btf(open({str(kernel)!r}, "rb").read())
        started = time.monotonic()
        result = minimize(kernel, [BpfObject.open({str(LOADABLE)!r})])
        print(time.monotonic() - started, result.relocations, result.unmatched)
        """
    )
    assert proc.returncode == 0, proc.stderr
    seconds, relocations, unmatched = proc.stdout.split()
    assert float(seconds) < 0.5
    assert int(relocations) > 0 and int(unmatched) == 0


# -- hostile access strings -------------------------------------------------------------------


def _section(obj: BpfObject, name: str) -> bytes:
    data = obj.section_data(name)
    assert data is not None
    return data


def with_access_string(tmp_path: Path, access: str, which: int = 0) -> Path:
    """LOADABLE with CO-RE record ``which`` pointing at ``access``, a string appended to the
    object's ``.BTF`` (written back with llvm-objcopy, so the ELF stays well formed)."""
    objcopy = need_tool("llvm-objcopy")
    obj = BpfObject.open(LOADABLE)
    btf = bytearray(_section(obj, ".BTF"))
    hdr_len, _, _, str_off, str_len = struct.unpack_from("<IIIII", btf, 4)
    strings_end = hdr_len + str_off + str_len
    assert strings_end == len(btf)
    new_off = str_len
    btf += access.encode() + b"\0"
    struct.pack_into("<I", btf, 20, str_len + len(access) + 1)
    ext = bytearray(_section(obj, ".BTF.ext"))
    ext_hdr_len = struct.unpack_from("<I", ext, 4)[0]
    core_off = struct.unpack_from("<I", ext, 24)[0]
    pos = ext_hdr_len + core_off
    rec_size = struct.unpack_from("<I", ext, pos)[0]
    first_record = pos + 4 + 8  # the first section's records follow its name and count
    struct.pack_into("<I", ext, first_record + which * rec_size + 8, new_off)
    (tmp_path / "btf").write_bytes(bytes(btf))
    (tmp_path / "ext").write_bytes(bytes(ext))
    out = tmp_path / "hostile.bpf.o"
    subprocess.run(
        [
            objcopy,
            f"--update-section=.BTF={tmp_path / 'btf'}",
            f"--update-section=.BTF.ext={tmp_path / 'ext'}",
            str(LOADABLE),
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    patched = BpfObject.open(out).core_relos[which]
    assert patched.access_str == access
    return out


SAMPLE_KERNEL = REPO / "tests" / "data" / "btfhub-sample"


def sample_kernel() -> Path:
    found = sorted(SAMPLE_KERNEL.rglob("*.btf.tar.xz"))
    assert found
    return found[0]


@pytest.mark.needs_bpftool
@pytest.mark.parametrize(
    "access",
    [
        "0:" + "4294967297",  # 2**32 + 1: sscanf("%d") keeps the low 32 bits, index 1
        "0:-" + "9" * 5000,  # saturates to LONG_MIN, whose low 32 bits are 0: index 0
        "0:" + "0" * 5000 + "1",  # leading zeros are just digits: index 1
    ],
    ids=["wraps", "huge-negative", "zeros"],
)
def test_overflowing_indices_read_as_libbpf_reads_them(access: str, tmp_path: Path) -> None:
    obj_path = with_access_string(tmp_path, access)
    kernel = sample_kernel()
    from btfhub_mirror.btf import load_btf

    obj = BpfObject.open(obj_path)
    ours = resolve_all(obj.btf, obj.core_relos, load_btf(kernel))
    assert ours[0].failure is None and ours[0].target_spec is not None
    compare(ours, oracle(kernel, obj_path))


def test_five_thousand_digit_index_is_a_typed_error(tmp_path: Path) -> None:
    """A positive index past LONG_MAX reads as -1: libbpf would index out of bounds with it;
    we refuse the relocation (typed), in the relocs listing too, quickly and in bounded memory."""
    obj_path = with_access_string(tmp_path, "0:" + "9" * 5000)
    kernel = sample_kernel()
    proc = run_bounded(
        f"""
        from btfhub_mirror.btf import load_btf
        from btfhub_mirror.btf.core import resolve_all
        from btfhub_mirror.elf import BpfObject, list_relocations
        from btfhub_mirror.errors import CoreReloError
        from btfhub_mirror.minimize import minimize
        obj = BpfObject.open({str(obj_path)!r})
        kernel = load_btf({str(kernel)!r})
        first = resolve_all(obj.btf, obj.core_relos, kernel)[0]
        print(first.failure.code, len(first.failure.reason))
        result = minimize(kernel, [obj])  # libbpf fails it: a load failure, not a warning
        print(len(result.warnings) + len(result.failures))
        try:
            list_relocations([{str(obj_path)!r}])
        except CoreReloError as err:
            print("CoreReloError", len(str(err)))
        """
    )
    assert proc.returncode == 0, proc.stderr
    spec_line, warnings_line, relocs_line = proc.stdout.splitlines()
    code, reason_len = spec_line.split()
    assert code == "spec" and int(reason_len) < 400  # the message quotes a short prefix
    assert int(warnings_line) >= 1
    assert relocs_line.startswith("CoreReloError")
    with pytest.raises(CoreReloError, match="negative index"):
        list_relocations([obj_path])


@pytest.mark.parametrize("access", ["0:1:", "0::1", "0:1x", "0:" + "1:" * 64 + "1"])
def test_malformed_access_strings_are_typed(access: str, tmp_path: Path) -> None:
    obj_path = with_access_string(tmp_path, access)
    obj = BpfObject.open(obj_path)
    first = resolve_all(obj.btf, obj.core_relos, parse_btf(dag_kernel(1)))[0]
    assert first.failure is not None and first.failure.code == "spec"
    with pytest.raises(BtfmirrorError):
        list_relocations([obj_path])


def test_one_invalid_name_offset_fails_every_lookup_without_rebuilding(tmp_path: Path) -> None:
    """libbpf's btf__parse refuses such a kernel (btf_validate_str); every relocation against it
    fails with the same typed error, and the name table is not rebuilt for each one."""
    from btfhub_mirror.btf import read_btf_source
    from btfhub_mirror.btf.core import find_candidates

    raw = bytearray(read_btf_source(sample_kernel()))
    good = parse_btf(bytes(raw))
    struct.pack_into("<I", raw, good.type_index().offsets[-1], 0x7FFFFFF0)
    kernel = parse_btf(bytes(raw))
    obj = BpfObject.open(LOADABLE)
    root = obj.core_relos[0].type_id
    timings, errors = [], []
    for _ in range(11):
        started = time.perf_counter()
        with pytest.raises(BtfmirrorError, match="outside the string section") as err:
            find_candidates(obj.btf, root, kernel)
        timings.append(time.perf_counter() - started)
        errors.append(str(err.value))
    assert len(set(errors)) == 1
    assert sum(timings[1:]) < timings[0]  # ten lookups after the first cost less than it
    failures = {
        r.failure.detail
        for r in resolve_all(obj.btf, obj.core_relos, kernel)
        if r.failure is not None
    }
    assert len(failures) == 1 and "outside the string section" in failures.pop()


def _nested(depth: int, width: int, leaf: str, *, struct_name: str = "foo") -> list[t.Type]:
    """``struct foo`` holding ``width`` anonymous members of a struct holding ``width`` of the
    next, ``depth`` levels, down to ``struct { int <leaf>; }``."""
    types: list[t.Type] = [t.Int("int", 4, 1, 0, 32), t.Struct("", 4, (t.Member(leaf, 1, 0),))]
    below = 2
    for level in range(depth):
        name = struct_name if level == depth - 1 else ""
        members = tuple(t.Member("", below, 0) for _ in range(width))
        types.append(t.Struct(name, 4, members))
        below = len(types)
    return types


@pytest.mark.parametrize(("leaf", "expected"), [("y", False), ("x", True)])
def test_type_match_on_wide_anonymous_nesting_is_bounded(leaf: str, expected: bool) -> None:
    """TYPE_MATCHES compares each local member with every same-named target member: 60-wide
    anonymous levels, 4 deep, are 13 million comparisons for a plain recursion."""
    local = parse_btf(encode_btf(_nested(4, 1, "x")))
    target = parse_btf(encode_btf(_nested(4, 60, leaf)))
    proc = run_bounded(
        f"""
        import time
        from btfhub_mirror.btf.core import types_match
        from btfhub_mirror.btf.parse import parse_btf
        local = parse_btf({encode_btf(_nested(4, 1, "x"))!r})
        target = parse_btf({encode_btf(_nested(4, 60, leaf))!r})
        started = time.monotonic()
        print(types_match(local, local.find("foo"), target, target.find("foo")))
        print(time.monotonic() - started)
        """
    )
    assert proc.returncode == 0, proc.stderr
    answer, seconds = proc.stdout.split()
    assert answer == str(expected) and float(seconds) < 0.5
    from btfhub_mirror.btf.core import types_match

    assert types_match(local, local.find("foo"), target, target.find("foo")) is expected


def test_type_match_level_limit_holds_with_memoised_answers() -> None:
    """An answer found high up is reused lower down only where libbpf's level limit would
    still let it through: 40 nested levels hit the limit (32) whatever was seen before."""
    from btfhub_mirror.btf.core import CoreFailure, types_match

    local = parse_btf(encode_btf(_nested(40, 1, "x")))
    target = parse_btf(encode_btf(_nested(40, 2, "x")))
    with pytest.raises(Exception, match="nesting too deep") as err:
        types_match(local, local.find("foo"), target, target.find("foo"))
    assert not isinstance(err.value, CoreFailure)  # internal: resolve() turns it into one
    shallow_l = parse_btf(encode_btf(_nested(20, 1, "x")))
    shallow_t = parse_btf(encode_btf(_nested(20, 2, "x")))
    assert types_match(shallow_l, shallow_l.find("foo"), shallow_t, shallow_t.find("foo"))
