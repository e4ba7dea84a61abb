"""``add`` of distro kernel packages built by dpkg-deb and rpmbuild around a bzImage that holds
the sample's BTF: the package says the arch and release, the flags the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.producer import Identity, add_sources, init_archive
from tests.mirror.gitfixtures import git

from .builders import DebSpec, RpmSpec, build_deb, build_rpm
from .conftest import RELEASE, gnu_untar


@pytest.mark.needs_dpkg
def test_deb_with_a_bzimage(tmp_path: Path, bzimages: dict[str, Path], sample_btf: Path) -> None:
    deb = build_deb(
        DebSpec(
            f"linux-image-{RELEASE}",
            "6.1.158-1",
            "amd64",
            "Debian Kernel Team <x@debian.org>",
            {
                f"boot/vmlinuz-{RELEASE}": bzimages["xz"].read_bytes(),
                f"boot/config-{RELEASE}": b"CONFIG_DEBUG_INFO_BTF=y\n",
            },
            {},
        ),
        tmp_path / "linux-image.deb",
    )
    archive, _ = init_archive(tmp_path / "archive")
    result = add_sources(archive, [deb], Identity("debian", "12"))
    (kernel,) = result.kernels
    assert kernel.path == f"debian/12/x86_64/{RELEASE}.btf.tar.xz"
    assert kernel.how.startswith(f"boot/vmlinuz-{RELEASE} > bzImage xz payload")
    assert gnu_untar(archive / kernel.path) == sample_btf.read_bytes()
    assert "linux-image.deb" in git("log", "-1", "--format=%B", cwd=archive)


@pytest.mark.needs_rpm
def test_rpm_kernel_core(tmp_path: Path, bzimages: dict[str, Path], sample_btf: Path) -> None:
    release = "5.14.0-427.13.1.el9_4.x86_64"
    rpm = build_rpm(
        RpmSpec(
            "kernel-core",
            "5.14.0",
            "427.13.1.el9_4",
            "x86_64",
            "Rocky Enterprise Software",
            {f"/lib/modules/{release}/vmlinuz": bzimages["gzip"].read_bytes()},
        ),
        tmp_path / "rpmbuild",
    )
    archive, _ = init_archive(tmp_path / "archive")
    result = add_sources(archive, [rpm], Identity("rocky", "9.4"))
    (kernel,) = result.kernels
    assert kernel.path == f"rocky/9.4/x86_64/{release}.btf.tar.xz"
    assert gnu_untar(archive / kernel.path) == sample_btf.read_bytes()
