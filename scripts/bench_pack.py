#!/usr/bin/env python3
"""Benchmark ``btfmirror pack`` against the older btfgen pipeline on the same kernels and object.

The older pipeline, as the btfgen script runs it, one kernel after another: ``tar xJf`` each
``.btf.tar.xz``, ``bpftool gen min_core_btf`` each into a btfhub-archive tree, then
``tar czf out.tar.gz -C tree .``. btfmirror, through its installed ``btfmirror`` command:

- cold: an empty cache: ``btfmirror sync --all`` from a local git remote holding the same
  archives (which indexes each archive as it arrives), then ``btfmirror pack``;
- cold pack: ``pack`` alone on a synced cache without the index (sync time excluded);
- warm: ``pack`` again, the mirror synced and indexed (median of ``--repeat`` runs).

Prints times and archive sizes side by side, as ratios to the older pipeline, and the peak
memory of ``pack --jobs 2`` on the 27 MB CentOS 8 BTF next to bpftool's on that kernel (the
whole process tree's resident set, sampled from /proc: pool workers included).

Usage: scripts/bench_pack.py [--corpus DIR] [--object OBJ]... [--objects-dir DIR] [--jobs N]
                             [--repeat 3] [--keep DIR] [--no-variants] [--no-memory] [--no-cold]

Real tool objects (``--objects-dir``): bcc's libbpf-tools, built outside the repository (never
commit them), with the tools' own ``x86/vmlinux.h`` and Debian's libbpf-dev headers::

    git -C bcc archive HEAD libbpf-tools | tar x -C /tmp/bcc     # iovisor/bcc 6d0a964c (2026-08)
    cd /tmp/bcc/libbpf-tools && mkdir -p /tmp/bcc-obj && for f in *.bpf.c; do
        clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I x86 -I . -idirafter \
            /usr/include/x86_64-linux-gnu -c "$f" -o "/tmp/bcc-obj/${f%.c}.o"; done

(55 of its 58 tools build so; bashreadline, gethostlatency and memleak need a newer
``bpf_tracing.h`` than Debian 12's libbpf 1.1.)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path("/work/shared/data/btfhub-corpus")
SAMPLE = REPO / "tests" / "data" / "btfhub-sample"
BUILD = REPO / "tests" / "bpf" / "build"
#: The test objects bpftool 7.1 minimizes on every kernel (not ambiguous nor fwd_typetag):
#: together about 80 CO-RE relocations, a mid-sized program.
OBJECTS = [
    BUILD / f"{name}.bpf.el.o"
    for name in ("loadable", "core_fields", "core_types", "ringbuf", "newfield")
]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@invalid",
}


#: CPU seconds (user + sys) of every finished child, by what ran it: "older" or "btfmirror".
CPU: dict[str, list[float]] = {"older": [], "btfmirror": []}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    subprocess.run(
        [str(a) for a in args],
        check=True,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


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
    started, cpu = time.perf_counter(), children_cpu()
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
    CPU["older"].append(children_cpu() - cpu)
    return time.perf_counter() - started, out.stat().st_size, failed


def btfmirror_cmd(cache: Path, *args: str | Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment running this working tree's CLI and library (not the
    ``btfmirror`` console script, which may be an editable install of another checkout)."""
    env = {
        **os.environ,
        "BTFHUB_CACHE": str(cache),
        "GIT_ALLOW_PROTOCOL": "file",
        "PYTHONPATH": str(REPO),
    }
    main = "import sys; from cli.app import main; sys.exit(main())"
    return [sys.executable, "-c", main, *map(str, args)], env


