"""The README's promise: after one online setup, `bash scripts/demo.sh` needs no network at all.

In a copy of the repository, the demo's setup (``install_btfmirror`` of scripts/venv.sh) runs
online once; then the demo runs in a network namespace with no network (``unshare -n``) and
without any pip configuration (this machine's may name a local index, which would still work
there and prove nothing).

The copy's ``.venv`` borrows btfmirror's dependencies from the test run (see ``venvs.py``) to
keep this fast, but not the build backend: the first run really has to download it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import need_tool, require

from .venvs import BACKEND, borrowed_packages, copy_repo, make_venv, offline_env

pytestmark = [pytest.mark.needs_unshare, pytest.mark.needs_network, pytest.mark.slow]


@pytest.fixture(scope="module")
def _unshare_net() -> None:
    """Skip (fail under CI=true) where no network namespace can be made (not root)."""
    unshare = need_tool("unshare")
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, text=True, check=False)
    require(probe.returncode == 0, f"unshare -n: no network namespace: {probe.stderr.strip()}")


@pytest.mark.usefixtures("_unshare_net")
def test_demo_runs_offline_after_one_online_run(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    make_venv(repo / ".venv", borrowed_packages(tmp_path / "site", leave_out=BACKEND))
    demo_dir = tmp_path / "demo"

    # The online setup: what the demo's first run does before its first btfmirror command.
    online = subprocess.run(
        ["bash", "-c", ". scripts/venv.sh && install_btfmirror"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert online.returncode == 0, online.stdout + online.stderr
    # A changed build configuration (here a comment) makes the offline run reinstall btfmirror.
    with (repo / "pyproject.toml").open("a") as pyproject:
        pyproject.write("# changed after the online setup\n")

    started = time.monotonic()
    offline = subprocess.run(
        ["unshare", "-n", "bash", "scripts/demo.sh"],
        cwd=repo,
        env=offline_env(DEMO_DIR=str(demo_dir)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.monotonic() - started
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "downloading" not in offline.stdout
    assert "==> installing btfmirror (editable, offline: from .venv only)" in offline.stdout
    assert (demo_dir / "loadable.tar.gz").is_file()
    assert seconds < 60, f"the offline demo took {seconds:.1f} s"

    # The first run said what it downloaded: the build backend, then what the editable
    # build needs besides (the rest of the dependencies were there already).
    announced = [a.split(":\n", 1) for a in online.stdout.split("==> downloading ")[1:]]
    assert [what for what, _ in announced] == [
        "the build backend into .venv (needs the network; later runs do not)",
        "btfmirror's dependencies into .venv (needs the network; later runs do not)",
    ], online.stdout
    assert announced[0][1].split()[0].startswith("hatchling"), online.stdout
    assert announced[1][1].split()[0].startswith("editables"), online.stdout

    # It ends with what to try next; the first suggestion works, offline too.
    last = offline.stdout.rstrip("\n").splitlines()[-2:]
    assert last[0].startswith("==> try next: ") and last[1].startswith("==> or "), last
    suggested = last[0].removeprefix("==> try next: ")
    tried = subprocess.run(
        ["unshare", "-n", "bash", "-c", suggested],
        cwd=repo,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert (demo_dir / "check.html").is_file()
