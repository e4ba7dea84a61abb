"""Hostile git remotes against ``sync`` (issue #12, items 1, 5, 6 and the empty/ext:: remotes).

Every remote is built for real with git plumbing (``hash-object``, ``mktree -z``, ``commit-tree``)
and served over ``file://`` and by a real ``git daemon`` on 127.0.0.1. Git does not check
fetched trees (``transfer.fsckObjects`` is off by default), so ``..`` entries and control
characters in names reach btfmirror exactly as an attacker sends them.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from btfhub_mirror.catalog import connect
from btfhub_mirror.errors import EmptyRemoteError, RemoteContentError, UsageError
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import (
    SKIP_BAD_VERSION,
    SKIP_EMPTY_REMOTE,
    SKIP_TOO_LARGE,
    SKIP_UNSAFE_PATH,
    sync,
)
from tests.helpers import need_tool
from tests.mirror.gitfixtures import GitDaemon, git, isolate_from_real_remotes

WORKTREE = Path(__file__).resolve().parents[2]
GOOD = "ubuntu/20.04/x86_64/5.4.0-2-generic.btf.tar.xz"
ALL = KernelFilter()
KINDS = {"040000": "tree", "160000": "commit"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_real_remotes(monkeypatch, tmp_path / "default-cache")
    need_tool("git")


class Hostile:
    """A bare repository whose tip tree is written entry by entry with git plumbing."""

    def __init__(self, root: Path, name: str = "hostile.git") -> None:
        self.path = root / name
        git("init", "-q", "--bare", "-b", "main", self.path)
        git("config", "uploadpack.allowFilter", "true", cwd=self.path)

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def blob(self, data: bytes) -> str:
        return (
            subprocess.run(
                ["git", "hash-object", "-w", "--stdin"],
                cwd=self.path,
                input=data,
                check=True,
                capture_output=True,
            )
            .stdout.decode()
            .strip()
        )

    def tree(self, entries: dict[str, tuple[str, str]]) -> str:
        """A tree of ``name -> (mode, oid)``; ``mktree -z`` takes any name but NUL and ``/``."""
        lines = "".join(
            f"{mode} {KINDS.get(mode, 'blob')} {oid}\t{name}\0"
            for name, (mode, oid) in entries.items()
        )
        return git("mktree", "-z", cwd=self.path, stdin=lines).strip()

    def nest(self, names: list[str], leaf: dict[str, tuple[str, str]]) -> str:
        """``names[0]/names[1]/.../<leaf entries>`` as nested trees; returns the outer tree."""
        tree = self.tree(leaf)
        for name in reversed(names[1:]):
            tree = self.tree({name: ("040000", tree)})
        return tree

    def publish(self, root: dict[str, tuple[str, str]]) -> str:
        tree = self.tree(root)
        commit = git("commit-tree", tree, "-m", "hostile", cwd=self.path).strip()
        git("update-ref", "refs/heads/main", commit, cwd=self.path)
        return commit


def archive_tree(h: Hostile, files: dict[str, bytes]) -> dict[str, tuple[str, str]]:
    """Root entries for btfhub-shaped ``files`` (``distro/version/arch/name`` each)."""
    root: dict[str, tuple[str, str]] = {}
    grouped: dict[tuple[str, str, str], dict[str, tuple[str, str]]] = {}
    for path, data in files.items():
        distro, version, arch, name = path.split("/")
        grouped.setdefault((distro, version, arch), {})[name] = ("100644", h.blob(data))
    by_distro: dict[str, dict[str, dict[str, tuple[str, str]]]] = {}
    for (distro, version, arch), leaf in grouped.items():
        by_distro.setdefault(distro, {}).setdefault(version, {})[arch] = ("040000", h.tree(leaf))
    for distro, versions in by_distro.items():
        root[distro] = (
            "040000",
            h.tree({v: ("040000", h.tree(arches)) for v, arches in versions.items()}),
        )
    return root


def traversal_remote(root: Path) -> Hostile:
    """``..``/``..``/``..``, ``.``, newline, tab, non-UTF-8 and over-long names, and one good
    entry; with the default cache, ``archive/../../..`` is ``$HOME``."""
    h = Hostile(root)
    evil = h.blob(b"written outside the cache")
    leaf = {"5.4.0-1-generic.btf.tar.xz": ("100644", evil)}
    bad = b"written outside the cache"
    entries = archive_tree(
        h,
        {
            GOOD: b"a real archive would be here",
            "ubuntu/20.04/x86_64/5.4.0-3-generic\tforged\tnot-present\n.btf.tar.xz": bad,
            "ubuntu/20.04/x86_64/5.4.0-4-generic\n.btf.tar.xz": bad,
            "ubuntu/20.04/x86_64/5.4.0-5-" + "x" * 300 + ".btf.tar.xz": bad,
        },
    )
    entries[".."] = ("040000", h.nest(["..", "..", ".."], leaf))
    entries["."] = ("040000", h.nest([".", "x86_64", "x"], leaf))
    entries["debian"] = ("040000", h.nest(["debian", "..", ".."], leaf))
    entries["escape"] = ("120000", h.blob(b"../../.."))
    h.publish(entries)
    return h


def files_under(root: Path, skip: Path | None = None) -> set[str]:
    out = set()
    for dirpath, dirs, names in os.walk(root):
        if skip is not None and Path(dirpath) == skip.parent:
            dirs[:] = [d for d in dirs if Path(dirpath, d) != skip]
        out.update(os.path.join(dirpath, n) for n in names + dirs)
    return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, GitDaemon]]:
    base = tmp_path / "served"
    base.mkdir()
    with GitDaemon(base) as daemon:
        yield base, daemon


@pytest.mark.parametrize("transport", ["file", "git"])
def test_traversal_names_are_skipped_and_nothing_is_written_outside(
    transport: str, tmp_path: Path, served: tuple[Path, GitDaemon]
) -> None:
    base, daemon = served
    h = traversal_remote(base)
    url = h.url if transport == "file" else daemon.url(h.path)
    store = Store(tmp_path / "home" / ".cache" / "btfmirror")
    store.root.mkdir(parents=True)
    before = files_under(tmp_path, skip=store.root)

    result = sync(store, ALL, [url])

    assert files_under(tmp_path, skip=store.root) == before  # nothing written outside
    written = {
        str(p.relative_to(store.archive_dir))
        for p in store.archive_dir.rglob("*")
        if p.is_file() or p.is_symlink()
    }
    assert written == {GOOD}
    kinds = {(s.kind, s.path) for s in result.skipped}
    assert {k for k, _ in kinds} == {SKIP_UNSAFE_PATH}
    assert len(result.skipped) == 6 and result.fetched == result.selected == 1
    assert all("\n" not in s.path and "\t" not in s.path for s in result.skipped)
    with contextlib.closing(connect(store.catalog_path)) as conn:
        paths = {r[0] for r in conn.execute("SELECT path FROM entries")}
        aliases = dict(conn.execute("SELECT path, kind FROM aliases").fetchall())
    assert paths == {GOOD} and aliases == {"escape": "dangling"}


def test_traversal_with_the_default_cache_in_a_subprocess(tmp_path: Path) -> None:
    """The attack of the issue, end to end: CLI, default cache under a fake $HOME."""
    h = traversal_remote(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PYTHONPATH": str(WORKTREE),
        "GIT_ALLOW_PROTOCOL": "file",
    }
    for var in ("BTFHUB_CACHE", "XDG_CACHE_HOME", "BTFHUB_REPO"):
        env.pop(var, None)
    before = files_under(tmp_path)
    cli = [sys.executable, "-c", "from cli.app import app; app(prog_name='btfmirror')"]

    done = subprocess.run(
        [*cli, "sync", "--all", "-r", h.url, "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listed = subprocess.run(
        [*cli, "list"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + listed.stderr
    summary = json.loads(done.stdout)
    assert len(summary["skipped"]) == 6 and summary["fetched"] == 1
    assert done.stderr.count("warning: skipped") == 6
    cache = home / ".cache" / "btfmirror"
    new = files_under(tmp_path) - before
    assert new and all(Path(p).is_relative_to(cache) or cache.is_relative_to(p) for p in new), (
        sorted(new)
    )
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == ["ubuntu\t20.04\tx86_64\t5.4.0-2-generic\tpresent"]


def test_writes_are_confined_even_for_a_planted_symlink(tmp_path: Path) -> None:
    """Defence in depth: a directory of archive/ that is a symlink out of it is never written
    through, whatever the catalog says."""
    h = Hostile(tmp_path)
    h.publish(archive_tree(h, {GOOD: b"good", "fedora/31/x86_64/5.3.7-301.fc31.btf.tar.xz": b"x"}))
    store = Store(tmp_path / "cache")
    store.ensure()
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.archive_dir / "fedora").symlink_to(outside)

    result = sync(store, ALL, [h.url])

    assert list(outside.iterdir()) == []
    assert [(s.kind, s.path) for s in result.skipped] == [
        (SKIP_UNSAFE_PATH, "fedora/31/x86_64/5.3.7-301.fc31.btf.tar.xz")
    ]
    assert (store.archive_dir / GOOD).read_bytes() == b"good"
    with pytest.raises(RemoteContentError, match="outside"):
        store.local_file("fedora/31/x86_64/5.3.7-301.fc31.btf.tar.xz")
    with pytest.raises(RemoteContentError, match=r"'\.\.'"):
        store.local_file("../../../x.btf.tar.xz")


def test_twenty_digit_version_is_skipped_and_the_sync_goes_on(tmp_path: Path) -> None:
    h = Hostile(tmp_path)
    bad = "ubuntu/20.04/x86_64/99999999999999999999.0.0-1-generic.btf.tar.xz"
    bad_build = "ubuntu/20.04/x86_64/5.4.0-123456789012-generic.btf.tar.xz"
    h.publish(archive_tree(h, {GOOD: b"good", bad: b"bad", bad_build: b"bad build"}))
    store = Store(tmp_path / "cache")

    first = sync(store, ALL, [h.url])
    again = sync(store, ALL, [h.url])

    for result in (first, again):
        assert sorted((s.kind, s.path) for s in result.skipped) == [
            (SKIP_BAD_VERSION, bad_build),
            (SKIP_BAD_VERSION, bad),
        ]
        assert "9 digits" in result.skipped[0].reason
    assert first.fetched == 1 and again.already_present == 1 and first.catalog_entries == 1


def test_gitlink_at_an_archive_path_is_not_an_entry(tmp_path: Path) -> None:
    """A submodule entry named like an archive has no blob: it must not fail the fetch."""
    h = Hostile(tmp_path)
    root = archive_tree(h, {GOOD: b"good"})
    commit = h.publish(root)
    link = {"5.4.0-7-generic.btf.tar.xz": ("160000", commit)}
    arch = h.tree({**link, "5.4.0-2-generic.btf.tar.xz": ("100644", h.blob(b"good"))})
    h.publish({"ubuntu": ("040000", h.nest(["ubuntu", "20.04"], {"x86_64": ("040000", arch)}))})

    result = sync(Store(tmp_path / "cache"), ALL, [h.url])

    assert result.fetched == result.catalog_entries == 1


def test_blob_over_the_cap_is_skipped_before_it_is_read(tmp_path: Path) -> None:
    h = Hostile(tmp_path)
    big = "ubuntu/20.04/x86_64/5.4.0-9-generic.btf.tar.xz"
    h.publish(archive_tree(h, {GOOD: b"g" * 4096, big: b"b" * 4097}))
    store = Store(tmp_path / "cache")

    first = sync(store, ALL, [h.url], max_archive_bytes=4096)
    again = sync(store, ALL, [h.url], max_archive_bytes=4096)

    assert [(s.kind, s.path) for s in first.skipped] == [(SKIP_TOO_LARGE, big)]
    assert "4097 bytes, over the 4096-byte cap" in first.skipped[0].reason
    assert [(s.kind, s.path) for s in again.skipped] == [(SKIP_TOO_LARGE, big)]
    assert again.fetched == 0  # the blob is in the mirror: not downloaded again
    leftovers = [p.name for p in store.archive_dir.rglob("*") if p.is_file()]
    assert leftovers == ["5.4.0-2-generic.btf.tar.xz"]  # no partial or temporary file
    with contextlib.closing(connect(store.catalog_path)) as conn:
        states = dict(conn.execute("SELECT path, local_state FROM entries").fetchall())
    assert states == {GOOD: "present", big: "absent"}
    # Raising the cap makes it local, from the mirror.
    raised = sync(store, ALL, [h.url], max_archive_bytes=4097)
    assert raised.skipped == () and raised.from_mirror == 1
    assert (store.archive_dir / big).read_bytes() == b"b" * 4097


BLOB_MIB = 200
MEMORY_CHILD = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from btfhub_mirror.kernels import KernelFilter
    from btfhub_mirror.mirror import Store
    from btfhub_mirror.mirror.sync import sync
    store, url = Store(Path(sys.argv[1])), sys.argv[2]
    result = sync(store, KernelFilter(), [url], max_archive_bytes=1 << 30)
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"fetched": result.fetched, "hwm_kib": hwm, "children_kib": children}))
""")


