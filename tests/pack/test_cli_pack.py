"""``btfmirror pack`` through the command line: JSON summary, table, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.mirror import Store, list_kernels
from cli.app import app

from .conftest import SELECTION, obj

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(synced: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTFHUB_CACHE", str(synced.root))


def test_json_summary(synced: Store, tmp_path: Path) -> None:
    out = tmp_path / "prog.tar.xz"
    (tmp_path / "package.json").write_text('{"name": "prog"}')
    result = runner.invoke(
        app,
        [
            "pack",
            str(obj("loadable")),
            "-d",
            "debian",
            "-d",
            "kylin",
            "-j",
            str(tmp_path / "package.json"),
            "-o",
            str(out),
            "--jobs",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    entries = list_kernels(synced, SELECTION).entries
    assert summary["kernels"] == len(entries) and summary["skipped"] == 0
    assert summary["format"] == "tar.xz" and summary["bytes"] == out.stat().st_size
    assert 0 < summary["distinct"] < summary["kernels"]
    assert sorted(e["path"] for e in summary["entries"]) == sorted(e.path for e in entries)


def test_table_and_warnings(tmp_path: Path) -> None:
    out = tmp_path / "prog.tar.gz"
    result = runner.invoke(
        app, ["pack", str(obj("ambiguous")), "-d", "kylin", "-o", str(out), "--hardlinks"]
    )
    assert result.exit_code == 0, result.stderr
    assert "kylin/V10/arm64/4.19.90-24.4.v2101.ky10.aarch64" in result.stdout
    assert f"{out}: 2 kernels" in result.stdout
    assert result.stderr.count("warning: kylin/V10/arm64/") == 2
    assert "will fail to load, as with the full BTF" in result.stderr


def test_same_warning_on_many_kernels_is_one_line(tmp_path: Path) -> None:
    """newfield reads task_struct.__state, which kernels before 5.14 lack: one warning line for
    all of them in the terminal, one per kernel in --json."""
    args = ["pack", str(obj("newfield")), "-o", str(tmp_path / "p.tar.gz"), "--jobs", "1"]
    summary = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    per_kernel = [w for w in summary["warnings"] if "find nothing" in w]
    assert len(per_kernel) >= 3 and len({w.partition(": ")[2] for w in per_kernel}) == 1
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "find nothing" in line]
    first, second = (w.partition(": ")[0] for w in per_kernel[:2])
    assert lines == [
        f"warning: {len(per_kernel)} kernels ({first}, {second} and {len(per_kernel) - 2} more): "
        + per_kernel[0].partition(": ")[2]
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-o", "x.zip"], 2, "unknown archive format"),
        (["-j", "{package}"], 2, "not valid JSON"),
        (["--strict", "-d", "kylin", "--objects", "ambiguous"], 1, "--strict"),
        (["--jobs", "0"], 2, "--jobs must be at least 1"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    (tmp_path / "package.json").write_text("{")
    objects = [str(obj("loadable"))]
    if "--objects" in args:
        objects = [str(obj(args[-1]))]
        args = args[:-2]
    args = [a.replace("{package}", str(tmp_path / "package.json")) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.tar.gz")]
    if "-d" not in args:
        args += ["-d", "debian"]
    result = runner.invoke(app, ["pack", *objects, *args])
    assert result.exit_code == code
    lines = result.stderr.strip().splitlines()  # progress lines, then the error
    assert message in lines[-1] and lines[-1].startswith("error: ")
    assert sum(line.startswith("error") for line in lines) == 1
    assert not (tmp_path / "out.tar.gz").exists()


def test_a_selection_that_matches_nothing_says_so(tmp_path: Path) -> None:
    out = tmp_path / "p.tar.gz"
    result = runner.invoke(
        app, ["pack", str(obj("loadable")), "-d", "debian", "-k", "9.*", "-o", str(out)]
    )
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "matches distro=debian kernels=9.*" in lines[0], result.stderr
    assert "select kernels" not in lines[0] and not out.exists()
    # A distro the catalog does not have is a typo: a usage error naming the closest.
    result = runner.invoke(app, ["pack", str(obj("loadable")), "-d", "debain", "-o", str(out)])
    assert result.exit_code == 2 and "did you mean debian?" in result.stderr
    assert not out.exists()


def test_one_kernel_is_counted_in_the_singular(tmp_path: Path) -> None:
    out = tmp_path / "p.tar.gz"
    result = runner.invoke(
        app, ["pack", str(obj("loadable")), "-d", "debian", "-V", "11", "-o", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    assert f"{out}: 1 kernel, 1 distinct BTF" in result.stdout
