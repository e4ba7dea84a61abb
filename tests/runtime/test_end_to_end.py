"""Pack → select → load: the running kernel's BTF, chosen from a package, drives libbpf's CO-RE.

Until ``btfmirror pack`` exists the package is built here in its layout from the raw
``/sys/kernel/btf/vmlinux``; with pack, it should hold the BTF minimized for ``probe.bpf.c``.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from btfhub_mirror.runtime import (
    current_identity,
    get_current_system_btf_file,
    select_btf,
    unpack_tar,
)
from tests.harness.build import Loader, libbpf_loader, probe_object
from tests.helpers import VMLINUX, require
from tests.runtime.packages import Entry, file, pack_layout, write_package

__all__ = ["libbpf_loader", "probe_object"]  # fixtures, imported for pytest


@pytest.fixture(scope="module")
def running_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(VMLINUX.is_file(), f"{VMLINUX} is missing: the kernel has no BTF to pack")
    me = current_identity()
    member = me.archive_path.removesuffix(".btf")
    entries = [
        *pack_layout({member: VMLINUX.read_bytes()}, package_json=b'{"name": "probe"}'),
        # pack --hardlinks: an identical BTF for another kernel as a hard link.
        Entry(f"./btfhub-archive/{me.os_id}/{me.version_id}/{me.arch}/0.0.0-twin.btf",
              type=tarfile.LNKTYPE, linkname=f"./btfhub-archive/{member}.btf"),
        file("./btfmirror.json", b"{}"),
    ]  # fmt: skip
    return write_package(tmp_path_factory.mktemp("e2e"), entries, "tar.zst")


def test_select_for_the_running_identity_then_load(
    running_package: Path, libbpf_loader: Loader, probe_object: Path, tmp_path: Path
) -> None:
    me = current_identity()
    result = select_btf(running_package, identity=me, extract_to=tmp_path)
    assert result.custom_btf_needed and result.exact and result.release == me.release
    assert result.path is not None
    assert result.path.read_bytes() == VMLINUX.read_bytes()

    custom = libbpf_loader.run(probe_object, result.path)
    full = libbpf_loader.run(probe_object, VMLINUX)
    assert custom.loaded, "\n".join(custom.lines[-20:])
    assert full.loaded
    assert custom.core_decisions() == full.core_decisions()
    assert len(custom.core_decisions()) == custom.relocation_count() > 0


def test_kernel_without_btf_path_then_load(
    running_package: Path, libbpf_loader: Loader, probe_object: Path, tmp_path: Path
) -> None:
    # What a program does at start-up on a kernel without BTF (simulated by a vmlinux path
    # that does not exist): unpack its package, ask for the running system's file, load.
    unpacked = unpack_tar(running_package.read_bytes(), tmp_dir=tmp_path)
    assert unpacked.package_json == b'{"name": "probe"}' and unpacked.archive is not None
    with unpacked.archive as extracted:
        path = get_current_system_btf_file(extracted.path, vmlinux=tmp_path / "no-vmlinux")
        assert path is not None
        custom = libbpf_loader.run(probe_object, path)
        twin = libbpf_loader.run(probe_object, path.with_name("0.0.0-twin.btf"))
    full = libbpf_loader.run(probe_object, VMLINUX)
    assert custom.loaded and twin.loaded
    assert custom.core_decisions() == full.core_decisions() == twin.core_decisions()
