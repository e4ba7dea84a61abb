"""`pip install -e .` and `pip install .` of a copy of the repository, with no index at all.

The editable install must follow edits under ``cli/`` without reinstalling, and neither install
may put a top-level ``cli`` module on the path (it is installed as ``btfhub_mirror_cli``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import require

from .venvs import BACKEND, borrowed_packages, copy_repo, importable, make_venv, offline_env

# An edit under cli/: one more command, which `btfmirror --help` lists once it is loaded.
COMMAND = "edited-after-install"
EDIT = f'''

@app.command("{COMMAND}")
def _edited_after_install() -> None:
    """Added to the source after installing."""
'''

pytestmark = [pytest.mark.needs_build_backend, pytest.mark.slow]


@pytest.fixture(scope="module")
def borrowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [name for name in BACKEND if not importable(name)]
    require(
        not missing,
        f"the build backend is not installed here ({', '.join(missing)}): "
        "scripts/test.sh installs it",
    )
    return borrowed_packages(tmp_path_factory.mktemp("borrowed") / "site")


def pip_install(python: Path, *args: str) -> None:
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", *args],
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def run(argv: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    # cwd is never the repository copy: "" on sys.path would make its cli/ importable.
    return subprocess.run(
        argv,
        cwd=cwd,
        env=offline_env(COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_no_cli_module(python: Path, cwd: Path) -> None:
    probe = run([python, "-c", "import cli"], cwd)
    assert probe.returncode != 0 and "No module named 'cli'" in probe.stderr, probe


def test_editable_install_follows_edits_to_cli(borrowed: Path, tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    python = make_venv(tmp_path / "venv", borrowed)
    pip_install(python, "-e", str(repo))
    btfmirror = tmp_path / "venv" / "bin" / "btfmirror"
    before = run([btfmirror, "--help"], tmp_path)
    assert before.returncode == 0 and "pack" in before.stdout, before
    assert COMMAND not in before.stdout

    with (repo / "cli" / "app.py").open("a") as app:
        app.write(EDIT)
    after = run([btfmirror, "--help"], tmp_path)
    assert after.returncode == 0 and COMMAND in after.stdout, after

    # The library too, and both from the copy, not from the test run's own install.
    where = run(
        [
            python,
            "-c",
            "import btfhub_mirror, btfhub_mirror_cli as c; "
            "print(btfhub_mirror.__file__); print(c.__file__)",
        ],
        tmp_path,
    )
    assert where.stdout.split() == [
        str(repo / "btfhub_mirror" / "__init__.py"),
        str(repo / "cli" / "__init__.py"),
    ], where
    assert_no_cli_module(python, tmp_path)


def test_normal_install_copies_cli_as_btfhub_mirror_cli(borrowed: Path, tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    python = make_venv(tmp_path / "venv", borrowed)
    pip_install(python, str(repo))
    with (repo / "cli" / "app.py").open("a") as app:
        app.write(EDIT)  # the install is a copy: later edits do not show
    shown = run([tmp_path / "venv" / "bin" / "btfmirror", "--help"], tmp_path)
    assert shown.returncode == 0 and "pack" in shown.stdout and COMMAND not in shown.stdout, shown
    where = run([python, "-c", "import btfhub_mirror_cli as c; print(c.__file__)"], tmp_path)
    installed = Path(where.stdout.strip())
    assert installed.name == "__init__.py" and installed.parent.name == "btfhub_mirror_cli"
    assert installed.is_relative_to(tmp_path / "venv"), installed
    assert_no_cli_module(python, tmp_path)
