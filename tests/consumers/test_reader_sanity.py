"""The independent readers themselves, on packages GNU tar writes: so that a bug in a reader
cannot hide a bug in btfmirror (or make one up). Each test pins one rule of one loader."""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import need_tool

from .readers import (
    CReader,
    Found,
    GoEmbedReader,
    GoReader,
    ReaderFailed,
    System,
    dir_tree,
    ecli_gnu_tar,
    ecli_tarfile,
    unquoted_os_release,
)

DEBIAN = 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n'
CENTOS = 'NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="8"\n'
FEDORA = "NAME=Fedora\nID=fedora\nVERSION_ID=38\n"
ARM = System(DEBIAN, "aarch64", "6.1.0-50-arm64")
BTF_A = bytes(range(256)) * 6 + b"A"  # several 512-byte blocks: the walk must skip them right
BTF_B = b"B" * 600


def gnu_tar(
    tmp: Path,
    files: dict[str, bytes],
    links: dict[str, str] | None = None,
    *options: str,
    name: str = "p.tar.gz",
) -> Path:
    """GNU tar of ``files`` (then ``links``: name -> hard link target), in that order, with the
    names exactly as given (``./x`` keeps its ``./``)."""
    tree = tmp / "tree"
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    for rel, target in (links or {}).items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(tree / target, tree / rel)
    out = tmp / name
    compress = ["-z"] if name.endswith(".gz") else []
    subprocess.run(
        [need_tool("tar"), *compress, *options, "-cf", out, "-C", tree, *files, *(links or {})],
        check=True,
        capture_output=True,
    )
    return out


def test_os_release_as_ecli_and_tracee_read_it() -> None:
    assert unquoted_os_release(CENTOS) == ("centos", "8")
    assert unquoted_os_release(DEBIAN) == ("debian", "12")
    assert unquoted_os_release(FEDORA) == ("fedora", "38")
    assert unquoted_os_release("ID='x'\nVERSION_ID=\"1\"\nVERSION_ID_LIKE=2\n") == ("x", "1")


class TestCReader:
    def test_bcc_finds_a_gnu_tar_entry_past_others(self, c_reader: CReader, tmp_path: Path) -> None:
        package = gnu_tar(
            tmp_path,
            {
                "./debian/12/aarch64/other.btf": BTF_A,
                "./debian/12/aarch64/6.1.0-50-arm64.btf": BTF_B,
            },
            None,
            "--format=ustar",
        )
        found = c_reader.read("bcc", package, ARM)
        assert found.name == "./debian/12/aarch64/6.1.0-50-arm64.btf"
        assert found.data == BTF_B

    def test_bcc_gets_0_bytes_from_a_hard_link(self, c_reader: CReader, tmp_path: Path) -> None:
        package = gnu_tar(
            tmp_path,
            {"./debian/12/aarch64/first.btf": BTF_A},
            {"./debian/12/aarch64/6.1.0-50-arm64.btf": "debian/12/aarch64/first.btf"},
        )
        with tarfile.open(package) as tar:  # what GNU tar wrote: a link, no data
            assert tar.getmember("./debian/12/aarch64/6.1.0-50-arm64.btf").islnk()
        assert c_reader.read("bcc", package, ARM).data == b""  # found: the silent failure

    def test_bcc_keeps_the_quotes_of_id(self, c_reader: CReader, tmp_path: Path) -> None:
        centos = System(CENTOS, "aarch64", "4.18.0")
        package = gnu_tar(
            tmp_path,
            {'./"centos"/8/aarch64/4.18.0.btf': BTF_A, "./centos/8/aarch64/4.18.0.btf": BTF_B},
        )
        assert c_reader.read("bcc", package, centos).data == BTF_A
        fedora = c_reader.read("bcc", package, System(FEDORA, "x86_64", "6.2"))
        assert fedora.name == "./fedora//x86_64/6.2.btf" and fedora.data is None

    def test_bcc_refuses_a_name_over_99_bytes(self, c_reader: CReader, tmp_path: Path) -> None:
        package = gnu_tar(tmp_path, {"./a": b""})
        with pytest.raises(ReaderFailed, match="too long"):
            c_reader.read(
                "bcc", package, System(f'ID={"x" * 40}\nVERSION_ID="12"\n', "aarch64", "r" * 50)
            )  # 108 bytes

    def test_only_gzip(self, c_reader: CReader, tmp_path: Path) -> None:
        rel = "./debian/12/aarch64/6.1.0-50-arm64.btf"
        for name in ("p.tar", "p.tar.xz"):
            package = gnu_tar(tmp_path / name, {rel: BTF_A}, None, "-a", name=name)
            with pytest.raises(ReaderFailed, match="not a gzip stream"):
                c_reader.read("bcc", package, ARM)

    def test_bpf_compatible_strips_quotes_and_keeps_the_last_match(
        self, c_reader: CReader, tmp_path: Path
    ) -> None:
        rel = "./btfhub-archive/centos/8/aarch64/4.18.0.btf"
        package = gnu_tar(tmp_path, {rel: BTF_A}, None, name="p.tar")
        (tmp_path / "tree" / rel).write_bytes(BTF_B)
        tree = tmp_path / "tree"
        subprocess.run([need_tool("tar"), "-rf", package, "-C", tree, rel], check=True)
        subprocess.run([need_tool("gzip"), "-n", package], check=True)
        gzipped, centos = Path(f"{package}.gz"), System(CENTOS, "aarch64", "4.18.0")
        found = c_reader.read("bpf-compatible", gzipped, centos)
        assert found.name == rel and found.data == BTF_B
        assert c_reader.read("bcc", gzipped, centos).name == './"centos"/8/aarch64/4.18.0.btf'


