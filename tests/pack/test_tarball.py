"""The reproducible tar writer, read back by Python's tarfile, GNU tar and our own unpacker."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from btfhub_mirror import package
from btfhub_mirror.errors import UsageError
from btfhub_mirror.pack.tarball import Member, source_date_epoch, tar_name, write_archive
from btfhub_mirror.package import compression_for, open_decompressed
from btfhub_mirror.runtime import unpack_tar
from tests.helpers import need_tool

#: Every format of the registry: a new one is tested here without an edit.
FORMATS = tuple(package.FORMATS)

MEMBERS = [
    Member("", "dir"),
    Member("btfhub-archive", "dir"),
    Member("btfhub-archive/debian", "dir"),
    Member("package.json", data=b'{"name": "x"}'),
    Member("btfhub-archive/debian/b.btf", data=b"\x9f\xeb" + bytes(range(200))),
    Member("btfhub-archive/debian/a.btf", "hardlink", link_to="btfhub-archive/debian/b.btf"),
]


def archive(fmt: str, members: list[Member] = MEMBERS, mtime: int = 0) -> bytes:
    out = io.BytesIO()
    write_archive(out, members, fmt, mtime=mtime)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x.tar.gz", "tar.gz"),
        ("x.tgz", "tar.gz"),
        ("dir/x.tar.xz", "tar.xz"),
        ("x.tar.zst", "tar.zst"),
        ("x.tar", "tar"),
    ],
)
def test_format_from_suffix(name: str, expected: str) -> None:
    assert compression_for(name) == expected


@pytest.mark.parametrize("name", ["x.zip", "x.gz", ".tar.gz", "x.tar.bz2", "x"])
def test_unknown_suffix_is_a_usage_error(name: str) -> None:
    with pytest.raises(UsageError, match="unknown archive format"):
        compression_for(name)


def test_source_date_epoch() -> None:
    assert source_date_epoch({}) == 0
    assert source_date_epoch({"SOURCE_DATE_EPOCH": " 1700000000 "}) == 1700000000
    for bad in ("-1", "1.5", "soon", str(8**11)):
        with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
            source_date_epoch({"SOURCE_DATE_EPOCH": bad})


def test_names_as_tar_writes_them() -> None:
    assert tar_name("", directory=True) == "./"
    assert tar_name("btfhub-archive", directory=True) == "./btfhub-archive/"
    assert tar_name("package.json") == "./package.json"


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_are_normalized_and_in_order(fmt: str) -> None:
    data = archive(fmt, mtime=1234567890)
    with tarfile.open(fileobj=open_decompressed(data), mode="r|") as tar:
        infos = tar.getmembers()
        assert [i.name for i in infos] == [
            ".",
            "./btfhub-archive",
            "./btfhub-archive/debian",
            "./package.json",
            "./btfhub-archive/debian/b.btf",
            "./btfhub-archive/debian/a.btf",
        ]  # (tarfile strips the trailing slash of directories when reading)
        for info in infos:
            assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (
                1234567890,
                0,
                0,
                "",
                "",
            )
            assert info.mode == (0o755 if info.isdir() else 0o644)
        assert infos[-1].islnk() and infos[-1].linkname == "./btfhub-archive/debian/b.btf"


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_members_same_bytes(fmt: str) -> None:
    first = archive(fmt)
    assert archive(fmt) == first
    assert archive(fmt, mtime=1) != first


def test_gzip_header_has_no_name_and_the_fixed_mtime() -> None:
    data = archive("tar.gz", mtime=1700000000)
    flags, mtime = data[3], int.from_bytes(data[4:8], "little")
    assert flags & 0x08 == 0  # FNAME
    assert mtime == 1700000000
    assert gzip.decompress(data)[:100].rstrip(b"\0") == b"./"


def test_gnu_tar_lists_the_literal_names(tmp_path: Path) -> None:
    tar = need_tool("tar")
    path = tmp_path / "x.tar.gz"
    path.write_bytes(archive("tar.gz"))
    listed = subprocess.run(
        [tar, "-tzf", path], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert listed == [m.tar_name() for m in MEMBERS]


@pytest.mark.parametrize("fmt", FORMATS)
def test_hard_links_unpack_to_the_same_file(fmt: str, tmp_path: Path) -> None:
    unpacked = unpack_tar(archive(fmt), tmp_dir=tmp_path)
    assert unpacked.package_json == b'{"name": "x"}' and unpacked.archive is not None
    with unpacked.archive as extracted:
        a = (extracted.path / "debian" / "a.btf").read_bytes()
        assert a == (extracted.path / "debian" / "b.btf").read_bytes() == MEMBERS[4].data


def test_names_without_dot_slash_for_readers_that_compare_them_bare(tmp_path: Path) -> None:
    # Inspektor Gadget compares "<ID>/..." exactly: no "./" in names nor in link targets.
    members = [m for m in MEMBERS if m.name]  # no root entry: it would have an empty name
    out = io.BytesIO()
    write_archive(out, members, "tar.gz", dot_slash=False)
    path = tmp_path / "x.tar.gz"
    path.write_bytes(out.getvalue())
    listed = subprocess.run(
        [need_tool("tar"), "-tzf", path], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert listed == [
        "btfhub-archive/",
        "btfhub-archive/debian/",
        "package.json",
        "btfhub-archive/debian/b.btf",
        "btfhub-archive/debian/a.btf",
    ]
    with tarfile.open(path) as tar:
        link = tar.getmember("btfhub-archive/debian/a.btf")
        assert link.linkname == "btfhub-archive/debian/b.btf"


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_archive_ends_after_its_two_zero_blocks(fmt: str, tmp_path: Path) -> None:
    # No padding to tar's 10 KiB record: what every reader needs is the two zero blocks.
    data = open_decompressed(archive(fmt)).read()
    entries = sum(512 + -(-len(m.data) // 512) * 512 if m.kind == "file" else 512 for m in MEMBERS)
    assert len(data) == entries + 1024 and data[-1024:] == bytes(1024)
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(archive(fmt))
    root = tmp_path / "out"
    root.mkdir()
    done = subprocess.run(
        [need_tool("tar"), "-xf", path, "-C", root], capture_output=True, text=True, check=True
    )
    assert done.stderr == "" and (root / "btfhub-archive" / "debian" / "a.btf").is_file()


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_is_one_entry_its_writer_and_readers_agree_on(fmt: str) -> None:
    """What pack names a format by, what it writes, and what a reader tells it apart by are
    the registry's one entry."""
    entry = package.FORMATS[fmt]  # type: ignore[index]
    assert all(compression_for(f"out{suffix}") == fmt for suffix in entry.suffixes)
    data = archive(fmt)
    assert package.format_of(data[: package.MAGIC_LEN]) is entry
    assert package.strip_suffix(f"dir/out{entry.suffix}") == "dir/out"
    with tarfile.open(fileobj=open_decompressed(data), mode="r|") as tar:
        assert [m.name for m in tar][:2] == [".", "./btfhub-archive"]  # tarfile drops the /
