"""``archive init`` and ``add`` of each kind of source: the archive's bytes read back by GNU tar
and git, one commit per run, and bad inputs refused with nothing committed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from btfhub_mirror.errors import KernelImageError, PaholeError, UsageError
from btfhub_mirror.producer import Identity, add_sources, init_archive
from tests.helpers import REPO, need_tool
from tests.mirror.gitfixtures import git

from .conftest import KERNEL, RELEASE, gnu_untar

DEBIAN12 = Identity("debian", "12", "x86_64", RELEASE)
TARGET = f"debian/12/x86_64/{RELEASE}.btf.tar.xz"


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command line from this worktree's sources."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def commits(repo: Path) -> list[str]:
    return git("log", "--format=%H", cwd=repo).split()


def tree(repo: Path) -> list[str]:
    return git("ls-tree", "-r", "--name-only", "HEAD", cwd=repo).split()


def status(repo: Path) -> str:
    return git("status", "--porcelain", "--untracked-files=all", cwd=repo)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root, created = init_archive(tmp_path / "archive")
    assert created
    return root


def test_init_makes_a_repository_on_main_with_a_readme(tmp_path: Path) -> None:
    result = cli("archive", "init", tmp_path / "mine")
    assert result.returncode == 0, result.stderr
    repo = tmp_path / "mine"
    assert git("symbolic-ref", "HEAD", cwd=repo).strip() == "refs/heads/main"
    assert len(commits(repo)) == 1
    assert tree(repo) == ["README.md"]
    assert "btfhub-archive" in (repo / "README.md").read_text()
    again = cli("archive", "init", repo)  # an archive already: left as it is
    assert again.returncode == 0 and len(commits(repo)) == 1


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = cli("archive", "init", tmp_path / "busy")
    assert result.returncode == 2
    assert "not empty and not an archive repository" in result.stderr
    assert not (tmp_path / "busy" / ".git").exists()


def test_raw_btf_becomes_btfhubs_archive_layout(archive: Path, sample_btf: Path) -> None:
    result = cli(
        "add",
        sample_btf,
        "--into",
        archive,
        "--distro",
        "debian",
        "--version",
        "12",
        "--arch",
        "x86_64",
        "--release",
        RELEASE,
    )
    assert result.returncode == 0, result.stderr
    assert tree(archive) == ["README.md", TARGET]
    assert status(archive) == ""
    assert len(commits(archive)) == 2
    message = git("log", "-1", "--format=%B", cwd=archive)
    assert TARGET in message
    added = archive / TARGET
    listing = subprocess.run(
        [need_tool("tar"), "--numeric-owner", "-tvJf", added],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    # As btfhub's own (tests/data/btfhub-sample): one member, <release>.btf, no ./, root, 1970.
    sample = subprocess.run(
        ["tar", "--numeric-owner", "-tvJf", KERNEL], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert len(listing) == len(sample) == 1
    assert listing[0].split()[:2] == ["-rw-r--r--", "0/0"] == sample[0].split()[:2]
    assert listing[0].split()[-1] == f"{RELEASE}.btf" == sample[0].split()[-1]
    assert "1970-01-01 00:00" in listing[0]
    assert gnu_untar(added) == sample_btf.read_bytes()


def test_same_btf_same_bytes_and_source_date_epoch(
    tmp_path: Path, sample_btf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = []
    for name in ("a", "b"):
        root, _ = init_archive(tmp_path / name)
        add_sources(root, [sample_btf], DEBIAN12)
        blobs.append((root / TARGET).read_bytes())
    assert blobs[0] == blobs[1]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    root, _ = init_archive(tmp_path / "c")
    add_sources(root, [sample_btf], DEBIAN12)
    listing = subprocess.run(
        ["tar", "--utc", "-tvJf", root / TARGET], check=True, capture_output=True, text=True
    ).stdout
    assert "2023-11-14 22:13" in listing


def test_adding_the_same_again_commits_nothing(archive: Path, sample_btf: Path) -> None:
    first = add_sources(archive, [sample_btf], DEBIAN12)
    assert first.commit is not None and [k.status for k in first.kernels] == ["added"]
    again = add_sources(archive, [sample_btf], DEBIAN12)
    assert again.commit is None and [k.status for k in again.kernels] == ["unchanged"]
    assert len(commits(archive)) == 2


def test_elf_vmlinux_gives_its_btf_arch_and_release(
    archive: Path, vmlinux_elf: Path, sample_btf: Path
) -> None:
    # No --arch (the ELF machine says x86_64) and no --release (the linux_banner says it).
    result = add_sources(archive, [vmlinux_elf], Identity("debian", "12"))
    (kernel,) = result.kernels
    assert kernel.path == TARGET and kernel.how == ".BTF section"
    assert gnu_untar(archive / TARGET) == sample_btf.read_bytes()


@pytest.mark.parametrize("compression", ["gzip", "xz", "zstd", "bzip2", "lzma", "lz4"])
def test_bzimage_payload(
    archive: Path, bzimages: dict[str, Path], sample_btf: Path, compression: str
) -> None:
    if compression == "lz4":
        need_tool("lz4")
    result = add_sources(archive, [bzimages[compression]], Identity("acme", "1.0"))
    (kernel,) = result.kernels
    assert kernel.path == f"acme/1.0/x86_64/{RELEASE}.btf.tar.xz"
    assert kernel.how == f"bzImage {compression} payload > .BTF section"
    assert gnu_untar(archive / kernel.path) == sample_btf.read_bytes()


def test_arm64_image_gz_by_magic_scan(archive: Path, tmp_path: Path) -> None:
    """An arm64 Image is not ELF: its data holds .BTF raw (found by magic and a full parse)."""
    import gzip

    arm = gnu_untar(REPO / "tests/data/btfhub-sample/debian/12/arm64/6.1.0-50-arm64.btf.tar.xz")
    # An Image header (arm64 booting.rst: "ARM\x64" at 0x38), code, then the BTF, then more data
    # holding a false BTF magic.
    header = bytearray(64)
    header[0x38:0x3C] = b"ARM\x64"
    image = bytes(header) + os.urandom(8192) + arm + b"\x9f\xeb\x01\x00garbage" + b"\0" * 100
    path = tmp_path / "Image.gz"
    path.write_bytes(gzip.compress(image, mtime=0))
    result = add_sources(archive, [path], Identity("debian", "12", "arm64", "6.1.0-50-arm64"))
    assert gnu_untar(archive / result.kernels[0].path) == arm


@pytest.mark.needs_bpftool
@pytest.mark.needs_pahole
def test_dwarf_vmlinux_is_converted_by_pahole(
    archive: Path, dwarf_elf: Path, tmp_path: Path
) -> None:
    need_tool("pahole")
    result = add_sources(archive, [dwarf_elf], Identity("acme", "2", None, "5.10.0-1-acme"))
    (kernel,) = result.kernels
    assert kernel.how == ".debug_info (DWARF) > pahole -J"
    assert kernel.kinds["STRUCT"] >= 2 and kernel.kinds["INT"] >= 1
    raw = tmp_path / "converted.btf"
    raw.write_bytes(gnu_untar(archive / kernel.path))
    dumped = subprocess.run(
        [need_tool("bpftool"), "btf", "dump", "file", raw],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert "STRUCT 'task_struct'" in dumped and "'parent'" in dumped


def test_missing_pahole_is_a_typed_error(
    archive: Path, dwarf_elf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"  # git, and no pahole
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(need_tool("git"))
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(PaholeError, match=r"needs pahole 1\.16 or newer .*dwarves"):
        add_sources(archive, [dwarf_elf], Identity("acme", "2", "x86_64", "5.10.0-1-acme"))
    assert status(archive) == "" and len(commits(archive)) == 1


def test_a_bare_image_needs_the_flags_it_cannot_say(archive: Path, sample_btf: Path) -> None:
    result = cli("add", sample_btf, "--into", archive, "--distro", "debian")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {sample_btf}: the source does not say its kernel's version, arch, release: "
        "give --version --arch --release"
    ]


def _bad_inputs(tmp_path: Path, s390_btf: Path, bzimages: dict[str, Path]) -> dict[str, Path]:
    text = tmp_path / "notes.btf"
    text.write_text("not BTF at all\n" * 100)
    truncated = tmp_path / "bzImage-truncated"
    truncated.write_bytes(bzimages["gzip"].read_bytes()[:-300_000])
    return {"text": text, "wrong-endian": s390_btf, "truncated": truncated}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("text", "not a kernel image, vmlinux or BTF file"),
        ("wrong-endian", "the BTF is big-endian but x86_64 kernels are little-endian"),
        ("truncated", "runs past the end of the"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_committed(
    archive: Path,
    tmp_path: Path,
    sample_btf: Path,
    s390_btf: Path,
    bzimages: dict[str, Path],
    case: str,
    message: str,
) -> None:
    bad = _bad_inputs(tmp_path, s390_btf, bzimages)[case]
    # A good source first: it must not be committed either (one run, one commit or none).
    result = cli(
        "add",
        sample_btf,
        bad,
        "--into",
        archive,
        "--distro",
        "debian",
        "--version",
        "12",
        "--arch",
        "x86_64",
        "--release",
        RELEASE,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: ") and message in lines[0]
    assert len(commits(archive)) == 1 and status(archive) == ""
    assert not (archive / "debian").exists()


def test_library_errors_are_typed(archive: Path, tmp_path: Path, s390_btf: Path) -> None:
    with pytest.raises(KernelImageError, match="big-endian but x86_64"):
        add_sources(archive, [s390_btf], DEBIAN12)
    with pytest.raises(UsageError, match="unknown arch"):
        add_sources(archive, [s390_btf], Identity("debian", "12", "vax", "6.12.95+deb12-s390x"))
    ok = add_sources(archive, [s390_btf], Identity("debian", "12", "s390x", "6.12.95+deb12-s390x"))
    assert ok.kernels[0].byte_order == "big"


def test_a_dirty_work_tree_is_refused(archive: Path, sample_btf: Path) -> None:
    (archive / "stray.txt").write_text("uncommitted")
    with pytest.raises(UsageError, match="uncommitted changes"):
        add_sources(archive, [sample_btf], DEBIAN12)
