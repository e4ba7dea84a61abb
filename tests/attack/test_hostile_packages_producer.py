"""Hostile kernel packages given to ``btfmirror add``: every one is a typed PackageError, in
bounded time and memory (a memory-capped child process), never an untyped crash or a hang.

Packages are made by the real tools (dpkg-deb, GNU ar, tar, xz, rpmbuild) and then damaged.
"""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from btfhub_mirror.errors import PackageError
from btfhub_mirror.producer.packages import read_package
from tests.helpers import need_tool
from tests.producer.builders import DebSpec, RpmSpec, build_deb, build_rpm

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "6.1.0-50-amd64"
CONTROL = (
    f"Package: linux-image-{RELEASE}\nVersion: 6.1.164-1\nArchitecture: amd64\n"
    "Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>\nDescription: x\n x\n"
)


def _control_tar_gz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = CONTROL.encode()
        info = tarfile.TarInfo("./control")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ar_deb(tmp_path: Path, data_name: str, data: bytes, name: str = "pkg.deb") -> Path:
    """A .deb assembled by GNU ar from its three members, in dpkg's order."""
    need_tool("ar")
    work = tmp_path / f"{name}.members"
    work.mkdir()
    (work / "debian-binary").write_bytes(b"2.0\n")
    (work / "control.tar.gz").write_bytes(_control_tar_gz())
    (work / data_name).write_bytes(data)
    out = tmp_path / name
    subprocess.run(
        ["ar", "rcD", str(out), "debian-binary", "control.tar.gz", data_name],
        check=True,
        cwd=work,
    )
    return out


@pytest.fixture(scope="module")
def good_deb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("deb")
    spec = DebSpec(
        f"linux-image-{RELEASE}",
        "6.1.164-1",
        "amd64",
        "Debian Kernel Team <x@y>",
        {f"boot/vmlinuz-{RELEASE}": os.urandom(300_000)},
        {},
        "xz",
    )
    return build_deb(spec, tmp / "good.deb").read_bytes()


@pytest.fixture(scope="module")
def good_rpm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    need_tool("rpmbuild")
    tmp = tmp_path_factory.mktemp("rpm")
    spec = RpmSpec(
        "kernel-core",
        "4.18.0",
        "147.5.1.el8_1",
        "x86_64",
        "CentOS",
        {"/lib/modules/4.18.0-147.5.1.el8_1.x86_64/vmlinuz": os.urandom(300_000)},
        "w1.xzdio",
    )
    return build_rpm(spec, tmp / "top").read_bytes()


