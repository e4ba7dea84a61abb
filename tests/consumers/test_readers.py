"""Issue #13, done when: every sample kernel, packed by ``btfmirror pack --for CONSUMER``, is
found by that consumer's own reader (written here from the loader's code, not btfmirror's) as
the kernel's system would look for it, and the bytes found equal ``bpftool gen min_core_btf``.

The sample's systems cover ``uname -m`` x86_64, aarch64 (btfhub's arm64) and s390x, Debian's
unquoted ``ID=debian`` and CentOS' and Kylin's quoted ``ID="centos"``, and the codename link
``debian/bookworm -> 12`` of the mirrored archive.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import KERNELS, Embedders, Packages
from .readers import (
    CReader,
    Found,
    GoReader,
    Kernel,
    ReaderFailed,
    System,
    dir_tree,
    ecli_gnu_tar,
    ecli_tarfile,
)

Reader = Callable[[Path, System], Found]

pytestmark = [pytest.mark.needs_bpftool, pytest.mark.slow]


def all_found(read: Reader, package: Path, expected: dict[Kernel, bytes]) -> None:
    missed = misses(read, package, expected)
    assert not missed, f"{len(missed)} of {len(KERNELS)} kernels missed:\n" + "\n".join(missed)


def misses(read: Reader, package: Path, expected: dict[Kernel, bytes]) -> list[str]:
    """Every kernel the reader does not find with bpftool's bytes, and why."""
    out = []
    for kernel in KERNELS:
        found = read(package, kernel.system)
        if found.data is None:
            out.append(f"{kernel}: {found.name} not found")
        elif found.data != expected[kernel]:
            out.append(
                f"{kernel}: {found.name}: {len(found.data)} bytes, "
                f"not bpftool's {len(expected[kernel])}"
            )
    return out


def test_the_sample_covers_every_identity() -> None:
    machines = {k.system.machine for k in KERNELS}
    assert {"x86_64", "aarch64", "s390x"} <= machines
    assert any('ID="' in k.system.os_release for k in KERNELS if k.system.machine == "aarch64")
    assert any("ID=debian" in k.system.os_release for k in KERNELS)


@pytest.fixture
def reader(request: pytest.FixtureRequest) -> Reader:
    """The reader named by the test's ``reader`` parameter (Go built only when asked for)."""
    name = request.param
    if name in ("bcc", "bpf-compatible"):
        c: CReader = request.getfixturevalue("c_reader")
        return lambda package, system: c.read(name, package, system)
    if name == "go":
        go: GoReader = request.getfixturevalue("go_reader")
        return go.read
    if name == "go-embed":
        embedders: Embedders = request.getfixturevalue("embedders")
        return embedders.read
    return {"tarfile": ecli_tarfile, "gnu-tar": ecli_gnu_tar, "tree": dir_tree}[name]


@pytest.mark.parametrize(
    ("consumer", "reader"),
    [
        ("bpf-compatible", "bpf-compatible"),
        ("ecli", "tarfile"),
        ("ecli", "gnu-tar"),
        ("bcc", "bcc"),
        pytest.param("inspektor-gadget", "go", marks=pytest.mark.needs_go),
        ("dir", "tree"),
        pytest.param("dir", "go-embed", marks=pytest.mark.needs_go),
    ],
    indirect=["reader"],
)
def test_every_kernel_is_found_by_its_consumer(
    consumer: str, reader: Reader, packages: Packages, expected: dict[Kernel, bytes]
) -> None:
    package = packages.get(consumer)
    all_found(reader, package, expected)


@pytest.mark.parametrize("reader", ["bpf-compatible"], indirect=True)
def test_the_default_package_serves_the_c_reader(
    reader: Reader, packages: Packages, expected: dict[Kernel, bytes]
) -> None:
    """Without --for: the bpf-compatible layout, read on x86_64, aarch64 and s390x systems."""
    all_found(reader, packages.get(None), expected)


@pytest.mark.parametrize("reader", ["tarfile", "gnu-tar"], indirect=True)
def test_ecli_follows_the_hard_links_it_is_given(
    reader: Reader, packages: Packages, expected: dict[Kernel, bytes]
) -> None:
    package = packages.get("ecli", "--hardlinks")
    with tarfile.open(package, "r:") as tar:
        assert any(m.islnk() for m in tar.getmembers())  # the sample has identical outputs
    all_found(reader, package, expected)


def test_each_consumer_gets_the_container_its_reader_takes(
    c_reader: CReader, packages: Packages
) -> None:
    """A reader given another consumer's container fails outright (not a quiet miss)."""
    system = KERNELS[0].system
    with pytest.raises(ReaderFailed, match="not a gzip stream"):
        c_reader.read("bcc", packages.get("ecli"), system)
    with pytest.raises(ReaderFailed, match="tarfile"):
        ecli_tarfile(packages.get("bpf-compatible"), system)
    with pytest.raises(ReaderFailed, match="compressed"):
        ecli_gnu_tar(packages.get("bcc"), system)
    with pytest.raises(ReaderFailed, match="not a directory"):
        dir_tree(packages.get("bcc"), system)


@pytest.mark.parametrize(
    ("consumer", "reader"),
    [("bcc", "bpf-compatible"), ("bpf-compatible", "bcc")],
    indirect=["reader"],
)
def test_a_package_for_one_c_reader_is_not_for_the_other(
    consumer: str, reader: Reader, packages: Packages, expected: dict[Kernel, bytes]
) -> None:
    """The readers differ in the names they compute: each package is a miss for the other, so
    a reader that found everything everywhere could not pass the tests above."""
    assert len(misses(reader, packages.get(consumer), expected)) == len(KERNELS)
