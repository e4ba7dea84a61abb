"""Pack → select → load: ``btfmirror pack`` minimizes the running kernel's BTF for
``probe.bpf.c``; the file chosen from that package drives libbpf's CO-RE like the full BTF.

The package comes from the real pipeline: a btfhub-shaped git remote holding this kernel's
``/sys/kernel/btf/vmlinux`` under its os-release identity (plus a twin release with the same
BTF), ``sync``, then ``pack --hardlinks`` to a .tar.zst, so the twin is a hard link.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import sync
from btfhub_mirror.pack import pack
from btfhub_mirror.runtime import (
    current_identity,
    get_current_system_btf_file,
    select_btf,
    unpack_tar,
)
from tests.harness.build import Loader
from tests.helpers import VMLINUX, need_tool, require
from tests.mirror.gitfixtures import git

TWIN = "0.0.0-twin"


def btf_tar_xz(release: str, raw: bytes) -> bytes:
    """A btfhub-archive entry: an xz tar holding ``<release>.btf``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:xz") as tar:
        info = tarfile.TarInfo(f"{release}.btf")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return out.getvalue()


@pytest.fixture(scope="module")
def running_package(probe_object: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(VMLINUX.is_file(), f"{VMLINUX} is missing: the kernel has no BTF to pack")
    need_tool("git")
    me = current_identity()
    tmp = tmp_path_factory.mktemp("e2e")
    origin = tmp / "origin"
    directory = origin / me.os_id / me.version_id / me.arch
    directory.mkdir(parents=True)
    raw = VMLINUX.read_bytes()
    for release in (me.release, TWIN):
        (directory / f"{release}.btf.tar.xz").write_bytes(btf_tar_xz(release, raw))
    git("init", "-q", "-b", "main", cwd=origin)
    git("config", "uploadpack.allowFilter", "true", cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-q", "-m", "this kernel", cwd=origin)

    store = Store(tmp / "cache")
    selection = KernelFilter.create((me.os_id,), (), (), ())
    sync(store, selection, [f"file://{origin}/.git"])
    (tmp / "package.json").write_text('{"name": "probe"}')
    result = pack(
        store,
        [probe_object],
        tmp / "probe.tar.zst",
        selection,
        package_json=tmp / "package.json",
        hardlinks=True,
    )
    assert len(result.packed) == 2 and result.distinct == 1
    return result.output


@pytest.mark.needs_bpf
@pytest.mark.needs_clang
def test_select_for_the_running_identity_then_load(
    running_package: Path, libbpf_loader: Loader, probe_object: Path, tmp_path: Path
) -> None:
    me = current_identity()
    result = select_btf(running_package, identity=me, extract_to=tmp_path)
    assert result.custom_btf_needed and result.exact and result.release == me.release
    assert result.path is not None
    minimized = result.path.read_bytes()
    assert 0 < len(minimized) < len(VMLINUX.read_bytes()) // 100

    custom = libbpf_loader.run(probe_object, result.path)
    full = libbpf_loader.run(probe_object, VMLINUX)
    assert custom.loaded, "\n".join(custom.lines[-20:])
    assert full.loaded
    assert custom.core_decisions() == full.core_decisions()
    assert len(custom.core_decisions()) == custom.relocation_count() > 0


@pytest.mark.needs_bpf
@pytest.mark.needs_clang
def test_kernel_without_btf_path_then_load(
    running_package: Path, libbpf_loader: Loader, probe_object: Path, tmp_path: Path
) -> None:
    # What a program does at start-up on a kernel without BTF (simulated by a vmlinux path
    # that does not exist): unpack its package, ask for the running system's file, load.
    unpacked = unpack_tar(running_package.read_bytes(), tmp_dir=tmp_path)
    assert unpacked.package_json == b'{"name": "probe"}' and unpacked.archive is not None
    with unpacked.archive as extracted:
        manifest = json.loads((extracted.root / "btfmirror.json").read_bytes())
        path = get_current_system_btf_file(extracted.path, vmlinux=tmp_path / "no-vmlinux")
        assert path is not None
        twin = path.with_name(f"{TWIN}.btf")
        assert twin.read_bytes() == path.read_bytes()
        custom = libbpf_loader.run(probe_object, path)
        twin_run = libbpf_loader.run(probe_object, twin)
    files = sorted(k["file"] for k in manifest["kernels"])
    links = {k["file"]: k["hardlink_to"] for k in manifest["kernels"] if "hardlink_to" in k}
    assert links == {files[1]: files[0]}  # stored once, under the first name
    full = libbpf_loader.run(probe_object, VMLINUX)
    assert custom.loaded and twin_run.loaded
    assert custom.core_decisions() == full.core_decisions() == twin_run.core_decisions()
