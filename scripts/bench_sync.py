#!/usr/bin/env python3
"""Benchmark ``btfmirror sync`` against a plain ``git clone --depth 1``, and ``btfmirror list``.

Builds a btfhub-shaped remote of DISTROS x VERSIONS x ARCHES directories with FILES archives of
incompressible bytes each (default 5 x 5 x 2 x 40 = 2,000 archives in 50 directories), serves it
with ``git daemon`` on 127.0.0.1, then measures:

- sync of one distro/arch: wall time, bytes received, and bytes received / bytes selected;
- a second sync after upstream adds archives (trees only, then the new blobs);
- ``git clone --depth 1`` of the same remote: wall time and bytes received;
- ``btfmirror list`` (the installed console script) on a 10,000-entry catalog.

Usage: scripts/bench_sync.py [--files 40] [--list-entries 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from btfhub_mirror.catalog.queries import OfferedEntry, apply_offer
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import sync

DISTROS = ["ubuntu", "centos", "debian", "fedora", "amzn"]
VERSIONS = ["1", "2", "3", "4", "5"]
ARCHES = ["x86_64", "arm64"]
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@invalid",
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout


def build_remote(root: Path, files: int, rng: random.Random) -> Path:
    work = root / "origin"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    git("config", "uploadpack.allowFilter", "true", cwd=work)
    for distro in DISTROS:
        for version in VERSIONS:
            for arch in ARCHES:
                directory = work / distro / version / arch
                directory.mkdir(parents=True)
                for n in range(files):
                    name = f"5.{n % 20}.0-{1000 + n}-generic.btf.tar.xz"
                    (directory / name).write_bytes(rng.randbytes(rng.randint(8_192, 40_960)))
    (work / "ubuntu" / "focal").symlink_to("3")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "archive", cwd=work)
    return work


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def git_daemon(base: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={base}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait()


def dir_bytes(path: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file() and not p.is_symlink())


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.2f} MiB"


def bench_list(store: Store, entries: int, rng: random.Random) -> list[float]:
    offered = [
        OfferedEntry(
            f"d{i % 8}/{i % 13}/{('x86_64', 'arm64')[i % 2]}/5.{i % 19}.0-{i}-generic.btf.tar.xz",
            f"d{i % 8}",
            str(i % 13),
            ("x86_64", "arm64")[i % 2],
            f"5.{i % 19}.0-{i}-generic",
            f"{rng.getrandbits(160):040x}",
            "bench",
        )
        for i in range(entries)
    ]
    conn = store.open_catalog()
    apply_offer(conn, offered, [], "2026-01-01T00:00:00Z")
    conn.close()
    exe = shutil.which("btfmirror", path=str(Path(sys.executable).parent)) or "btfmirror"
    env = {**os.environ, "BTFHUB_CACHE": str(store.root)}
    runs = (
        ("--version (startup only)", ["--version"]),
        ("list", ["list"]),
        ("list --json", ["list", "--json"]),
        ("list -k '>=5.4,<5.16'", ["list", "-k", ">=5.4,<5.16"]),
    )
    times: dict[str, list[float]] = {label: [] for label, _ in runs}
    for _ in range(7):
        for label, args in runs:
            started = time.perf_counter()
            subprocess.run([exe, *args], env=env, check=True, stdout=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - started)
    for label, values in times.items():
        print(
            f"  btfmirror {label:<26} {entries} entries: median {statistics.median(values):.3f} s"
            f" (min {min(values):.3f} s)"
        )
    return times["list"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40, help="archives per directory")
    parser.add_argument("--list-entries", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()
    rng = random.Random(2026)
    root = args.keep or Path(tempfile.mkdtemp(prefix="btfmirror-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        work = build_remote(root / "served", args.files, rng)
        total = len(DISTROS) * len(VERSIONS) * len(ARCHES) * args.files
        print(
            f"remote: {total} archives in {len(DISTROS) * len(VERSIONS) * len(ARCHES)} "
            f"directories, {mib(dir_bytes(work, '*.btf.tar.xz'))} "
            f"(built in {time.perf_counter() - started:.1f} s)"
        )
        with git_daemon(root / "served") as port:
            url = f"git://127.0.0.1:{port}/origin/.git"
            store = Store(root / "cache")
            flt = KernelFilter.create(distros=["ubuntu"], arches=["x86_64"])
            result = sync(store, flt, [url])
            print(
                f"btfmirror sync --distro ubuntu --arch x86_64 ({result.selected} archives, "
                f"{mib(result.selected_bytes)} selected):"
            )
            print(
                f"  time {result.seconds:.2f} s, received {mib(result.bytes_received)} "
                f"(trees {mib(result.tree_bytes)}, blobs {mib(result.blob_bytes)})"
            )
            ratio = result.blob_bytes / result.selected_bytes
            print(
                f"  blob bytes / selected bytes = {ratio:.4f};"
                f" all bytes / selected bytes = "
                f"{result.bytes_received / result.selected_bytes:.4f}"
            )

            for n in range(20):
                target = work / "ubuntu" / "3" / ("x86_64", "arm64")[n % 2]
                (target / f"6.{n}.0-1-generic.btf.tar.xz").write_bytes(rng.randbytes(20_000))
            git("add", "-A", cwd=work)
            git("commit", "-q", "-m", "update", cwd=work)
            again = sync(store, flt, [url])
            print(
                f"  update (+20 upstream, {again.fetched} selected): {again.seconds:.2f} s, "
                f"received {mib(again.bytes_received)} (trees {mib(again.tree_bytes)})"
            )
            noop = sync(store, flt, [url])
            print(f"  no-op resync: {noop.seconds:.2f} s, received {noop.bytes_received} B")

            clone = root / "plain-clone"
            started = time.perf_counter()
            subprocess.run(["git", "clone", "-q", "--depth", "1", url, str(clone)], check=True)
            elapsed = time.perf_counter() - started
            received = dir_bytes(clone / ".git" / "objects" / "pack", "*.pack")
            print(
                f"git clone --depth 1: time {elapsed:.2f} s, received {mib(received)}, "
                f"work tree {mib(dir_bytes(clone, '*.btf.tar.xz'))}"
            )
            print(
                f"  btfmirror received {result.bytes_received / received:.1%} of the clone's bytes"
            )
        print("list:")
        bench_list(Store(root / "list-cache"), args.list_entries, rng)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
