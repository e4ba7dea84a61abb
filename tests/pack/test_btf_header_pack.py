"""``pack --btf-header 32``: every BTF in the archive carries bpftool 7.8's 32-byte header."""

from __future__ import annotations

import hashlib
import json
import struct
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.errors import UsageError
from btfhub_mirror.mirror import Store
from btfhub_mirror.pack import pack
from cli.app import app

from .conftest import SELECTION, obj

runner = CliRunner()


def btf_members(archive: Path) -> dict[str, bytes]:
    """Every .btf file of the archive, read with Python's tarfile (not btfmirror's writer)."""
    with tarfile.open(archive) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name.endswith(".btf")
        }


def test_pack_with_header_32(
    synced: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTFHUB_CACHE", str(synced.root))
    args = ["pack", str(obj("loadable")), "-d", "debian", "--jobs", "1", "--json"]
    narrow, wide = tmp_path / "24.tar", tmp_path / "32.tar"
    for out, extra in ((narrow, []), (wide, ["--btf-header", "32"])):
        result = runner.invoke(app, [*args, "-o", str(out), *extra])
        assert result.exit_code == 0, result.stderr
    old, new = btf_members(narrow), btf_members(wide)
    assert old.keys() == new.keys() and old
    for name, data in new.items():
        # magic..str_len unchanged but hdr_len; layout_off = layout_len = 0; same sections.
        before = struct.unpack_from("<HBBIIIII", old[name])
        after = struct.unpack_from("<HBBIIIIIII", data)
        assert before[3] == 24 and after[3] == 32, name
        assert after[:3] + after[4:8] == before[:3] + before[4:] and after[8:] == (0, 0), name
        assert data[32:] == old[name][24:], name
    with tarfile.open(wide) as tar:
        manifest = json.load(tar.extractfile("./btfmirror.json"))  # type: ignore[arg-type]
    by_file = {
        name["file"].removeprefix("./"): k
        for k in manifest["kernels"]
        for name in (k, *k.get("aliases", ()))
    }
    for name, data in new.items():
        entry = by_file[name.removeprefix("./")]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)


def test_pack_refuses_other_header_lengths(synced: Store, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="btf_header"):
        pack(synced, [obj("loadable")], tmp_path / "x.tar", SELECTION, btf_header=28)
    assert not (tmp_path / "x.tar").exists()
