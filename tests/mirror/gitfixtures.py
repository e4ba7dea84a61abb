"""Real btfhub-shaped git remotes for the mirror tests, served over file:// and git://.

The origin holds the bundled real sample (tests/data/btfhub-sample, with its debian/bookworm
codename symlink) plus generated entries: ubuntu 20.04 in both arches with a ``focal`` codename
link, a file symlink, a stray top-level directory and a README, the odd names of the real
archive.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SAMPLE

GIT_ENV = {
    "GIT_AUTHOR_NAME": "btfmirror tests",
    "GIT_AUTHOR_EMAIL": "tests@btfmirror.invalid",
    "GIT_COMMITTER_NAME": "btfmirror tests",
    "GIT_COMMITTER_EMAIL": "tests@btfmirror.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def isolate_from_real_remotes(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """No test may touch the real cache or the real remote: the default cache is ``cache`` and
    git may only speak file:// and git:// (no https to GitHub)."""
    monkeypatch.setenv("BTFHUB_CACHE", str(cache))
    monkeypatch.setenv("BTFHUB_REPO", "file:///nonexistent/btfhub-archive")
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file:git")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(*args: str | Path, cwd: Path | None = None, stdin: str | None = None) -> str:
    env = {**os.environ, **GIT_ENV, "GIT_NO_LAZY_FETCH": "1"}
    return subprocess.run(
        ["git", *map(str, args)],
        cwd=cwd,
        env=env,
        input=stdin,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def generated_entries(count: int, seed: int = 5) -> dict[str, bytes]:
    """``count`` btfhub-shaped paths with random (incompressible) contents of 2-6 KiB."""
    rng = random.Random(seed)
    entries = {}
    for i in range(count):
        arch = ("x86_64", "arm64")[i % 2]
        suffix = "generic" if arch == "x86_64" else "generic-64k"
        path = f"ubuntu/20.04/{arch}/5.{4 + i % 12}.0-{100 + i}-{suffix}.btf.tar.xz"
        entries[path] = rng.randbytes(rng.randint(2048, 6144))
    return entries


class Origin:
    """A non-bare working repository whose .git is served; commit() publishes changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / "origin"

    @property
    def git_dir(self) -> Path:
        return self.work / ".git"

    @property
    def url(self) -> str:
        return f"file://{self.git_dir}"

    def build(self, extra: int = 40) -> Origin:
        shutil.copytree(SAMPLE, self.work, symlinks=True, ignore=shutil.ignore_patterns("*.md"))
        git("init", "-q", "-b", "main", cwd=self.work)
        git("config", "uploadpack.allowFilter", "true", cwd=self.work)
        for path, data in generated_entries(extra).items():
            self.write(path, data)
        (self.work / "ubuntu" / "focal").symlink_to("20.04")
        first = sorted(p for p in generated_entries(extra) if "/x86_64/" in p)[0]
        (self.work / "ubuntu" / "20.04" / "x86_64" / "latest.btf.tar.xz").symlink_to(
            Path(first).name
        )
        self.write("1/x86_64/4.14.0-1.amzn1.x86_64.btf.tar.xz", b"stray top-level directory")
        self.write("README.md", b"# btfhub-archive (test copy)\n")
        self.commit("initial archive")
        return self

    def write(self, path: str, data: bytes) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def remove(self, path: str) -> None:
        (self.work / path).unlink()

    def commit(self, message: str) -> str:
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    def blobs(self) -> dict[str, tuple[str, str]]:
        """path → (mode, blob id) of every file at the tip."""
        out = {}
        for line in git("ls-tree", "-r", "-z", "HEAD", cwd=self.work).split("\0"):
            if line:
                meta, path = line.split("\t", 1)
                mode, _kind, oid = meta.split()
                out[path] = (mode, oid)
        return out


def mirror_blobs(repo: Path) -> set[str]:
    """Every blob object the mirror holds (never fetches)."""
    out = git(
        "cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectname)", cwd=repo
    )
    return {line.split()[1] for line in out.splitlines() if line.startswith("blob ")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GitDaemon:
    """``git daemon`` on 127.0.0.1, serving every repository under ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, repo: Path) -> str:
        return f"git://127.0.0.1:{self.port}/{repo.relative_to(self.base)}"

    def __enter__(self) -> GitDaemon:
        self.proc = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={self.base}",
                str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"git daemon did not start on port {self.port}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def serve(base: Path) -> Iterator[GitDaemon]:
    with GitDaemon(base) as daemon:
        yield daemon
