"""The bpftool log oracle, and the ELF/.BTF.ext reader checked against what libbpf printed.

libbpf numbers relocations per section in ``.BTF.ext`` order and prints the local spec it
parsed from the record; so the N-th record of a section in our reading must be ``relo #N``,
with the same kind, root type id, access string (for field kinds) and C path.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from btfhub_mirror.btf import Kind, parse_btf
from btfhub_mirror.btf.ext import CoreRelo, describe_access
from btfhub_mirror.elf import BpfObject
from tests.cache import kernel_btf
from tests.helpers import need_tool, sample_archives, sample_id
from tests.oracle import OracleRun, parse_log, run_min_core_btf

from .conftest import NAMES, bpf_object, golden_logs, golden_meta, object_path


def by_section(obj: BpfObject) -> dict[str, list[CoreRelo]]:
    grouped: dict[str, list[CoreRelo]] = defaultdict(list)
    for relo in obj.core_relos:
        grouped[relo.section].append(relo)
    return grouped


def check_against_log(obj: BpfObject, run: OracleRun) -> None:
    mine = by_section(obj)
    for logged in run.relos:
        relo = mine[logged.section][logged.index]
        assert logged.kind == relo.kind.short_name
        assert logged.local_type_id == relo.type_id
        assert logged.local.c_text == describe_access(obj.btf, relo)
        if relo.kind.is_field_based:
            assert logged.local.raw_spec == relo.access_str
    if run.ok:
        assert run.count_by_section() == {sec: len(relos) for sec, relos in mine.items()}
    else:
        assert run.errors, "bpftool failed without saying why"


@pytest.mark.parametrize("log", golden_logs(), ids=lambda p: p.name)
def test_golden_logs_agree_with_the_objects(log: Path) -> None:
    name, _, rc = golden_meta(log)
    run = parse_log(log.read_text(), rc)
    assert run.relos and not run.other
    check_against_log(bpf_object(name), run)


def test_golden_logs_cover_matches_misses_and_ambiguity() -> None:
    runs = [parse_log(p.read_text(), golden_meta(p)[2]) for p in golden_logs()]
    relos = [r for run in runs for r in run.relos]
    assert any(r.matched and r.target_offset for r in relos)
    assert any(r.no_match and not r.candidates for r in relos)  # a type no kernel has
    assert any(r.no_match and r.candidates for r in relos)  # candidates, none matching
    assert any(r.target_enum for r in relos)
    assert any("." in (r.target_offset or "") for r in relos)  # a bitfield's bit offset
    failed = [run for run in runs if not run.ok]
    assert failed and all(
        any("relocation decision ambiguity" in e for e in run.errors) for run in failed
    )


def test_parse_log_first_match_and_enum() -> None:
    log = next(p for p in golden_logs() if p.name.startswith("core_types@debian-11"))
    run = parse_log(log.read_text())
    tgid = next(r for r in run.relos if r.local.enumerator == ("PIDTYPE_TGID", 1))
    assert tgid.matched and tgid.target_enum is not None and tgid.target_enum[0] == "PIDTYPE_TGID"
    missing = next(r for r in run.relos if "btfmirror_no_such_struct" in r.local.text)
    assert not missing.matched and missing.no_match and missing.target_path is None


# -- live runs against the sample kernels (need bpftool) -----------------------------------------


@pytest.fixture(scope="module")
def raw_kernels() -> dict[str, Path]:
    """The sample's archives (bpftool gets their raw BTF, extracted once per session)."""
    need_tool("bpftool")
    return {sample_id(archive): archive for archive in sample_archives()}


@pytest.mark.needs_bpftool
@pytest.mark.parametrize("name", NAMES)
def test_live_logs_agree_with_the_objects(name: str, raw_kernels: dict[str, Path]) -> None:
    obj = bpf_object(name)
    for kernel, raw in raw_kernels.items():
        run = run_min_core_btf(raw, [object_path(name)])
        assert run.relos, f"{kernel}: no relocation lines"
        check_against_log(obj, run)
        if run.ok:
            assert run.output is not None
            parse_btf(run.output)


@pytest.mark.needs_bpftool
def test_ambiguous_aborts_exactly_on_kernels_with_duplicate_task_struct(
    raw_kernels: dict[str, Path],
) -> None:
    aborted = set()
    duplicated = set()
    for kernel, raw in raw_kernels.items():
        btf = kernel_btf(raw)
        structs = [i for i in btf.ids_by_name("task_struct") if btf.kind(i) == Kind.STRUCT]
        if len(structs) > 1:
            duplicated.add(kernel)
        run = run_min_core_btf(raw, [object_path("ambiguous")])
        if not run.ok:
            (relo,) = run.relos
            assert any("relocation decision ambiguity" in e for e in relo.errors)
            assert run.output is None
            aborted.add(kernel)
    assert duplicated, "the sample should have kernels with duplicate task_struct"
    assert aborted == duplicated


def test_oracle_refuses_big_endian_objects() -> None:
    with pytest.raises(ValueError, match="big-endian"):
        run_min_core_btf(Path("/nonexistent.btf"), [object_path("ambiguous", "eb")])
