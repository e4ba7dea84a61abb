"""Kernel sources for ``add``, built in the tests with the real tools around the sample's BTF."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
import zstandard

from tests.helpers import SAMPLE, need_tool
from tests.mirror.gitfixtures import isolate_from_real_remotes

#: The sample kernel every test adds: Debian 12 x86_64 (little-endian).
KERNEL = SAMPLE / "debian" / "12" / "x86_64" / "6.1.0-50-amd64.btf.tar.xz"
RELEASE = "6.1.0-50-amd64"
#: Debian 12 s390x: big-endian BTF.
S390_KERNEL = SAMPLE / "debian" / "12" / "s390x" / "6.12.95+deb12-s390x.btf.tar.xz"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_real_remotes(monkeypatch, tmp_path / "default-cache")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def gnu_untar(archive: Path) -> bytes:
    """The members of a .tar.xz concatenated, as GNU tar reads them (not btfmirror)."""
    tar = need_tool("tar")
    return subprocess.run([tar, "-xJOf", archive], check=True, capture_output=True).stdout


@pytest.fixture(scope="session")
def sample_btf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("btf") / f"{RELEASE}.btf"
    out.write_bytes(gnu_untar(KERNEL))
    return out


@pytest.fixture(scope="session")
def s390_btf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("btf390") / "s390x.btf"
    out.write_bytes(gnu_untar(S390_KERNEL))
    return out


BANNER_C = (
    'const char linux_banner[] = "Linux version {release} (debian-kernel@lists.debian.org) '
    '(gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1\\n";\n'
    "int start_kernel(void) {{ return 0; }}\n"
)


@pytest.fixture(scope="session")
def vmlinux_elf(sample_btf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An x86_64 ELF by gcc with the sample's BTF as its .BTF section, as link-vmlinux.sh puts
    it, and a linux_banner naming its release."""
    gcc, objcopy = need_tool("gcc"), need_tool("llvm-objcopy")
    tmp = tmp_path_factory.mktemp("vmlinux")
    (tmp / "banner.c").write_text(BANNER_C.format(release=RELEASE))
    subprocess.run([gcc, "-c", "-O1", "-o", tmp / "banner.o", tmp / "banner.c"], check=True)
    out = tmp / "vmlinux"
    subprocess.run(
        [
            objcopy,
            f"--add-section=.BTF={sample_btf}",
            "--set-section-flags=.BTF=alloc,readonly",
            tmp / "banner.o",
            out,
        ],
        check=True,
    )
    return out


def bzimage(payload: bytes, *, setup_sects: int = 2, version: int = 0x020F) -> bytes:
    """An x86 bzImage per Documentation/arch/x86/boot.rst: boot sector and setup sectors with
    the setup header, then protected-mode code holding the compressed payload at
    payload_offset (counted from the protected-mode code's start)."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    pm_code = bytearray(b"\x90" * 4096)  # stands for the decompressor stub
    payload_offset = len(pm_code)
    struct.pack_into("<II", setup, 0x248, payload_offset, len(payload))
    return bytes(setup + pm_code + payload + b"\0" * 64)


@pytest.fixture(scope="session")
def bzimages(vmlinux_elf: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """bzImages whose payload is the ELF compressed in each of the kernel's formats (gzip, xz
    --check=crc32, zstd, bzip2, lzma-alone; lz4 -l by the lz4 tool where it is installed)."""
    tmp = tmp_path_factory.mktemp("bzimage")
    elf = vmlinux_elf.read_bytes()
    out = {}
    for name, packed in (
        ("gzip", gzip.compress(elf, mtime=0)),
        ("xz", lzma.compress(elf, check=lzma.CHECK_CRC32)),
        ("zstd", zstandard.ZstdCompressor(level=3).compress(elf)),
        ("bzip2", bz2.compress(elf, 9)),
        ("lzma", lzma.compress(elf, format=lzma.FORMAT_ALONE)),
    ):
        path = tmp / f"bzImage-{name}"
        path.write_bytes(bzimage(packed))
        out[name] = path
    lz4 = shutil.which("lz4")
    if lz4 is not None:
        # As the kernel's cmd_lz4_with_size: `lz4 -l -9`, then the size appended (Debian 12's
        # and Ubuntu's kernels are lz4).
        packed = subprocess.run(
            [lz4, "-l", "-9", "-c"], input=elf, check=True, capture_output=True
        ).stdout
        path = tmp / "bzImage-lz4"
        path.write_bytes(bzimage(packed + struct.pack("<I", len(elf))))
        out["lz4"] = path
    return out


DWARF_C = """
struct task_struct { int pid; long state; struct task_struct *parent; };
struct file { unsigned int f_flags; void *private_data; };
int sched_fork(struct task_struct *p, struct file *f) { return p->pid + (int)f->f_flags; }
"""


@pytest.fixture(scope="session")
def dwarf_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ELF with DWARF and no .BTF, compiled by gcc -g."""
    gcc = need_tool("gcc")
    tmp = tmp_path_factory.mktemp("dwarf")
    (tmp / "k.c").write_text(DWARF_C)
    out = tmp / "vmlinux-dwarf"
    subprocess.run([gcc, "-g", "-c", "-O0", "-o", out, tmp / "k.c"], check=True)
    return out