class TestGoReader:
    pytestmark = pytest.mark.needs_go

    def test_exact_name_without_dot_slash(self, go_reader: GoReader, tmp_path: Path) -> None:
        rel = "debian/12/aarch64/6.1.0-50-arm64.btf"
        bare = gnu_tar(tmp_path / "bare", {rel: BTF_A})
        dotted = gnu_tar(tmp_path / "dotted", {f"./{rel}": BTF_A})
        assert go_reader.read(bare, ARM).data == BTF_A
        assert go_reader.read(dotted, ARM).data is None

    def test_id_keeps_its_quotes_version_id_does_not(
        self, go_reader: GoReader, tmp_path: Path
    ) -> None:
        package = gnu_tar(
            tmp_path, {'"centos"/8/aarch64/4.18.0.btf': BTF_A, "centos/8/aarch64/4.18.0.btf": BTF_B}
        )
        found = go_reader.read(package, System(CENTOS, "aarch64", "4.18.0"))
        assert found.name == '"centos"/8/aarch64/4.18.0.btf' and found.data == BTF_A

    def test_no_content_for_a_hard_link(self, go_reader: GoReader, tmp_path: Path) -> None:
        package = gnu_tar(
            tmp_path,
            {"debian/12/aarch64/first.btf": BTF_A},
            {"debian/12/aarch64/6.1.0-50-arm64.btf": "debian/12/aarch64/first.btf"},
        )
        assert go_reader.read(package, ARM).data == b""

    def test_sees_long_names(self, go_reader: GoReader, tmp_path: Path) -> None:
        system = System(DEBIAN, "aarch64", "r" * 120)  # GNU tar writes a ././@LongLink entry
        package = gnu_tar(tmp_path, {f"debian/12/aarch64/{'r' * 120}.btf": BTF_A})
        assert go_reader.read(package, system).data == BTF_A

    def test_embed_strips_quotes_and_skips_symlinks(self, tmp_path: Path) -> None:
        tree = tmp_path / "tree"
        (tree / "centos/8/aarch64").mkdir(parents=True)
        (tree / "centos/8/aarch64/4.18.0.btf").write_bytes(BTF_A)
        (tree / "centos/8/aarch64/link.btf").symlink_to("4.18.0.btf")
        embed = GoEmbedReader.build(need_tool("go"), tree, tmp_path / "build")
        found = embed.read(System(CENTOS, "aarch64", "4.18.0"))
        assert found.name == "centos/8/aarch64/4.18.0.btf" and found.data == BTF_A
        assert embed.read(System(CENTOS, "aarch64", "link")).data is None

    def test_only_gzip(self, go_reader: GoReader, tmp_path: Path) -> None:
        package = gnu_tar(tmp_path, {"debian/12/aarch64/6.1.0-50-arm64.btf": BTF_A}, name="p.tar")
        with pytest.raises(ReaderFailed, match="gzip"):
            go_reader.read(package, ARM)


@pytest.mark.parametrize("read", [ecli_tarfile, ecli_gnu_tar])
def test_ecli_unpacks_a_plain_tar_and_follows_links(
    read: Callable[[Path, System], Found], tmp_path: Path
) -> None:
    rel = "./btfhub-archive/centos/8/aarch64/4.18.0.btf"
    files = {"./btfhub-archive/centos/8/aarch64/first.btf": BTF_A}
    package = gnu_tar(
        tmp_path, files, {rel: "btfhub-archive/centos/8/aarch64/first.btf"}, name="p.tar"
    )
    found = read(package, System(CENTOS, "aarch64", "4.18.0"))
    assert found.name == "btfhub-archive/centos/8/aarch64/4.18.0.btf" and found.data == BTF_A
    gzipped = gnu_tar(tmp_path / "gz", files)
    with pytest.raises(ReaderFailed):
        read(gzipped, ARM)


def test_dir_opens_regular_files_only(tmp_path: Path) -> None:
    rel = "debian/12/aarch64/6.1.0-50-arm64.btf"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / "debian/12/aarch64/first.btf").write_bytes(BTF_A)
    (tmp_path / rel).symlink_to("first.btf")  # go:embed refuses irregular files
    assert dir_tree(tmp_path, ARM).data is None
    (tmp_path / rel).unlink()
    (tmp_path / rel).write_bytes(BTF_B)
    assert dir_tree(tmp_path, ARM).data == BTF_B