@pytest.mark.needs_dpkg
def test_truncated_deb_is_typed_at_every_cut(tmp_path: Path, good_deb: bytes) -> None:
    assert read_package(_write(tmp_path / "whole.deb", good_deb)).images  # the uncut one reads
    for cut in (0, 7, 8, 30, 68, 72, 200, len(good_deb) // 2, len(good_deb) - 1):
        with pytest.raises(PackageError) as err:
            read_package(_write(tmp_path / f"cut{cut}.deb", good_deb[:cut]))
        assert f"cut{cut}.deb" in str(err.value)


@pytest.mark.needs_rpm
def test_truncated_rpm_is_typed_at_every_cut(tmp_path: Path, good_rpm: bytes) -> None:
    assert read_package(_write(tmp_path / "whole.rpm", good_rpm)).images
    for cut in (4, 50, 96, 100, 120, 400, 1000, len(good_rpm) // 2, len(good_rpm) - 1):
        with pytest.raises(PackageError) as err:
            read_package(_write(tmp_path / f"cut{cut}.rpm", good_rpm[:cut]))
        assert f"cut{cut}.rpm" in str(err.value)


@pytest.mark.needs_dpkg
def test_ar_member_declaring_more_than_the_file_is_refused(tmp_path: Path, good_deb: bytes) -> None:
    raw = bytearray(good_deb)
    raw[8 + 48 : 8 + 58] = b"9999999999"  # debian-binary's size field
    with pytest.raises(PackageError, match="declares 9999999999 bytes"):
        read_package(_write(tmp_path / "huge.deb", bytes(raw)))


@pytest.mark.needs_rpm
def test_rpm_header_counts_over_the_cap_are_refused(tmp_path: Path, good_rpm: bytes) -> None:
    for field, what in ((8, "index entries"), (12, "store")):
        raw = bytearray(good_rpm)
        raw[96 + field : 96 + field + 4] = b"\xff\xff\xff\xf0"  # the signature header's
        with pytest.raises(PackageError, match=what):
            read_package(_write(tmp_path / f"h{field}.rpm", bytes(raw)))


@pytest.mark.needs_rpm
def test_rpm_payload_not_what_the_header_says_is_refused(tmp_path: Path, good_rpm: bytes) -> None:
    at = good_rpm.rindex(b"\xfd7zXZ\x00")  # the payload's xz magic
    raw = bytearray(good_rpm)
    raw[at : at + 6] = b"\x1f\x8b\x08\x00\x00\x00"
    with pytest.raises(PackageError, match="said to be xz, but its bytes are gzip"):
        read_package(_write(tmp_path / "wrong.rpm", bytes(raw)))


def test_deb_data_member_not_what_its_name_says_is_refused(tmp_path: Path) -> None:
    need_tool("xz")
    tar = _tar({f"boot/vmlinuz-{RELEASE}": b"k" * 100})
    deb = ar_deb(tmp_path, "data.tar.xz", _gzip(tar))
    with pytest.raises(PackageError, match=r"data\.tar\.xz: said to be xz, but its bytes are gzip"):
        read_package(deb)


def test_deb_with_corrupt_xz_is_typed(tmp_path: Path) -> None:
    data = bytearray(lzma.compress(_tar({f"boot/vmlinuz-{RELEASE}": os.urandom(50_000)})))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(PackageError, match="xz"):
        read_package(ar_deb(tmp_path, "data.tar.xz", bytes(data)))


def test_traversal_and_odd_names_are_no_images(tmp_path: Path) -> None:
    tar = _tar(
        {
            "../boot/vmlinuz-9.9.9": b"a",
            "etc/../../boot/vmlinuz-8.8.8": b"b",
            "boot/vmlinuz-amd64": b"c",  # a meta name, no kernel version
            "boot/sub/vmlinuz-7.7.7": b"d",
            "./boot/vmlinuz-6.1.0-50-amd64.hmac": b"e",  # same pattern, but a release with .hmac
            f"/boot/vmlinuz-{RELEASE}": b"kernel",  # absolute: only a name, matched cleanly
        }
    )
    contents = read_package(ar_deb(tmp_path, "data.tar", tar))
    members = [image.member for image in contents.images]
    assert f"boot/vmlinuz-{RELEASE}" in members
    assert not any(".." in m or "9.9.9" in m or "8.8.8" in m or "7.7.7" in m for m in members)
    assert "boot/vmlinuz-amd64" not in members
    assert not any(m.endswith(".hmac") for m in members)
    assert contents.release == RELEASE


def test_second_data_member_is_refused(tmp_path: Path) -> None:
    need_tool("ar")
    tar = _tar({f"boot/vmlinuz-{RELEASE}": b"one"})
    deb = ar_deb(tmp_path, "data.tar", tar)
    (tmp_path / "data.tar.gz").write_bytes(_gzip(_tar({f"boot/vmlinuz-{RELEASE}": b"two"})))
    subprocess.run(["ar", "qD", str(deb), "data.tar.gz"], check=True, cwd=tmp_path)
    with pytest.raises(PackageError, match=r"a second data\.tar"):
        read_package(deb)


def test_not_a_package_is_typed(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"neither a \.deb"):
        read_package(_write(tmp_path / "x.deb", b"\x7fELF" + bytes(100)))


CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
from btfhub_mirror.errors import PackageError
from btfhub_mirror.producer.packages import PackageLimits, read_package
limits = PackageLimits(max_total_size=int(sys.argv[2])) if len(sys.argv) > 2 else None
try:
    got = read_package(sys.argv[1], **({"limits": limits} if limits else {}))
    print("READ" if got.images else "NO IMAGES")
except PackageError as err:
    print("TYPED", err)
finally:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    print("HWM", hwm.split()[1])
"""


def _child(*args: str) -> tuple[str, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return lines[0], int(lines[-1].split()[1])


def _xz_tar_stream(tmp_path: Path, name: str, size: int) -> bytes:
    """A tar.xz holding one ``size``-byte file of zeros, streamed (never in memory whole)."""
    out = tmp_path / "bomb.tar.xz"
    with lzma.open(out, "wb", preset=0) as xz, tarfile.open(fileobj=xz, mode="w|") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, _Zeros(size))
    return out.read_bytes()


def test_image_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    # A 3 GiB vmlinuz declared in the tar header (1 MiB of its data follows): over the 2 GiB
    # image cap, refused from the header alone; the child has 768 MiB of address space.
    info = tarfile.TarInfo(f"boot/vmlinuz-{RELEASE}")
    info.size = 3 << 30
    bomb = lzma.compress(info.tobuf(tarfile.GNU_FORMAT) + bytes(1 << 20), preset=0)
    verdict, hwm_kb = _child(str(ar_deb(tmp_path, "data.tar.xz", bomb)))
    assert verdict.startswith("TYPED") and "more than the" in verdict, verdict
    assert hwm_kb < 150 * 1024


def test_skipped_bytes_over_the_total_cap_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    # 256 MiB of a file nobody wants (no image name): streamed and skipped, never kept, until
    # the total cap (64 MiB here, as a caller may set it) stops the walk.
    bomb = _xz_tar_stream(tmp_path, "usr/share/doc/zeros", 256 << 20)
    verdict, hwm_kb = _child(str(ar_deb(tmp_path, "data.tar.xz", bomb)), str(64 << 20))
    assert verdict.startswith("TYPED") and "more than" in verdict, verdict
    assert hwm_kb < 150 * 1024


def test_a_kept_image_costs_its_size_once(tmp_path: Path) -> None:
    # A 256 MiB vmlinux (a debug one is ~600 MB): read through the decompressor into one
    # object, not copied from chunk lists (tarfile's stream reader held it three times).
    size = 256 << 20
    bomb = _xz_tar_stream(tmp_path, f"usr/lib/debug/boot/vmlinux-{RELEASE}", size)
    verdict, hwm_kb = _child(str(ar_deb(tmp_path, "data.tar.xz", bomb)))
    assert verdict == "READ"
    assert hwm_kb < (size + (size >> 1)) >> 10, hwm_kb


class _Zeros(io.RawIOBase):
    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
