"""`btfmirror btf dump`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from btfhub_mirror.btf import load_btf
from btfhub_mirror.btf.dump import dump_raw
from cli.app import app
from tests.helpers import sample_archives

runner = CliRunner()


def test_dump_archive_raw_and_json() -> None:
    path = min(sample_archives(), key=lambda p: p.stat().st_size)
    raw = runner.invoke(app, ["btf", "dump", str(path)])
    assert raw.exit_code == 0
    assert raw.output.splitlines() == list("\n".join(dump_raw(load_btf(path))).splitlines())
    js = runner.invoke(app, ["btf", "dump", "--format", "json", str(path)])
    assert js.exit_code == 0
    types = json.loads(js.output)["types"]
    assert types[0]["id"] == 1 and len(types) == load_btf(path).type_count - 1


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    result = runner.invoke(app, ["btf", "dump", str(tmp_path / "nope.btf")])
    assert result.exit_code == 3
    assert "no such file" in result.output


def test_garbage_is_a_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.btf"
    bad.write_bytes(b"hello world, this is not BTF at all")
    result = runner.invoke(app, ["btf", "dump", str(bad)])
    assert result.exit_code == 1
    assert "bad magic" in result.output
