"""Throwaway virtualenvs and repository copies for the install and offline-setup tests.

A fresh virtualenv would have to download btfmirror's dependencies; to stay fast and offline,
one made here sees the test run's own packages through a directory of symlinks on its
``sys.path`` (a ``.pth`` line). btfmirror itself and, when asked, the build backend are left
out of that directory, so what the test installs is the only copy the virtualenv can import.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sysconfig
import venv
from collections.abc import Sequence
from pathlib import Path

from tests.helpers import REPO

# Never borrowed from the test run: btfmirror in any install form (files, editable hooks).
OWN = ("btfhub_mirror", "btfmirror", "_btfhub_mirror", "_editable_impl_btfmirror", "__editable__")
BACKEND = ("hatchling", "editables")


def copy_repo(dest: Path) -> Path:
    """The repository's files as a fresh clone has them (tracked and new, not ignored)."""
    names = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, names):
        source, target = REPO / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


def borrowed_packages(dest: Path, leave_out: Sequence[str] = ()) -> Path:
    """``dest``: symlinks to this test run's installed packages, without btfmirror's own."""
    dest.mkdir(parents=True)
    skip = tuple(p.lower() for p in (*OWN, *leave_out))
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(skip) and not entry.name.endswith(".pth"):
            (dest / entry.name).symlink_to(entry)
    return dest


def make_venv(path: Path, borrowed: Path) -> Path:
    """A virtualenv at ``path`` (no pip of its own) that also imports from ``borrowed``."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # After the virtualenv's own site-packages: what gets installed there comes first.
    (Path(purelib) / "zz_borrowed.pth").write_text(f"{borrowed}\n")
    return python


def offline_env(**extra: str) -> dict[str, str]:
    """The environment without any pip configuration: no index, no find-links, no config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def importable(name: str) -> bool:
    """Whether this test run's interpreter can import ``name`` (without importing it)."""
    return importlib.util.find_spec(name) is not None
