"""A full disk: one typed error naming the file, and nothing half written left behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.errors import FileWriteError
from btfhub_mirror.fsutil import write_atomic
from cli.app import app
from tests.helpers import REPO, SAMPLE, require


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 KiB tmpfs (mounting needs root; skipped elsewhere, required under CI=true)."""
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True
    )
    require(proc.returncode == 0, f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_write_atomic_on_a_full_disk_keeps_the_old_file(tiny_disk: Path) -> None:
    target = tiny_disk / "out.btf"
    write_atomic(target, b"old contents")
    with pytest.raises(FileWriteError, match=r"out\.btf: cannot write: No space left"):
        write_atomic(target, b"x" * 1024 * 1024)
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["out.btf"]


def test_minimize_to_a_full_disk_is_one_line(tiny_disk: Path) -> None:
    fd = os.open(tiny_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last block
        while os.write(fd, b"\0" * 1024):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    kernel = SAMPLE / "debian/12/x86_64/6.1.0-50-amd64.btf.tar.xz"
    objects = sorted(str(p) for p in (REPO / "tests/bpf/build").glob("*.el.o"))
    result = CliRunner().invoke(
        app, ["minimize", str(kernel), *objects, "-o", str(tiny_disk / "min.btf")]
    )
    assert result.exit_code == 1
    assert "min.btf: cannot write: No space left on device" in result.output
    assert not (tiny_disk / "min.btf").exists()
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]
