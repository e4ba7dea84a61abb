"""The command line as a whole: packaging, error mapping, every command wrapped and documented."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.app import app
from tests.helpers import REPO

runner = CliRunner()


def all_commands() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []

    def walk(group: typer.Typer, prefix: str) -> None:
        for info in group.registered_commands:
            name = info.name or (info.callback.__name__ if info.callback else "?")
            found.append((f"{prefix}{name}", info.callback))
        for sub in group.registered_groups:
            assert sub.typer_instance is not None
            walk(sub.typer_instance, f"{prefix}{sub.name} ")

    walk(app, "")
    return found


@pytest.mark.parametrize(
    ("name", "callback"), all_commands(), ids=[name for name, _ in all_commands()]
)
def test_every_command_maps_errors_and_has_help(name: str, callback: object) -> None:
    assert getattr(callback, "__btfmirror_handled__", False), f"{name} lacks @handle_errors"
    assert getattr(callback, "__doc__", None), f"{name} has no help text"
    result = runner.invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output


def test_library_never_imports_the_front_end() -> None:
    for path in (REPO / "btfhub_mirror").rglob("*.py"):
        text = path.read_text()
        for banned in ("import typer", "from typer", "import rich", "from rich", "print("):
            assert banned not in text, f"{path} uses {banned!r}"


def test_installed_distribution_has_no_top_level_cli_module() -> None:
    try:
        files = importlib.metadata.files("btfmirror")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("btfmirror is not installed in this environment")
    assert files is not None
    tops = {Path(str(f)).parts[0] for f in files}
    assert "cli" not in tops
    origin = importlib.metadata.distribution("btfmirror").read_text("direct_url.json")
    direct_url = json.loads(origin or "{}")
    if direct_url.get("dir_info", {}).get("editable"):
        # `pip install -e .` installs import hooks onto the source folders, no copies
        # (tests/cli/test_install.py checks what they import).
        assert "_btfhub_mirror_cli.pth" in tops
        return
    assert "btfhub_mirror_cli" in tops
    assert "btfhub_mirror" in tops


def test_console_script_runs_and_errors_are_one_line(tmp_path: Path) -> None:
    exe = shutil.which("btfmirror") or str(Path(REPO / ".venv/bin/btfmirror"))
    if not Path(exe).exists():
        pytest.skip("the btfmirror console script is not installed")
    ok = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("btfmirror ")
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 40)
    res = subprocess.run([exe, "btf", "dump", str(bad)], capture_output=True, text=True)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert str(bad) in res.stderr and "BTF header at byte 4" in res.stderr
