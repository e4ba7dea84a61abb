"""A team's own archive repository: a git work tree laid out as btfhub-archive is.

``<distro>/<version>/<arch>/<release>.btf.tar.xz`` files on the branch ``main`` (btfhub-archive's
default branch; ``sync`` clones a remote's HEAD branch with ``--single-branch``), so any
``sync`` takes it as a remote as it is: a path, ``file://`` or served by ``git daemon``.
The git CLI does the work, as in :mod:`btfhub_mirror.mirror.gitrepo`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import GitCommandError, UsageError

#: btfhub-archive's default branch.
BRANCH = "main"
README_NAME = "README.md"
#: Written into the repository so whoever finds it knows what it is and how to use it.
README = """\
# BTF archive (btfhub-archive layout)

Kernel BTF for kernels that btfhub-archive does not carry, made with `btfmirror add`.

Layout, as in https://github.com/aquasecurity/btfhub-archive:

    <distro>/<version>/<arch>/<release>.btf.tar.xz

each an xz-compressed tar holding one file, `<release>.btf` (the kernel's raw BTF; `release`
is the kernel's `uname -r`).

Use it as a remote next to btfhub-archive (the first remote offering a kernel wins):

    btfmirror sync --remote /path/to/this/repo --remote https://github.com/aquasecurity/btfhub-archive
    BTFHUB_REPO=/path/to/this/repo,https://github.com/aquasecurity/btfhub-archive btfmirror sync
"""
INITIAL_MESSAGE = "Initialize BTF archive (btfhub-archive layout)"
#: Identity of the commits when git has none configured (a CI runner, a container).
FALLBACK_IDENTITY = ("btfmirror", "btfmirror@localhost")
_GIT_TIMEOUT = 300


def git(
    repo: Path, *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``git -C repo args``; a failure is a GitCommandError with git's last words."""
    cmd = ["git", "-C", str(repo), *args]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
            input=stdin,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise GitCommandError(f"git {args[0]} in {repo}", str(err), command=" ".join(cmd)) from err
    if check and proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise GitCommandError(
            f"git {args[0]} in {repo}", last, command=" ".join(cmd), returncode=proc.returncode
        )
    return proc


def _identity(repo: Path) -> list[str]:
    """``-c user.name=… -c user.email=…`` when git has no identity configured, else nothing."""
    have = git(repo, "config", "user.email", check=False).stdout.strip()
    if have:
        return []
    name, email = FALLBACK_IDENTITY
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]


def is_archive_repo(path: Path) -> bool:
    """Whether ``path`` is the top of a git work tree holding an archive README."""
    if not (path / ".git").exists() or not (path / README_NAME).is_file():
        return False
    top = git(path, "rev-parse", "--show-toplevel", check=False)
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == path.resolve()


def init_archive(path: str | os.PathLike[str]) -> tuple[Path, bool]:
    """Make ``path`` an archive repository with one commit; ``(path, created)``. An existing
    archive repository is left as it is (``created`` False); any other non-empty directory
    is refused."""
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root}: exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        if is_archive_repo(root):
            return root, False
        raise UsageError(
            f"{root}: not empty and not an archive repository; give a new or empty directory"
        )
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", BRANCH)
    # Blobless, shallow clones (what sync asks for) need the server side to allow filters.
    git(root, "config", "uploadpack.allowFilter", "true")
    (root / README_NAME).write_text(README)
    git(root, "add", README_NAME)
    git(root, *_identity(root), "commit", "-q", "-m", INITIAL_MESSAGE)
    return root, True


def open_archive(path: str | os.PathLike[str]) -> Path:
    """An archive repository made by :func:`init_archive`, with a clean work tree."""
    root = Path(path)
    if not root.is_dir() or not is_archive_repo(root):
        raise UsageError(
            f"{root}: not an archive repository (make one with `btfmirror archive init {root}`)"
        )
    dirty = git(root, "status", "--porcelain", "--untracked-files=all").stdout
    if dirty.strip():
        first = dirty.splitlines()[0][3:]
        raise UsageError(
            f"{root}: the work tree has uncommitted changes ({first}...); commit or remove them "
            "first, so an add commits only what it adds"
        )
    return root


def commit_files(root: Path, paths: Sequence[str], message: str) -> str:
    """Stage exactly ``paths`` and commit them as one commit; returns its id."""
    git(root, "add", "--", *paths)
    git(root, *_identity(root), "commit", "-q", "-F", "-", stdin=message)
    return git(root, "rev-parse", "HEAD").stdout.strip()


def restore(root: Path, written: Sequence[str]) -> None:
    """Undo a failed add: the index and work tree back at HEAD, new files gone."""
    git(root, "reset", "-q", "--hard", "HEAD", check=False)
    for rel in written:
        target = root / rel
        tracked = git(root, "ls-files", "--error-unmatch", "--", rel, check=False)
        if tracked.returncode != 0 and target.exists():
            target.unlink()
        parent = target.parent
        while parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
