"""Hostile packages: an xz dictionary bomb is refused by the decoder's memory cap."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

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


@pytest.mark.skipif(shutil.which("xz") is None, reason="needs xz")
@pytest.mark.parametrize("mode", ["unpack", "load"])
def test_xz_dictionary_bomb_is_refused(tmp_path: Path, mode: str) -> None:
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
