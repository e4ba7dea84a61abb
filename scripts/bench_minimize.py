#!/usr/bin/env python3
"""Benchmark: btfmirror's minimizer next to `bpftool gen min_core_btf`, as ratios.

    .venv/bin/python scripts/bench_minimize.py [--object OBJ] [--repeat N]

For each sample kernel: bpftool on the raw .btf (best of N runs, process included), btfmirror
cold (read the .btf.tar.xz, decompress, parse, minimize) and with the saved per-kernel index
(best of N), in one process as `pack` runs it. Then all test objects at once, and the peak RSS
of one process minimizing the 27 MB centos BTF, next to bpftool's.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--object", type=Path, default=BUILD / "core_fields.bpf.el.o")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        sys.exit("bpftool is needed as the reference (apt-get install bpftool)")
    kernels = sorted(SAMPLE.rglob("*.btf.tar.xz"))
    obj_paths = [args.object]
    all_objs = sorted(BUILD.glob("*.bpf.el.o"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # First, while this process is small: Linux carries a process's peak RSS across
        # fork+exec, so a child started later would report at least our own peak.
        raw = work / "centos.btf"
        with raw.open("wb") as out:  # tar in a child, to keep this process small
            subprocess.run(["tar", "-xOJf", str(CENTOS)], stdout=out, check=True)
        ref_rss = child_peak_rss(
            [bpftool, "gen", "min_core_btf", str(raw), str(work / "o.btf"), str(args.object)]
        )
        ours_rss = child_peak_rss(
            [sys.executable, "-c",
             "import sys; sys.path.insert(0, sys.argv[1]);"
             "from btfhub_mirror.minimize import minimize_files;"
             "minimize_files(sys.argv[2], sys.argv[3:])",
             str(REPO), str(CENTOS), str(args.object)]
        )
        print(f"\npeak RSS on the 27 MB centos BTF: bpftool {ref_rss / 1024:.0f} MB, "
              f"btfmirror {ours_rss / 1024:.0f} MB, ratio {ours_rss / ref_rss:.2f}")

        print(f"object: {args.object.name}; times in ms (best of {args.repeat})")
        print(f"{'kernel':52} {'bpftool':>8} {'cold':>8} {'indexed':>8} {'cold/bt':>8} "
              f"{'idx/bt':>7}")
        sums = [0.0, 0.0, 0.0]
        for kernel in kernels:
            raw = work / "k.btf"
            raw.write_bytes(read_btf_source(kernel))
            out = work / "o.btf"
            ok = bpftool_run(bpftool, raw, obj_paths, out)
            t_ref = best_of(args.repeat, lambda raw=raw, out=out: bpftool_run(  # type: ignore[misc]
                bpftool, raw, obj_paths, out))
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
            print(f"{name[:52]:52} {t_ref * 1e3:8.1f} {t_cold * 1e3:8.0f} {t_warm * 1e3:8.1f} "
                  f"{t_cold / t_ref:8.2f} {t_warm / t_ref:7.2f}{flag}")
        print(f"{'total':52} {sums[0] * 1e3:8.1f} {sums[1] * 1e3:8.0f} {sums[2] * 1e3:8.1f} "
              f"{sums[1] / sums[0]:8.2f} {sums[2] / sums[0]:7.2f}")

        print(f"\nall {len(all_objs)} objects at once, debian 12 x86_64 6.1.0-50 (ms):")
        kernel = SAMPLE / "debian/12/x86_64/6.1.0-50-amd64.btf.tar.xz"
        raw = work / "k.btf"
        raw.write_bytes(read_btf_source(kernel))
        out = work / "o.btf"
        t_ref = best_of(args.repeat, lambda: bpftool_run(bpftool, raw, all_objs, out))
        objects = [BpfObject.open(p) for p in all_objs]
        btf, _ = open_indexed(kernel, index_dir=work / "index")
        t_warm = best_of(args.repeat, lambda: minimize(btf, objects))
        print(f"  bpftool {t_ref * 1e3:.1f}  btfmirror (indexed) {t_warm * 1e3:.1f}  "
              f"ratio {t_warm / t_ref:.2f}")



if __name__ == "__main__":
    main()
