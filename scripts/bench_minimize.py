#!/usr/bin/env python3
"""Benchmark: btfmirror's minimizer next to `bpftool gen min_core_btf`, as ratios.

    .venv/bin/python scripts/bench_minimize.py [--object OBJ] [--repeat N] [--cli-only]

First, one-off commands as a user runs them, each a whole process (interpreter start-up and
imports included): `btfmirror minimize K.btf.tar.xz -o OUT OBJ` on corpus kernels of different
sizes, next to `tar xJf K && bpftool gen min_core_btf K.btf OUT OBJ` (median of 3, runs
interleaved), once with an empty cache (the kernel never seen) and once more with the cache the
first run left (the second run on the same kernel); then `relocs --btf` and `check --btf` the
same way. Ratios are given in wall time and in CPU time (user+sys of the process and its
children, from wait4), the steadier figure on a shared machine.

Then, for each sample kernel: bpftool on the raw .btf (best of N runs, process included),
btfmirror cold (read the .btf.tar.xz, decompress, parse, minimize) and with the saved
per-kernel index (best of N), in one process as `pack` runs it. Then all test objects at once,
and the peak RSS of one process minimizing the 27 MB centos BTF, next to bpftool's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from btfhub_mirror.btf import read_btf_source
from btfhub_mirror.btf.index import open_indexed
from btfhub_mirror.btf.load import load_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import minimize

SAMPLE = REPO / "tests" / "data" / "btfhub-sample"
CORPUS = Path("/work/shared/data/btfhub-corpus")
#: Kernels of different sizes: a deduplicated 5.10 (3.5 MB BTF), a 4.19 that is not
#: deduplicated (btfhub's own file), a 6.1, and the largest real one (27 MB, centos 8).
CLI_KERNELS = (
    "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz",
    "bclinux/21.10U3/x86_64/4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64.btf.tar.xz",
    "debian/12/x86_64/6.1.0-50-amd64.btf.tar.xz",
    "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64.btf.tar.xz",
)
BUILD = REPO / "tests" / "bpf" / "build"
CENTOS = SAMPLE / "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64.btf.tar.xz"


def best_of(repeat: int, func: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def bpftool_run(bpftool: str, raw: Path, objs: list[Path], out: Path) -> bool:
    proc = subprocess.run(
        [bpftool, "gen", "min_core_btf", str(raw), str(out), *map(str, objs)],
        capture_output=True,
    )
    return proc.returncode == 0


def child_peak_rss(cmd: list[str]) -> int:
    """Peak RSS in KiB of ``cmd`` alone (wait4 gives that child's own rusage)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with {proc.returncode}")
    return int(usage.ru_maxrss)


def timed(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, ok: int = 0
) -> tuple[float, float]:
    """(wall, CPU) seconds of ``cmd`` as a whole process, children included (wait4: its own
    rusage; CPU time is the steadier figure on a shared machine). It must exit 0 (or ``ok``:
    check's verdict)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) not in (0, ok):
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime


def median3(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall and median CPU time."""
    return median3([w for w, _ in runs]), median3([c for _, c in runs])


def cli_section(bpftool: str, obj: Path, work: Path, runs: int) -> None:
    """One-off commands as whole processes: btfmirror (this checkout's code, as the console
    script runs it) next to tar + bpftool, the kernel never seen and seen once before."""
    btfmirror = [sys.executable, "-c", "from cli.app import main; main()"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kernels = [CORPUS / k for k in CLI_KERNELS if (CORPUS / k).exists()]
    if not kernels:
        kernels = sorted(SAMPLE.rglob("*.btf.tar.xz"))[:3]
    print(
        f"one-off commands, whole processes, {obj.name}; median of {runs}; wall ms, and the "
        "same ratios in CPU time (user+sys)"
    )
    print(
        f"{'kernel':40} {'tar+bt':>6} {'first':>6} {'second':>6} | {'first/':>6} {'second/':>7}"
        f" | {'cpu':>5} {'cpu':>5} | {'relocs':>6} {'relocs':>6} {'check':>6} {'check':>6}"
    )
    print(
        f"{'':40} {'':>6} {'':>6} {'':>6} | {'tar+bt':>6} {'tar+bt':>7} | {'first':>5} "
        f"{'secnd':>5} | {'first':>6} {'second':>6} {'first':>6} {'second':>6}"
    )
    for kernel in kernels:
        ref: list[tuple[float, float]] = []
        first: list[tuple[float, float]] = []
        second: list[tuple[float, float]] = []
        extra: dict[str, list[tuple[float, float]]] = {
            "relocs1": [],
            "relocs2": [],
            "check1": [],
            "check2": [],
        }
        for i in range(runs):
            unpacked = work / f"x{i}"
            unpacked.mkdir()
            member = kernel.name.removesuffix(".tar.xz")
            ref.append(
                timed(
                    [
                        "sh",
                        "-c",
                        'tar xJf "$1" && exec "$2" gen min_core_btf "$3" "$4" "$5"',
                        "sh",
                        str(kernel),
                        bpftool,
                        member,
                        str(work / "ref.btf"),
                        str(obj),
                    ],
                    cwd=unpacked,
                )
            )
            shutil.rmtree(unpacked)
            cache = work / f"cache{i}"  # never seen: an empty cache of its own
            run_env = {**env, "BTFHUB_CACHE": str(cache)}
            cmd = [*btfmirror, "minimize", str(kernel), "-o", str(work / "ours.btf"), str(obj)]
            first.append(timed(cmd, run_env))
            if (work / "ours.btf").read_bytes() != (work / "ref.btf").read_bytes():
                raise SystemExit(f"{kernel}: btfmirror's output differs from bpftool's")
            second.append(timed(cmd, run_env))
            if (work / "ours.btf").read_bytes() != (work / "ref.btf").read_bytes():
                raise SystemExit(f"{kernel}: the second run's output differs from bpftool's")
            for name, command in (
                ("relocs", ["relocs", str(obj), "--btf", str(kernel)]),
                ("check", ["check", str(obj), "--btf", str(kernel)]),
            ):
                fresh = {**env, "BTFHUB_CACHE": str(work / f"{name}{i}")}
                extra[f"{name}1"].append(timed([*btfmirror, *command], fresh, ok=1))
                extra[f"{name}2"].append(timed([*btfmirror, *command], fresh, ok=1))
            shutil.rmtree(cache, ignore_errors=True)
        (w_ref, c_ref), (w_first, c_first), (w_second, c_second) = map(
            medians, (ref, first, second)
        )
        rest = " ".join(f"{medians(v)[0] * 1e3:6.0f}" for v in extra.values())
        name = str(kernel.relative_to(kernel.parents[3])).removesuffix(".btf.tar.xz")
        print(
            f"{name[:40]:40} {w_ref * 1e3:6.0f} {w_first * 1e3:6.0f} {w_second * 1e3:6.0f} | "
            f"{w_first / w_ref:5.2f}x {w_second / w_ref:6.2f}x | {c_first / c_ref:4.2f}x "
            f"{c_second / c_ref:4.2f}x | {rest}"
        )
    t_help = medians([timed([*btfmirror, "--help"], env) for _ in range(runs)])[0]
    t_bare = medians([timed([sys.executable, "-c", "pass"]) for _ in range(runs)])[0]
    print(
        f"  start-up alone: `btfmirror --help` {t_help * 1e3:.0f} ms, "
        f"bare interpreter {t_bare * 1e3:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--object", type=Path, default=BUILD / "core_fields.bpf.el.o")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cli-only", action="store_true", help="only the one-off commands")
    args = parser.parse_args()
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        sys.exit("bpftool is needed as the reference (apt-get install bpftool)")
    kernels = sorted(SAMPLE.rglob("*.btf.tar.xz"))
    obj_paths = [args.object]
    all_objs = sorted(BUILD.glob("*.bpf.el.o"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "cli").mkdir()
        cli_section(bpftool, args.object, work / "cli", 3)
        if args.cli_only:
            return
        # First, while this process is small: Linux carries a process's peak RSS across
        # fork+exec, so a child started later would report at least our own peak.
        raw = work / "centos.btf"
        with raw.open("wb") as out:  # tar in a child, to keep this process small
            subprocess.run(["tar", "-xOJf", str(CENTOS)], stdout=out, check=True)
        ref_rss = child_peak_rss(
            [bpftool, "gen", "min_core_btf", str(raw), str(work / "o.btf"), str(args.object)]
        )
        ours_rss = child_peak_rss(
            [
                sys.executable,
                "-c",
                "import sys; sys.path.insert(0, sys.argv[1]);"
                "from btfhub_mirror.minimize import minimize_files;"
                "minimize_files(sys.argv[2], sys.argv[3:])",
                str(REPO),
                str(CENTOS),
                str(args.object),
            ]
        )
        print(
            f"\npeak RSS on the 27 MB centos BTF: bpftool {ref_rss / 1024:.0f} MB, "
            f"btfmirror {ours_rss / 1024:.0f} MB, ratio {ours_rss / ref_rss:.2f}"
        )

        print(f"object: {args.object.name}; times in ms (best of {args.repeat})")
        print(
            f"{'kernel':52} {'bpftool':>8} {'cold':>8} {'indexed':>8} {'cold/bt':>8} {'idx/bt':>7}"
        )
        sums = [0.0, 0.0, 0.0]
        for kernel in kernels:
            raw = work / "k.btf"
            raw.write_bytes(read_btf_source(kernel))
            out = work / "o.btf"
            ok = bpftool_run(bpftool, raw, obj_paths, out)
            t_ref = best_of(
                args.repeat,
                lambda raw=raw, out=out: bpftool_run(  # type: ignore[misc]
                    bpftool, raw, obj_paths, out
                ),
            )
            index_dir = work / "index"
            shutil.rmtree(index_dir, ignore_errors=True)

            def cold(kernel: Path = kernel) -> None:
                minimize(load_btf(kernel), [BpfObject.open(p) for p in obj_paths])

            def warm(kernel: Path = kernel, index_dir: Path = index_dir) -> None:
                btf, _ = open_indexed(kernel, index_dir=index_dir)
                minimize(btf, [BpfObject.open(p) for p in obj_paths])

            t_cold = best_of(max(1, args.repeat // 2), cold)
            warm()  # writes the index
            t_warm = best_of(args.repeat, warm)
            sums = [sums[0] + t_ref, sums[1] + t_cold, sums[2] + t_warm]
            name = str(kernel.relative_to(SAMPLE)).removesuffix(".btf.tar.xz")
            flag = "" if ok else " (bpftool failed)"
            print(
                f"{name[:52]:52} {t_ref * 1e3:8.1f} {t_cold * 1e3:8.0f} {t_warm * 1e3:8.1f} "
                f"{t_cold / t_ref:8.2f} {t_warm / t_ref:7.2f}{flag}"
            )
        print(
            f"{'total':52} {sums[0] * 1e3:8.1f} {sums[1] * 1e3:8.0f} {sums[2] * 1e3:8.1f} "
            f"{sums[1] / sums[0]:8.2f} {sums[2] / sums[0]:7.2f}"
        )

        print(f"\nall {len(all_objs)} objects at once, debian 12 x86_64 6.1.0-50 (ms):")
        kernel = SAMPLE / "debian/12/x86_64/6.1.0-50-amd64.btf.tar.xz"
        raw = work / "k.btf"
        raw.write_bytes(read_btf_source(kernel))
        out = work / "o.btf"
        t_ref = best_of(args.repeat, lambda: bpftool_run(bpftool, raw, all_objs, out))
        objects = [BpfObject.open(p) for p in all_objs]
        btf, _ = open_indexed(kernel, index_dir=work / "index")
        t_warm = best_of(args.repeat, lambda: minimize(btf, objects))
        print(
            f"  bpftool {t_ref * 1e3:.1f}  btfmirror (indexed) {t_warm * 1e3:.1f}  "
            f"ratio {t_warm / t_ref:.2f}"
        )


if __name__ == "__main__":
    main()
