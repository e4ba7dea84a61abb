#!/usr/bin/env python3
"""Benchmark ``btfmirror pack`` against the older btfgen pipeline on the same kernels and object.

The older pipeline, as the btfgen script runs it, one kernel after another: ``tar xJf`` each
``.btf.tar.xz``, ``bpftool gen min_core_btf`` each into a btfhub-archive tree, then
``tar czf out.tar.gz -C tree .``. btfmirror, through its installed ``btfmirror`` command:

- cold: an empty cache: ``btfmirror sync --all`` from a local git remote holding the same
  archives (which indexes each archive as it arrives), then ``btfmirror pack``;
- cold pack: ``pack`` alone on a synced cache without the index (sync time excluded);
- warm: ``pack`` again, the mirror synced and indexed (median of ``--repeat`` runs).

Prints times and archive sizes side by side, as ratios to the older pipeline.

Usage: scripts/bench_pack.py [--corpus DIR] [--object OBJ]... [--jobs N] [--repeat 3] [--keep DIR]
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
CORPUS = Path("/work/shared/data/btfhub-corpus")
SAMPLE = REPO / "tests" / "data" / "btfhub-sample"
BUILD = REPO / "tests" / "bpf" / "build"
#: The test objects bpftool 7.1 minimizes on every kernel (not ambiguous nor fwd_typetag):
#: together about 80 CO-RE relocations, a mid-sized program.
OBJECTS = [BUILD / f"{name}.bpf.el.o" for name in
           ("loadable", "core_fields", "core_types", "ringbuf", "newfield")]  # fmt: skip
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid"}  # fmt: skip


def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, env=env, cwd=cwd,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def archives(corpus: Path) -> list[Path]:
    """Every kernel archive under ``corpus`` (symlinked codename directories not repeated)."""
    return sorted(p for p in corpus.rglob("*.btf.tar.xz") if not p.is_symlink())


def build_remote(corpus: Path, kernels: list[Path], dest: Path) -> str:
    for path in kernels:
        target = dest / path.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    env = {**os.environ, **GIT_ENV}
    run("git", "init", "-q", "-b", "main", cwd=dest, env=env)
    run("git", "config", "uploadpack.allowFilter", "true", cwd=dest, env=env)
    run("git", "add", "-A", cwd=dest, env=env)
    run("git", "commit", "-q", "-m", "corpus", cwd=dest, env=env)
    # Serve from a pack, as a real server (GitHub) does: fetching from loose objects would
    # time git's delta search over every archive on the server side (about 9 s here), not us.
    run("git", "repack", "-q", "-a", "-d", cwd=dest, env=env)
    return f"file://{dest}/.git"


def older_pipeline(
    corpus: Path, kernels: list[Path], objects: list[Path], work: Path
) -> tuple[float, int, int]:
    """(seconds, archive bytes, kernels bpftool refused) of xz → bpftool → tar czf."""
    tree, scratch, out = work / "tree", work / "scratch", work / "older.tar.gz"
    started = time.perf_counter()
    failed = 0
    for path in kernels:
        scratch.mkdir(parents=True, exist_ok=True)
        run("tar", "xJf", path, "-C", scratch)
        release = path.name.removesuffix(".btf.tar.xz")
        target = tree / path.relative_to(corpus).parent / f"{release}.btf"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            run("bpftool", "gen", "min_core_btf", scratch / f"{release}.btf", target, *objects)
        except subprocess.CalledProcessError:
            failed += 1
        shutil.rmtree(scratch)
    run("tar", "czf", out, "-C", tree, ".")
    return time.perf_counter() - started, out.stat().st_size, failed


def btfmirror(cache: Path, *args: str | Path) -> float:
    # The library from this working tree, even if .venv holds an older non-editable install.
    env = {**os.environ, "BTFHUB_CACHE": str(cache), "GIT_ALLOW_PROTOCOL": "file",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    started = time.perf_counter()
    # Not the installed console script: an editable install may map the CLI onto another
    # checkout (and a worktree has no .venv); run this tree's CLI with this interpreter.
    run(sys.executable, "-c", "from cli.app import main; main()", *args, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS if CORPUS.is_dir() else SAMPLE)
    parser.add_argument("--object", type=Path, action="append", dest="objects",
                        help="BPF object, repeatable (default: five test objects)")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    opts = parser.parse_args()
    for tool in ("bpftool", "git", "tar"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    kernels = archives(opts.corpus)
    objects: list[Path] = opts.objects or OBJECTS
    work = opts.keep or Path(tempfile.mkdtemp(prefix="bench-pack-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        remote = build_remote(opts.corpus, kernels, work / "remote")
        size_in = sum(p.stat().st_size for p in kernels)
        names = " ".join(o.name for o in objects)
        print(f"{len(kernels)} kernels from {opts.corpus} ({size_in / 2**20:.0f} MiB of "
              f".btf.tar.xz), objects {names}, {os.cpu_count()} CPUs")  # fmt: skip
        old_s, old_bytes, refused = older_pipeline(opts.corpus, kernels, objects, work / "old")
        print(f"older pipeline (tar xJf, bpftool gen min_core_btf, tar czf): {old_s:.2f} s, "
              f"{old_bytes} bytes" + (f", bpftool refused {refused} kernel(s)" if refused else ""))

        jobs = [] if opts.jobs is None else ["--jobs", str(opts.jobs)]
        cache, out = work / "cache", work / "btfmirror.tar.gz"
        sync_s = btfmirror(cache, "sync", "--remote", remote, "--all")
        pack_cold_s = btfmirror(cache, "pack", *objects, "-o", out, *jobs)
        cold_s = sync_s + pack_cold_s
        shutil.rmtree(cache / "index")
        cold_pack_s = btfmirror(cache, "pack", *objects, "-o", out, *jobs)
        warm = [btfmirror(cache, "pack", *objects, "-o", out, *jobs) for _ in range(opts.repeat)]
        warm_s = statistics.median(warm)
        size = out.stat().st_size

        print(f"btfmirror cold (sync {sync_s:.2f} s + pack {pack_cold_s:.2f} s): {cold_s:.2f} s")
        print(f"btfmirror cold pack (synced, no index): {cold_pack_s:.2f} s")
        print(f"btfmirror warm pack (synced and indexed, median of {opts.repeat}): {warm_s:.2f} s, "
              f"{size} bytes")  # fmt: skip
        variants = {}
        for name, extra in (("--hardlinks", ["--hardlinks"]), (".tar.xz", []),
                            (".tar.xz --hardlinks", ["--hardlinks"]), (".tar.zst", [])):
            target = work / ("v.tar.xz" if "xz" in name else "v.tar.zst" if "zst" in name
                             else "v.tar.gz")
            btfmirror(cache, "pack", *objects, "-o", target, *jobs, *extra)
            variants[name] = target.stat().st_size
        print("other outputs: " + ", ".join(f"{n} {b} bytes" for n, b in variants.items()))
        print("ratios to the older pipeline:")
        print(f"  warm speed-up      {old_s / warm_s:6.2f}x   (target >= 3x)")
        print(f"  cold time          {cold_s / old_s:6.2f}x   (target <= 1.5x)")
        print(f"  cold pack time     {cold_pack_s / old_s:6.2f}x")
        print(f"  archive size       {size / old_bytes:6.3f}x   (target <= 0.3x)")
        for name, variant in variants.items():
            print(f"  archive size {name:<20} {variant / old_bytes:6.3f}x")
    finally:
        if opts.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
