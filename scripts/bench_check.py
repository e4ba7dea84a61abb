#!/usr/bin/env python3
"""Benchmark ``btfmirror check``: one object against every kernel of a btfhub-shaped corpus.

Builds a git origin from CORPUS (default: the bundled sample, tests/data/btfhub-sample), syncs
every kernel into a fresh cache, then times ``check`` through the catalog:

- cold: no saved index yet (each kernel's .btf.tar.xz is decompressed, parsed and indexed);
- warm: the same check again (every kernel opened through its saved index);
- files: the same kernels given as --btf files (decompressed and parsed, no index).

Usage: scripts/bench_check.py [--object tests/bpf/build/core_fields.bpf.el.o] [--corpus DIR]
       [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from btfhub_mirror.check import check
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import sync

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@invalid",
}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def build_origin(corpus: Path, root: Path) -> Path:
    work = root / "origin"
    shutil.copytree(corpus, work, symlinks=True, ignore=shutil.ignore_patterns("*.md"))
    git("init", "-q", "-b", "main", cwd=work)
    git("config", "uploadpack.allowFilter", "true", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "corpus", cwd=work)
    return work / ".git"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--object", type=Path, default=REPO / "tests" / "bpf" / "build" / "core_fields.bpf.el.o"
    )
    parser.add_argument("--corpus", type=Path, default=REPO / "tests" / "data" / "btfhub-sample")
    parser.add_argument("--runs", type=int, default=3, help="warm runs (median reported)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-check-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        origin = build_origin(args.corpus.resolve(), root)
        store = Store(root / "cache")
        distros = sorted(p.name for p in args.corpus.iterdir() if p.is_dir())
        everything = KernelFilter.create(distros=distros)
        started = time.monotonic()
        synced = sync(store, everything, [f"file://{origin}"])
        print(
            f"sync: {synced.fetched} kernels, {synced.selected_bytes / 2**20:.1f} MiB "
            f"in {time.monotonic() - started:.1f} s (not part of check)"
        )

        cold = check([args.object], flt=everything, store=store)
        n = len(cold.kernels)
        assert not any(k.index_reused for k in cold.kernels)
        warm = []
        for _ in range(args.runs):
            result = check([args.object], flt=everything, store=store)
            assert all(k.index_reused for k in result.kernels)
            warm.append(result.seconds)
        files = [k.kernel.path for k in cold.kernels]
        direct = check([args.object], btf_files=files)
        relocs = len(cold.rows.relocations)
        print(
            f"object: {args.object.name} ({relocs} relocations), {n} kernels "
            f"({', '.join(f'{c} {v}' for v, c in cold.tally().items())})"
        )
        print(
            f"cold (no index):       {cold.seconds:7.2f} s  ({cold.seconds / n * 1000:.0f} ms "
            "per kernel)"
        )
        med = statistics.median(warm)
        print(
            f"warm (saved index):    {med:7.2f} s  ({med / n * 1000:.0f} ms per kernel, "
            f"median of {len(warm)})"
        )
        print(f"--btf files, no index: {direct.seconds:7.2f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
