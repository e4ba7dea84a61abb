"""Hostile packages: an xz dictionary bomb is refused by the decoder's memory cap."""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.helpers import need_tool

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from pathlib import Path
from btfhub_mirror.errors import ArchiveError
data = Path(sys.argv[2]).read_bytes()
try:
    if sys.argv[1] == "unpack":
        from btfhub_mirror.runtime.extract import unpack_tar
        unpack_tar(data, wanted=lambda name: False)
    else:
        from btfhub_mirror.archive import read_btf_archive
        read_btf_archive(data, source="bomb")
except ArchiveError as err:
    print("TYPED", err)
"""


def _dict_bomb(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("5.4.0-1-generic.btf")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"abcd"))
    raw = tmp_path / "x.tar"
    raw.write_bytes(buf.getvalue())
    subprocess.run(["xz", "-k", "--lzma2=dict=1536MiB", str(raw)], check=True)
    return tmp_path / "x.tar.xz"


@pytest.mark.parametrize("mode", ["unpack", "load"])
def test_xz_dictionary_bomb_is_refused(tmp_path: Path, mode: str) -> None:
    need_tool("xz")
    bomb = _dict_bomb(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(bomb)],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "TYPED" in done.stdout and "dictionary too big" in done.stdout


def test_needs_full_extraction_is_typed(tmp_path: Path) -> None:
    from btfhub_mirror.errors import BtfmirrorError
    from btfhub_mirror.runtime.extract import unpack_tar

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("btfhub-archive/a.btf")
        link.type = tarfile.SYMTYPE
        link.linkname = "b.btf"
        tar.addfile(link)
    with pytest.raises(BtfmirrorError):
        unpack_tar(buf.getvalue(), tmp_dir=tmp_path, wanted=lambda name: True)


def test_sparse_member_is_refused(tmp_path: Path) -> None:
    from btfhub_mirror.errors import ArchiveError
    from btfhub_mirror.runtime.extract import unpack_tar

    # A GNU sparse (type 'S') header: made by tarfile, then retyped and re-checksummed.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("btfhub-archive/big.btf")
        info.size = 0
        tar.addfile(info)
    raw = bytearray(buf.getvalue())
    raw[156:157] = b"S"
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\0 " % sum(raw[:512])
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(ArchiveError, match="sparse"):
        unpack_tar(bytes(raw), tmp_dir=target)
    assert list(target.iterdir()) == []


SIZE_BOMB_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
sys.argv = ["btfmirror", "btf", "dump", sys.argv[1]]
from cli.app import main
try:
    main()
finally:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    sys.stderr.write("HWM " + hwm.split()[1] + "\\n")
"""


def test_kernel_archive_over_the_btf_cap_is_one_line_in_bounded_memory(tmp_path: Path) -> None:
    # 100 MiB of zeros as the one .btf member: a few KB of .btf.tar.xz, over MAX_BTF_SIZE.
    bomb = tmp_path / "5.4.0-1-generic.btf.tar.xz"
    size = 100 * 1024 * 1024
    with lzma.open(bomb, "wb", preset=0) as xz, tarfile.open(fileobj=xz, mode="w|") as tar:
        info = tarfile.TarInfo("5.4.0-1-generic.btf")
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    assert bomb.stat().st_size < 1024 * 1024
    done = subprocess.run(
        [sys.executable, "-c", SIZE_BOMB_CHILD, str(bomb)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode not in (0, 120) and lines[-1].startswith("HWM "), done.stderr
    assert len(lines) == 2 and "decompresses to more than" in lines[0], done.stderr
    # The cap (64 MiB of tar) plus the decoder and the interpreter; 512 MiB before the cap
    # was tightened, and 1.6 GB before the decoder had a memory limit.
    assert int(lines[-1].split()[1]) < 300 * 1024, lines[-1]


def test_zstd_window_bomb_is_refused() -> None:
    # A hand-made frame whose window descriptor (exponent 21: 2 GiB) asks for more than the cap.
    frame = b"\x28\xb5\x2f\xfd" + bytes([0x00, 21 << 3, 0x01 | (5 << 3), 0, 0]) + b"hello"
    from btfhub_mirror.errors import ArchiveError
    from btfhub_mirror.runtime.extract import unpack_tar

    with pytest.raises(ArchiveError, match="zstd window too big"):
        unpack_tar(frame)
