"""Outputs whose directory is missing, or that are directories: one clear line, before any
work, and nothing created (issue #12). pack -o, minimize -o, check --html; pack -j."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.errors import FileWriteError
from btfhub_mirror.mirror import Store
from btfhub_mirror.pack import pack
from cli.app import app
from tests.helpers import sample_archives

from .conftest import SELECTION, obj

runner = CliRunner()


def one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache never synced: any work done before the output check would fail on it first."""
    cache = tmp_path / "never-synced"
    monkeypatch.setenv("BTFHUB_CACHE", str(cache))
    return cache


def test_pack_output_in_a_missing_directory(empty_cache: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    line = one_line_error(["pack", str(obj("loadable")), "-o", str(missing / "x.tar.gz")])
    assert "does not exist" in line and str(missing) in line
    assert not (tmp_path / "no").exists() and not empty_cache.exists()


def test_pack_output_that_is_a_directory(empty_cache: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.tar.gz"
    target.mkdir()
    line = one_line_error(["pack", str(obj("loadable")), "-o", str(target)])
    assert "is a directory" in line and not any(target.iterdir())


def test_pack_output_under_a_file(synced: Store, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileWriteError, match="is not a directory"):
        pack(synced, [obj("loadable")], tmp_path / "file" / "p.tar.gz", SELECTION, jobs=1)


def test_pack_package_json_that_is_a_directory(empty_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "package.json").mkdir()
    out = tmp_path / "p.tar.gz"
    line = one_line_error(
        ["pack", str(obj("loadable")), "-j", str(tmp_path / "package.json"), "-o", str(out)]
    )
    assert "is a directory" in line and not out.exists() and not empty_cache.exists()


def test_minimize_output_in_a_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    line = one_line_error(
        ["minimize", str(sample_archives()[0]), str(obj("loadable")), "-o", str(missing / "m.btf")]
    )
    assert "does not exist" in line and not (tmp_path / "no").exists()


def test_check_html_in_a_missing_directory(empty_cache: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    line = one_line_error(["check", str(obj("loadable")), "--html", str(missing / "r.html")])
    assert "does not exist" in line and not (tmp_path / "no").exists()
    assert not empty_cache.exists()