def test_large_blob_is_streamed_with_bounded_memory(
    tmp_path: Path, served: tuple[Path, GitDaemon]
) -> None:
    """A 200 MiB blob (200 KiB on the wire) streams to disk: the sync process and its git
    children stay far below the blob size (the old whole-blob read peaked at 3x it)."""
    base, daemon = served
    h = Hostile(base)
    zeros = bytes(1 << 20)
    proc = subprocess.Popen(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=h.path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    for _ in range(BLOB_MIB):
        proc.stdin.write(zeros)
    out, _ = proc.communicate()
    big = out.decode().strip()
    arch = h.tree({"5.4.0-9-generic.btf.tar.xz": ("100644", big)})
    h.publish({"ubuntu": ("040000", h.nest(["ubuntu", "20.04"], {"x86_64": ("040000", arch)}))})
    store = tmp_path / "cache"

    done = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(store), daemon.url(h.path)],
        env={**os.environ, "PYTHONPATH": str(WORKTREE)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["fetched"] == 1
    written = store / "archive/ubuntu/20.04/x86_64/5.4.0-9-generic.btf.tar.xz"
    assert written.stat().st_size == BLOB_MIB << 20
    limit_kib = (BLOB_MIB << 10) // 4  # a quarter of the blob
    print(f"sync of a {BLOB_MIB} MiB blob: {figures}")
    assert figures["hwm_kib"] < limit_kib, figures
    assert figures["children_kib"] < limit_kib, figures


@pytest.mark.parametrize("transport", ["file", "git"])
def test_empty_remote_is_a_typed_error_or_skipped_among_others(
    transport: str, tmp_path: Path, served: tuple[Path, GitDaemon]
) -> None:
    base, daemon = served
    empty = Hostile(base, "empty.git")
    good = Hostile(base, "good.git")
    good.publish(archive_tree(good, {GOOD: b"good"}))
    urls = [r.url if transport == "file" else daemon.url(r.path) for r in (empty, good)]
    store = Store(tmp_path / "cache")

    with pytest.raises(EmptyRemoteError, match="has no commits") as info:
        sync(store, ALL, urls[:1])
    assert urls[0] in str(info.value) and "\n" not in str(info.value)
    assert list(store.git_dir.iterdir()) == []  # no mirror of an empty remote is kept

    result = sync(store, ALL, urls)
    assert [(s.kind, s.path) for s in result.skipped] == [(SKIP_EMPTY_REMOTE, urls[0])]
    assert [r.url for r in result.remotes] == urls[1:] and result.fetched == 1


def test_cli_empty_remote_and_ext_url_print_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.app import app

    empty = Hostile(tmp_path, "empty.git")
    runner = CliRunner()
    marker = tmp_path / "ext-ran"
    ext = f"ext::sh -c touch% {marker}"

    res_empty = runner.invoke(app, ["sync", "-r", empty.url])
    res_ext = runner.invoke(app, ["sync", "-r", ext])

    assert res_empty.exit_code == 1 and res_ext.exit_code == 2
    assert res_empty.stderr.strip().splitlines() == [
        f"error: remote {empty.url}: it has no commits (an empty repository)"
    ]
    lines = res_ext.stderr.strip().splitlines()
    assert len(lines) == 1 and ext in lines[0] and "https://" in lines[0], lines
    assert not marker.exists()
    for url, message in (
        ("fd::17", "the fd:: transport is not allowed"),
        ("gopher://x/y", "'gopher' is not allowed"),
    ):
        with pytest.raises(UsageError, match=message):
            sync(Store(tmp_path / "cache"), None, [url])


def test_version_numbers_are_capped_before_int() -> None:
    from btfhub_mirror.kernels import parse_pattern, parse_release, release_problem

    assert parse_release("99999999999999999999.0.0-1-generic") is None
    assert release_problem("5.4.0-1103-generic") is None
    assert parse_release("123456789.0.0-123456789-x") is not None  # nine digits fit
    with pytest.raises(UsageError, match="cannot read"):
        parse_pattern(">=" + "9" * 5000)  # int() would raise ValueError past 4300 digits
