"""unpack_tar: every package format, hard links, and hostile archives refused without a trace."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest

from btfhub_mirror.errors import ArchiveError
from btfhub_mirror.runtime import ExtractLimits, unpack_tar
from btfhub_mirror.runtime.extract import NeedsFullExtraction
from tests.runtime.packages import (
    FORMATS,
    Entry,
    compress,
    file,
    pack_layout,
    package,
    sample_btf,
    tar_bytes,
)

BTF_A = "debian/12/x86_64/6.1.0-50-amd64"
BTF_B = "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64"


@pytest.fixture(scope="module")
def btfs() -> dict[str, bytes]:
    return {BTF_A: sample_btf(BTF_A), BTF_B: sample_btf(BTF_B)}


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (files) / "dir" / "-> target" (symlinks), for comparisons."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = f"-> {path.readlink()}"
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_unpacks_byte_for_byte(
    fmt: str, btfs: dict[str, bytes], tmp_path: Path
) -> None:
    data = package(pack_layout(btfs, package_json=b'{"bpf": "x"}'), fmt)
    unpacked = unpack_tar(data, tmp_dir=tmp_path)
    assert unpacked.package_json == b'{"bpf": "x"}'
    assert unpacked.archive is not None
    with unpacked.archive as extracted:
        for rel, raw in btfs.items():
            assert (extracted.path / f"{rel}.btf").read_bytes() == raw
        root = extracted.root
        assert root.parent == tmp_path
        files = [p for p in root.rglob("*") if p.is_file()]
        assert len(files) == len(btfs) + 1
        assert all(p.stat().st_mode & 0o7777 == 0o644 for p in files)
    assert extracted.closed and not root.exists()


def test_hard_linked_duplicates(btfs: dict[str, bytes], tmp_path: Path) -> None:
    # What pack --hardlinks writes: the second identical BTF as a link to the first.
    first = f"./btfhub-archive/{BTF_A}.btf"
    entries = [
        *pack_layout({BTF_A: btfs[BTF_A]}),
        Entry(
            "./btfhub-archive/debian/12/x86_64/6.1.0-47-amd64.btf",
            type=tarfile.LNKTYPE,
            linkname=first,
        ),
        Entry(
            "./btfhub-archive/debian/11/x86_64/twice.btf",
            type=tarfile.LNKTYPE,
            linkname=first.removeprefix("./"),
        ),
        file("./btfmirror.json", b"{}"),
    ]
    unpacked = unpack_tar(package(entries, "tar.xz"), tmp_dir=tmp_path)
    assert unpacked.archive is not None
    with unpacked.archive as extracted:
        linked = extracted.path / "debian/12/x86_64/6.1.0-47-amd64.btf"
        assert linked.read_bytes() == btfs[BTF_A]
        assert (extracted.path / "debian/11/x86_64/twice.btf").read_bytes() == btfs[BTF_A]
        assert not linked.is_symlink()


def test_inner_symlinks_are_kept(btfs: dict[str, bytes], tmp_path: Path) -> None:
    # btfhub-archive's codename aliases (debian/bookworm -> 12) survive, as relative links.
    entries = [
        *pack_layout({BTF_A: btfs[BTF_A]}),
        Entry("./btfhub-archive/debian/bookworm", type=tarfile.SYMTYPE, linkname="12"),
    ]
    unpacked = unpack_tar(package(entries), tmp_dir=tmp_path)
    assert unpacked.archive is not None
    with unpacked.archive as extracted:
        alias = extracted.path / "debian/bookworm/x86_64/6.1.0-50-amd64.btf"
        assert alias.read_bytes() == btfs[BTF_A]
        assert (extracted.path / "debian/bookworm").readlink() == Path("12")


def test_no_btfhub_archive_directory(tmp_path: Path) -> None:
    unpacked = unpack_tar(package([file("package.json", b"{}")], "tar.gz"), tmp_dir=tmp_path)
    assert unpacked == type(unpacked)(b"{}", None)
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_no_package_json(btfs: dict[str, bytes], tmp_path: Path) -> None:
    unpacked = unpack_tar(package(pack_layout(btfs, package_json=None)), tmp_dir=tmp_path)
    assert unpacked.package_json is None and unpacked.archive is not None
    unpacked.archive.close()
    unpacked.archive.close()  # idempotent
    assert list(tmp_path.iterdir()) == []


LINK, SYM = tarfile.LNKTYPE, tarfile.SYMTYPE
SMALL = ExtractLimits(
    max_entries=5, max_file_size=1000, max_total_size=1500, max_package_json_size=100
)


def hostile_cases(outside: Path) -> dict[str, tuple[list[Entry], str]]:
    """name -> (entries, expected message); ``outside`` is where an escape would write."""
    ok = file("./btfhub-archive/a/b/c/ok.btf", b"x")
    return {
        "dotdot": ([ok, file("../outside/evil", b"x")], "'..'"),
        "dotdot-inside": ([file("./btfhub-archive/../../outside/evil", b"x")], "'..'"),
        "absolute": ([file(f"{outside}/evil", b"x")], "absolute name"),
        "symlink-absolute": (
            [Entry("btfhub-archive/l", type=SYM, linkname=str(outside))],
            "leaves the archive",
        ),
        "symlink-dotdot": (
            [ok, Entry("btfhub-archive/a/l", type=SYM, linkname="../../../outside")],
            "leaves the archive",
        ),
        "symlink-then-write": (
            [Entry("l", type=SYM, linkname="btfhub-archive"), file("l/evil", b"x")],
            "goes through 'l', a symlink",
        ),
        "symlink-chain": (
            [
                ok,
                Entry("btfhub-archive/a/b/c/l", type=SYM, linkname="../.."),
                Entry("m", type=SYM, linkname="btfhub-archive/a/b/c/l/../../../.."),
            ],
            "'..' after a name",
        ),
        "symlink-to-symlink": (
            [
                ok,
                Entry("btfhub-archive/l", type=SYM, linkname="a"),
                Entry("m", type=SYM, linkname="btfhub-archive/l"),
            ],
            "symbolic link to a symbolic link",
        ),
        "hardlink-absolute": (
            [Entry("btfhub-archive/h", type=LINK, linkname="/etc/passwd")],
            "absolute name",
        ),
        "hardlink-dotdot": (
            [Entry("btfhub-archive/h", type=LINK, linkname="../outside/x")],
            "'..'",
        ),
        "hardlink-unseen": (
            [Entry("btfhub-archive/h", type=LINK, linkname="later.btf"), file("later.btf", b"x")],
            "no earlier file",
        ),
        "hardlink-to-dir": (
            [
                Entry("btfhub-archive", type=tarfile.DIRTYPE),
                Entry("h", type=LINK, linkname="btfhub-archive"),
            ],
            "no earlier file",
        ),
        "char-device": ([Entry("btfhub-archive/null", type=tarfile.CHRTYPE)], "character device"),
        "block-device": ([Entry("btfhub-archive/sda", type=tarfile.BLKTYPE)], "block device"),
        "fifo": ([Entry("btfhub-archive/fifo", type=tarfile.FIFOTYPE)], "FIFO"),
        "duplicate": ([ok, file("./btfhub-archive/a/b/c/ok.btf", b"y")], "appears twice"),
        "file-as-dir": (
            [file("btfhub-archive/f", b"x"), file("btfhub-archive/f/g", b"x")],
            "goes through",
        ),
        "oversize-file": ([file("btfhub-archive/big.btf", b"x" * 1001)], "more than the 1000"),
        "oversize-total": (
            [file(f"btfhub-archive/{i}.btf", b"x" * 900) for i in range(2)],
            "more than 1500 bytes",
        ),
        "oversize-package-json": ([file("package.json", b"{" * 101)], "more than the 100"),
        "too-many-entries": (
            [file(f"btfhub-archive/{i}", b"") for i in range(6)],
            "more than 5 entries",
        ),
    }


CASES = sorted(hostile_cases(Path("/x")))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fmt", ["tar", "tar.zst"])
@pytest.mark.parametrize("selective", [False, True], ids=["all", "wanted-nothing"])
def test_hostile_archive_is_refused_and_nothing_is_written(
    case: str, fmt: str, selective: bool, tmp_path: Path
) -> None:
    """Also when nothing is wanted (what select's first pass does): every entry is checked, or
    (links) the caller is sent to the full unpack, which refuses it."""
    sandbox = tmp_path / "sandbox"
    work = sandbox / "work"
    work.mkdir(parents=True)
    outside = sandbox / "outside"
    entries, message = hostile_cases(outside)[case]
    data = package(entries, fmt)
    if selective:
        try:
            unpack_tar(data, tmp_dir=work, limits=SMALL, wanted=lambda name: False)
        except NeedsFullExtraction:
            assert tree(sandbox) == {"work": "dir"}
        except ArchiveError as err:
            assert re.search(message, str(err)), err
            assert tree(sandbox) == {"work": "dir"}
            return
        else:
            pytest.fail("a hostile archive was accepted")
    with pytest.raises(ArchiveError, match=message):
        unpack_tar(data, tmp_dir=work, limits=SMALL)
    assert tree(sandbox) == {"work": "dir"}  # no escape, and the partial tree is gone


def test_only_wanted_files_are_written(btfs: dict[str, bytes], tmp_path: Path) -> None:
    data = package(pack_layout(btfs, package_json=b"{}"), "tar.gz")
    want = f"btfhub-archive/{BTF_B}.btf"
    unpacked = unpack_tar(data, tmp_dir=tmp_path, wanted={want, "package.json"}.__contains__)
    assert unpacked.package_json == b"{}" and unpacked.archive is not None
    with unpacked.archive as extracted:
        files = {
            p.relative_to(extracted.root).as_posix()
            for p in extracted.root.rglob("*")
            if p.is_file()
        }
        assert files == {want, "package.json"}
        assert (extracted.root / want).read_bytes() == btfs[BTF_B]


def test_wanted_hard_link_to_an_unwanted_file_asks_for_everything(
    btfs: dict[str, bytes], tmp_path: Path
) -> None:
    link = "btfhub-archive/debian/12/x86_64/6.1.0-47-amd64.btf"
    entries = [
        *pack_layout({BTF_A: btfs[BTF_A]}),
        Entry(f"./{link}", type=tarfile.LNKTYPE, linkname=f"./btfhub-archive/{BTF_A}.btf"),
    ]
    with pytest.raises(NeedsFullExtraction):
        unpack_tar(package(entries), tmp_dir=tmp_path, wanted=link.__eq__)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a readable tar"),
        (b"definitely not a tar archive" * 40, "not a readable tar"),
        (compress(tar_bytes([file("a", b"x" * 5000)]), "tar.xz")[:-40], "not a readable tar"),
        (compress(tar_bytes([file("a", b"x" * 5000)]), "tar.gz")[:30], "not a readable tar"),
        (b"\x28\xb5\x2f\xfd" + b"\x00" * 64, "zstd|not a readable tar"),
        (tar_bytes([file("a", b"x" * 5000)])[:1000], "not a readable tar|truncated"),
    ],
    ids=["empty", "garbage", "truncated-xz", "truncated-gz", "bad-zstd", "truncated-tar"],
)
def test_corrupt_archives(data: bytes, message: str, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=message):
        unpack_tar(data, tmp_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def pax_tar(count: int, comment_size: int) -> bytes:
    """``count`` empty files, each with a PAX comment of ``comment_size`` bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(count):
            info = tarfile.TarInfo(f"f{i}")
            info.pax_headers = {"comment": "x" * comment_size}
            tar.addfile(info)
    return buf.getvalue()


def test_huge_metadata_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    bomb = compress(pax_tar(1, 8 * 1024 * 1024), "tar.xz")
    assert len(bomb) < 10_000
    with pytest.raises(ArchiveError, match=r"metadata .* header"):
        unpack_tar(bomb, tmp_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_decompression_bomb_stops_at_the_stream_cap(tmp_path: Path) -> None:
    # Headers are not file data, so only the stream cap bounds them: 40 x 100 KB of PAX headers.
    bomb = compress(pax_tar(40, 100_000), "tar.zst")
    assert len(bomb) < 100_000
    limits = ExtractLimits(max_entries=1000, max_total_size=0)
    with pytest.raises(ArchiveError, match="decompresses to more than"):
        unpack_tar(bomb, tmp_dir=tmp_path, limits=limits)
    assert list(tmp_path.iterdir()) == []