def btfmirror(cache: Path, *args: str | Path) -> float:
    cmd, env = btfmirror_cmd(cache, *args)
    started, cpu = time.perf_counter(), children_cpu()
    run(*cmd, env=env, cwd=REPO)
    CPU["btfmirror"].append(children_cpu() - cpu)
    return time.perf_counter() - started


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += map(int, f.read().split())
        except OSError:
            continue  # gone meanwhile
    return out


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    """Proportional set size: pages shared with a forked parent counted once over the tree."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_peak_rss(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, int]:
    """Peaks in KiB of the summed resident sets of ``cmd`` and its descendants, and of their
    summed proportional sets.

    Sampled every 2 ms from /proc; the RSS peak never below the largest single process's own
    (wait4's ru_maxrss: exact, but of one process). Summing RSS counts the pages a forked
    worker shares with its parent twice (an upper bound); PSS counts them once.
    """
    proc = subprocess.Popen(
        cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            pids = _tree(proc.pid)
            peak[0] = max(peak[0], sum(map(_rss_kib, pids)))
            peak[1] = max(peak[1], sum(map(_pss_kib, pids)))
            time.sleep(0.002)

    poller = threading.Thread(target=sample)
    poller.start()
    # Linux carries a process's peak RSS across fork+exec: start children while we are small.
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    poller.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed with {proc.returncode}")
    return max(peak[0], int(usage.ru_maxrss)), peak[1]


#: The largest kernel of the corpus and the sample: the one the memory figure is about.
CENTOS = ("centos", "8", "4.18.0-147.5.1.el8_1.aarch64")


def memory(
    cache: Path, corpus: Path, objects: list[Path], work: Path
) -> tuple[int, int, int, tuple[int, int]]:
    """Peak KiB of bpftool, of warm and unindexed ``pack --jobs 2`` on CentOS 8, and (RSS, PSS)
    of a warm ``pack --jobs 2`` of every kernel (two workers)."""
    distro, version, release = CENTOS
    source = next(corpus.glob(f"{distro}/{version}/*/{release}.btf.tar.xz"))
    scratch = work / "mem"
    scratch.mkdir(parents=True, exist_ok=True)
    run("tar", "xJf", source, "-C", scratch)
    raw = scratch / f"{release}.btf"
    ref, _ = tree_peak_rss(
        ["bpftool", "gen", "min_core_btf", str(raw), str(scratch / "o.btf"), *map(str, objects)]
    )
    every, env = btfmirror_cmd(cache, "pack", *objects, "-o", scratch / "m.tar.gz", "--jobs", "2")
    pool = tree_peak_rss(every, env)
    cmd = [*every, "--distro", distro, "--version", version]
    subprocess.run(cmd, env=env, cwd=REPO, check=True, capture_output=True)  # indexed
    warm, _ = tree_peak_rss(cmd, env)
    shutil.rmtree(cache / "index" / distro / version)
    cold, _ = tree_peak_rss(cmd, env)
    return ref, warm, cold, pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS if CORPUS.is_dir() else SAMPLE)
    parser.add_argument(
        "--object",
        type=Path,
        action="append",
        dest="objects",
        help="BPF object, repeatable (default: five test objects)",
    )
    parser.add_argument(
        "--objects-dir",
        type=Path,
        default=None,
        help="every *.o in DIR as the objects (see above for bcc's tools)",
    )
    parser.add_argument(
        "--no-variants", action="store_true", help="skip the other output formats (sizes only)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory figure")
    parser.add_argument(
        "--no-cold",
        action="store_true",
        help="skip the pack without index (the cold figure is sync + first pack)",
    )
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    opts = parser.parse_args()
    for tool in ("bpftool", "git", "tar"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    kernels = archives(opts.corpus)
    objects: list[Path] = opts.objects or OBJECTS
    if opts.objects_dir is not None:
        objects = sorted(opts.objects_dir.glob("*.o"))
        if not objects:
            sys.exit(f"{opts.objects_dir}: no *.o")
    work = opts.keep or Path(tempfile.mkdtemp(prefix="bench-pack-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        remote = build_remote(opts.corpus, kernels, work / "remote")
        size_in = sum(p.stat().st_size for p in kernels)
        names = " ".join(o.name for o in objects[:8]) + (" ..." if len(objects) > 8 else "")
        names = f"{len(objects)} ({names})"
        print(
            f"{len(kernels)} kernels from {opts.corpus} ({size_in / 2**20:.0f} MiB of "
            f".btf.tar.xz), objects {names}, {os.cpu_count()} CPUs"
        )
        olds = [
            older_pipeline(opts.corpus, kernels, objects, work / f"old{i}")
            for i in range(opts.repeat)
        ]
        old_s = statistics.median(o[0] for o in olds)
        _, old_bytes, refused = olds[0]
        print(
            f"older pipeline (tar xJf, bpftool gen min_core_btf, tar czf; median of "
            f"{opts.repeat}): {old_s:.2f} s, "
            f"{old_bytes} bytes" + (f", bpftool refused {refused} kernel(s)" if refused else "")
        )

        jobs = [] if opts.jobs is None else ["--jobs", str(opts.jobs)]
        cache, out = work / "cache", work / "btfmirror.tar.gz"
        sync_s = btfmirror(cache, "sync", "--remote", remote, "--all")
        pack_cold_s = btfmirror(cache, "pack", *objects, "-o", out, *jobs)
        cold_s = sync_s + pack_cold_s
        cold_pack_s = float("nan")
        if not opts.no_cold:
            shutil.rmtree(cache / "index")
            cold_pack_s = btfmirror(cache, "pack", *objects, "-o", out, *jobs)
        CPU["btfmirror"].clear()
        warm = [btfmirror(cache, "pack", *objects, "-o", out, *jobs) for _ in range(opts.repeat)]
        warm_s = statistics.median(warm)
        # CPU time (user + sys, every process) does not grow with other load on the machine.
        old_cpu, warm_cpu = statistics.median(CPU["older"]), statistics.median(CPU["btfmirror"])
        size = out.stat().st_size

        print(f"btfmirror cold (sync {sync_s:.2f} s + pack {pack_cold_s:.2f} s): {cold_s:.2f} s")
        print(f"btfmirror cold pack (synced, no index): {cold_pack_s:.2f} s")
        print(
            f"btfmirror warm pack (synced and indexed, median of {opts.repeat}): {warm_s:.2f} s, "
            f"{size} bytes"
        )
        variants = {}
        formats = [
            ("--hardlinks", ["--hardlinks"]),
            (".tar.xz", []),
            (".tar.xz --hardlinks", ["--hardlinks"]),
            (".tar.zst", []),
        ]
        for name, extra in [] if opts.no_variants else formats:
            target = work / (
                "v.tar.xz" if "xz" in name else "v.tar.zst" if "zst" in name else "v.tar.gz"
            )
            btfmirror(cache, "pack", *objects, "-o", target, *jobs, *extra)
            variants[name] = target.stat().st_size
        print("other outputs: " + ", ".join(f"{n} {b} bytes" for n, b in variants.items()))
        print("ratios to the older pipeline:")
        print(f"  warm speed-up      {old_s / warm_s:6.2f}x   (target >= 20x, bcc's tools >= 12x)")
        print(
            f"  warm CPU time      {old_cpu / warm_cpu:6.2f}x less  ({old_cpu:.2f} s vs "
            f"{warm_cpu:.2f} s)"
        )
        print(f"  cold time          {cold_s / old_s:6.2f}x   (target <= 1.5x)")
        print(f"  cold pack time     {cold_pack_s / old_s:6.2f}x")
        print(f"  archive size       {size / old_bytes:6.3f}x   (target <= 1.0x)")
        for name, variant in variants.items():
            print(f"  archive size {name:<20} {variant / old_bytes:6.3f}x")
        if not opts.no_memory and any(opts.corpus.glob(f"{CENTOS[0]}/{CENTOS[1]}/*/*.tar.xz")):
            ref, warm_kib, cold_kib, (rss, pss) = memory(cache, opts.corpus, objects, work)
            print(
                f"peak memory on {CENTOS[0]} {CENTOS[1]} {CENTOS[2]} (process tree's RSS): "
                f"bpftool {ref / 1024:.0f} MiB, pack --jobs 2 indexed {warm_kib / 1024:.0f} "
                f"MiB, no index {cold_kib / 1024:.0f} MiB; pack --jobs 2 of all {len(kernels)} "
                f"kernels: RSS {rss / 1024:.0f} MiB, PSS {pss / 1024:.0f} MiB"
            )
            print(f"  peak memory        {warm_kib / ref:6.2f}x   indexed (target <= 1.5x)")
            print(f"  peak memory        {cold_kib / ref:6.2f}x   no index")
    finally:
        if opts.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
