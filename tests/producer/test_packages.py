"""read_package on kernel packages built by dpkg-deb and rpmbuild around real kernel BTF.

What the reader returns is checked against the distros' own tools, never against itself:
``dpkg-deb -x`` / ``dpkg-deb -f`` for a .deb, ``rpm -qp --qf`` and ``rpm2archive`` + GNU tar for
an .rpm.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from btfhub_mirror.producer.packages import read_package
from tests.helpers import SAMPLE, need_tool
from tests.producer.builders import (
    DEBIAN_BTF,
    SMALL_BTF,
    DebSpec,
    RpmSpec,
    build_deb,
    build_rpm,
    sample_btf,
)

ARM64_BTF = SAMPLE / "debian/12/arm64/6.1.0-50-arm64.btf.tar.xz"


def dpkg_extract(deb: Path, dest: Path) -> Path:
    subprocess.run([need_tool("dpkg-deb"), "-x", str(deb), str(dest)], check=True)
    return dest


def dpkg_field(deb: Path, field: str) -> str:
    done = subprocess.run(
        [need_tool("dpkg-deb"), "-f", str(deb), field], check=True, capture_output=True
    )
    return done.stdout.decode().strip()


# --- .deb -----------------------------------------------------------------------------------

DEB_CASES = {
    # Debian 12's own kernel: the 6.1.0-N ABI is bookworm's series; xz as Debian builds it.
    "debian-image": (
        DebSpec(
            "linux-image-6.1.0-50-amd64",
            "6.1.164-1",
            "amd64",
            "Debian Kernel Team <debian-kernel@lists.debian.org>",
            {"boot/vmlinuz-6.1.0-50-amd64": b"@DEBIAN"},
            {},
            "xz",
        ),
        ("debian", "12", "x86_64", "6.1.0-50-amd64"),
        ["boot/vmlinuz-6.1.0-50-amd64"],
    ),
    # A -dbg package: the debug vmlinux (a symlink to it under lib/modules is no second image);
    # a vmlinuz next to it is listed after it (best first). A backport says its suite: bpo11.
    "debian-dbg": (
        DebSpec(
            "linux-image-6.1.0-0.deb11.17-amd64-dbg",
            "6.1.69-1~bpo11+1",
            "amd64",
            "Debian Kernel Team <debian-kernel@lists.debian.org>",
            {
                "boot/vmlinuz-6.1.0-0.deb11.17-amd64": b"vmlinuz bytes",
                "usr/lib/debug/boot/vmlinux-6.1.0-0.deb11.17-amd64": b"@DEBIAN",
            },
            {
                "usr/lib/debug/lib/modules/6.1.0-0.deb11.17-amd64/vmlinux": (
                    "../../../boot/vmlinux-6.1.0-0.deb11.17-amd64"
                ),
            },
            "gzip",
        ),
        ("debian", "11", "x86_64", "6.1.0-0.deb11.17-amd64"),
        [
            "usr/lib/debug/boot/vmlinux-6.1.0-0.deb11.17-amd64",
            "boot/vmlinuz-6.1.0-0.deb11.17-amd64",
        ],
    ),
    # Ubuntu's .ddeb (zstd since 21.10): an HWE kernel names its series after the "~".
    "ubuntu-ddeb": (
        DebSpec(
            "linux-image-unsigned-5.15.0-91-generic-dbgsym",
            "5.15.0-91.101~20.04.1",
            "arm64",
            "Ubuntu Kernel Team <kernel-team@lists.ubuntu.com>",
            {"usr/lib/debug/boot/vmlinux-5.15.0-91-generic": b"@ARM64"},
            {},
            "zstd",
        ),
        ("ubuntu", "20.04", "arm64", "5.15.0-91-generic"),
        ["usr/lib/debug/boot/vmlinux-5.15.0-91-generic"],
    ),
    # A vendor build says nothing of its distro: None, the caller must give --distro/--version.
    "vendor-uncompressed": (
        DebSpec(
            "linux-image-6.6.7-acme",
            "6.6.7-1",
            "ppc64el",
            "ACME Kernel <k@acme.example>",
            {"boot/vmlinux-6.6.7-acme": b"@DEBIAN", "boot/config-6.6.7-acme": b"CONFIG_X=y\n"},
            {},
            "none",
        ),
        (None, None, "ppc64le", "6.6.7-acme"),
        ["boot/vmlinux-6.6.7-acme"],
    ),
}


def _bytes(files: dict[str, bytes]) -> dict[str, bytes]:
    real = {b"@DEBIAN": sample_btf(DEBIAN_BTF), b"@ARM64": sample_btf(ARM64_BTF)}
    return {name: real.get(data, data) for name, data in files.items()}


@pytest.mark.needs_dpkg
@pytest.mark.parametrize("case", list(DEB_CASES))
def test_deb_metadata_and_images(tmp_path: Path, case: str) -> None:
    need_tool("dpkg-deb")
    spec, expected, members = DEB_CASES[case]
    spec = DebSpec(
        spec.package,
        spec.version,
        spec.arch,
        spec.maintainer,
        _bytes(spec.files),
        spec.symlinks,
        spec.compression,
    )
    suffix = ".ddeb" if case.endswith("ddeb") else ".deb"
    deb = build_deb(spec, tmp_path / f"pkg{suffix}")
    contents = read_package(deb)
    assert (contents.distro, contents.version, contents.arch, contents.release) == expected
    # The release is the one dpkg itself reads out of the package name.
    assert expected[3] is not None and expected[3] in dpkg_field(deb, "Package")
    tree = dpkg_extract(deb, tmp_path / "x")
    assert [image.member for image in contents.images] == members
    for image in contents.images:
        assert image.data == (tree / image.member).read_bytes()


# --- .rpm -----------------------------------------------------------------------------------

RPM_CASES = {
    # CentOS 8's kernel-core (aarch64 → btfhub's arm64); the vendor tells CentOS from RHEL.
    "centos-core-xz": (
        RpmSpec(
            "kernel-core",
            "4.18.0",
            "147.5.1.el8_1",
            "aarch64",
            "CentOS",
            {"/lib/modules/4.18.0-147.5.1.el8_1.aarch64/vmlinuz": b"@BTF"},
            "w1.xzdio",
        ),
        ("centos", "8", "arm64", "4.18.0-147.5.1.el8_1.aarch64"),
    ),
    "fedora-core-zstd": (
        RpmSpec(
            "kernel-core",
            "6.5.6",
            "300.fc39",
            "x86_64",
            "Fedora Project",
            {"/lib/modules/6.5.6-300.fc39.x86_64/vmlinuz": b"@BTF"},
            "w1.zstdio",
        ),
        ("fedora", "39", "x86_64", "6.5.6-300.fc39.x86_64"),
    ),
    "amzn-kernel-gzip": (
        RpmSpec(
            "kernel",
            "5.10.205",
            "195.807.amzn2",
            "x86_64",
            "Amazon Linux",
            {"/boot/vmlinuz-5.10.205-195.807.amzn2.x86_64": b"@BTF"},
            "w1.gzdio",
        ),
        ("amzn", "2", "x86_64", "5.10.205-195.807.amzn2.x86_64"),
    ),
    # A debuginfo rpm of a distro we cannot name: metadata None but the arch; bzip2 payload.
    "kylin-debuginfo-bzip2": (
        RpmSpec(
            "kernel-debuginfo",
            "4.19.90",
            "52.22.v2207.ky10",
            "aarch64",
            "KylinSoft",
            {"/usr/lib/debug/lib/modules/4.19.90-52.22.v2207.ky10.aarch64/vmlinux": b"@BTF"},
            "w1.bzdio",
        ),
        (None, None, "arm64", "4.19.90-52.22.v2207.ky10.aarch64"),
    ),
    # SUSE's uname -r is not VERSION-RELEASE.ARCH: the image's path says it.
    "suse-default": (
        RpmSpec(
            "kernel-default",
            "5.14.21",
            "150400.24.46.1",
            "x86_64",
            "SUSE LLC",
            {"/boot/vmlinuz-5.14.21-150400.24.46-default": b"@BTF"},
            "w1.xzdio",
        ),
        (None, None, "x86_64", "5.14.21-150400.24.46-default"),
    ),
}


@pytest.mark.needs_rpm
@pytest.mark.parametrize("case", list(RPM_CASES))
def test_rpm_metadata_and_images(tmp_path: Path, case: str) -> None:
    need_tool("rpmbuild")
    need_tool("rpm2archive")
    spec, expected = RPM_CASES[case]
    btf = sample_btf(SMALL_BTF)
    files = {name: btf if data == b"@BTF" else data for name, data in spec.files.items()}
    rpm = build_rpm(
        RpmSpec(spec.name, spec.version, spec.release, spec.arch, spec.vendor, files, spec.payload),
        tmp_path / "top",
    )
    contents = read_package(rpm)
    assert (contents.distro, contents.version, contents.arch, contents.release) == expected
    # rpm itself reads the same header: name, version, release, arch and the compressor.
    query = subprocess.run(
        [
            "rpm",
            "-qp",
            "--qf",
            "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{PAYLOADCOMPRESSOR}",
            str(rpm),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert query[:4] == [spec.name, spec.version, spec.release, spec.arch]
    assert (
        query[4]
        == {"xz": "xz", "zst": "zstd", "gz": "gzip", "bz": "bzip2"}[
            spec.payload.split(".")[1].removesuffix("dio")
        ]
    )
    # rpm2archive (librpm's own payload reader) + GNU tar give the same bytes.
    subprocess.run(["rpm2archive", str(rpm)], check=True, cwd=tmp_path)
    tree = tmp_path / "x"
    tree.mkdir()
    subprocess.run(["tar", "-xzf", f"{rpm}.tgz", "-C", str(tree)], check=True)
    assert [image.member for image in contents.images] == [n.lstrip("/") for n in files]
    for image in contents.images:
        assert image.data == (tree / image.member).read_bytes() == btf
