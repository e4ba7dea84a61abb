"""The loader harness itself: libbpf's CO-RE decisions come out and follow the BTF given."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.archive import read_btf_archive
from btfhub_mirror.btf import Btf, Kind, parse_btf
from btfhub_mirror.btf.types import Struct
from tests.harness.build import Loader, LoadRun
from tests.helpers import SAMPLE, VMLINUX, require


def _expected_value(btf: Btf, kind: str, spec: str) -> int:
    """What libbpf must patch for a local spec, computed with btfmirror's own BTF parser."""
    task = btf.type(btf.find("task_struct", Kind.STRUCT))
    assert isinstance(task, Struct)
    if kind == "type_size":
        return task.size
    member_name = spec.split()[1].split(".", 1)[1]
    members = {m.name: m for m in task.members}
    if kind == "field_exists":
        return int(member_name in members)
    assert kind == "byte_off", kind
    return members[member_name].bit_offset // 8


def _check_against(run: LoadRun, btf: Btf) -> None:
    assert run.loaded, "\n".join(run.lines[-20:])
    decisions = run.core_decisions()
    assert len(decisions) == run.relocation_count() > 0
    specs = run.local_specs()
    for decision in decisions:
        kind, spec = specs[(decision.prog, decision.relo)]
        if decision.poisoned:  # only a read of a member the target lacks may be poisoned
            assert kind == "byte_off" and _expected_value(btf, "field_exists", spec) == 0
            continue
        assert decision.new_value == _expected_value(btf, kind, spec), (decision, spec)


@pytest.fixture(scope="module")
def vmlinux_path() -> Path:
    require(VMLINUX.is_file(), f"{VMLINUX} is missing: the kernel has no BTF")
    return VMLINUX


@pytest.mark.needs_bpf
@pytest.mark.needs_clang
def test_vmlinux_as_custom_path_matches_the_kernels_own(
    libbpf_loader: Loader, probe_object: Path, vmlinux_path: Path
) -> None:
    custom = libbpf_loader.run(probe_object, vmlinux_path)
    default = libbpf_loader.run(probe_object)
    assert custom.loaded and default.loaded
    assert custom.core_decisions() == default.core_decisions()
    _check_against(custom, parse_btf(vmlinux_path.read_bytes()))


@pytest.mark.needs_bpf
@pytest.mark.needs_clang
def test_decisions_follow_the_custom_btf(
    libbpf_loader: Loader, probe_object: Path, vmlinux_path: Path, tmp_path: Path
) -> None:
    # Another kernel's BTF (Debian 11, 5.10): libbpf must take offsets from it, not the kernel.
    archive = SAMPLE / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"
    raw = read_btf_archive(archive.read_bytes(), source=str(archive))
    other = tmp_path / "5.10.0-30-amd64.btf"
    other.write_bytes(raw)
    run = libbpf_loader.run(probe_object, other)
    _check_against(run, parse_btf(raw))
    full = libbpf_loader.run(probe_object, vmlinux_path)
    assert run.core_decisions() != full.core_decisions()


@pytest.mark.needs_bpf
@pytest.mark.needs_clang
def test_a_btf_without_the_types_fails_to_load(
    libbpf_loader: Loader, probe_object: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.btf"
    # Header only + "\0" string table: a valid BTF with no types at all.
    empty.write_bytes(bytes.fromhex("9feb0100180000000000000000000000000000000100000000"))
    run = libbpf_loader.run(probe_object, empty)
    assert not run.loaded
    assert any("failed to resolve CO-RE relocation" in line for line in run.lines)
