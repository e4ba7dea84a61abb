"""Kernel packages built by the distros' own tools (dpkg-deb, rpmbuild), for the tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import SAMPLE, need_tool

#: Real kernel BTF as the "image" bytes (the readers return them untouched).
DEBIAN_BTF = SAMPLE / "debian/12/x86_64/6.1.0-50-amd64.btf.tar.xz"
SMALL_BTF = SAMPLE / "kylin/V10/arm64/4.19.90-52.22.v2207.ky10.aarch64.btf.tar.xz"


def sample_btf(archive: Path) -> bytes:
    """The one member of a sample archive, by GNU tar (an independent reader)."""
    need_tool("tar")
    return subprocess.run(["tar", "-xJOf", str(archive)], check=True, capture_output=True).stdout


@dataclass(frozen=True)
class DebSpec:
    package: str
    version: str
    arch: str
    maintainer: str
    files: dict[str, bytes]  # path in the package -> bytes
    symlinks: dict[str, str]  # path -> target
    compression: str = "xz"  # dpkg-deb -Z


def build_deb(spec: DebSpec, out: Path) -> Path:
    need_tool("dpkg-deb")
    tree = out.with_suffix(".tree")
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {spec.package}\nVersion: {spec.version}\nArchitecture: {spec.arch}\n"
        f"Maintainer: {spec.maintainer}\nSource: linux\nDescription: test kernel\n test\n"
    )
    for name, data in spec.files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    for name, target in spec.symlinks.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).symlink_to(target)
    subprocess.run(
        [
            "dpkg-deb",
            "--root-owner-group",
            f"-Z{spec.compression}",
            "-z1",
            "--build",
            str(tree),
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


@dataclass(frozen=True)
class RpmSpec:
    name: str
    version: str
    release: str
    arch: str
    vendor: str
    files: dict[str, bytes]  # absolute path -> bytes
    payload: str = "w1.xzdio"  # rpm's _binary_payload: w<level>.<gz|xz|zst|bz>dio


def build_rpm(spec: RpmSpec, top: Path) -> Path:
    """An .rpm made by rpmbuild (a binary-only spec whose %install copies ``files``)."""
    need_tool("rpmbuild")
    for sub in ("SPECS", "BUILD", "RPMS", "SOURCES", "BUILDROOT", "files"):
        (top / sub).mkdir(parents=True, exist_ok=True)
    install = []
    for i, (name, data) in enumerate(spec.files.items()):
        (top / "files" / str(i)).write_bytes(data)
        install.append(f"mkdir -p %{{buildroot}}{Path(name).parent}")
        install.append(f"cp {top}/files/{i} %{{buildroot}}{name}")
    text = "\n".join(
        [
            f"Name: {spec.name}",
            f"Version: {spec.version}",
            f"Release: {spec.release}",
            "Summary: test kernel",
            "License: GPLv2",
            f"Vendor: {spec.vendor}",
            "%description",
            "test",
            "%install",
            *install,
            "%files",
            *spec.files,
            "",
        ]
    )
    spec_file = top / "SPECS" / "k.spec"
    spec_file.write_text(text)
    subprocess.run(
        [
            "rpmbuild",
            "-bb",
            "--target",
            spec.arch,
            "--define",
            f"_topdir {top}",
            "--define",
            "__os_install_post %{nil}",
            "--define",
            "debug_package %{nil}",
            "--define",
            "_build_id_links none",
            "--define",
            f"_binary_payload {spec.payload}",
            str(spec_file),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = (top / "RPMS").rglob("*.rpm")
    return built
