#!/usr/bin/env python3
"""Benchmark: open + index and full dump of every sample kernel BTF, next to bpftool.

    .venv/bin/python scripts/bench_btf.py [--repeat N] [PATH...]

For each kernel prints: raw size, types, btfmirror open+index (ms), btfmirror dump (ms),
`bpftool btf dump file` (ms), and the dump ratio btfmirror/bpftool. Times are the best of N runs.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from btfhub_mirror.btf import parse_btf, read_btf_source
from btfhub_mirror.btf.dump import dump_raw

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "btfhub-sample"


def best_of(repeat: int, func: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def dump_to_devnull(raw: bytes) -> None:
    btf = parse_btf(raw)
    with open(os.devnull, "w") as out:
        for line in dump_raw(btf):
            out.write(line)
            out.write("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = args.paths or sorted(SAMPLE.rglob("*.btf.tar.xz"))
    vmlinux = Path("/sys/kernel/btf/vmlinux")
    if not args.paths and vmlinux.exists():
        paths.append(vmlinux)
    bpftool = shutil.which("bpftool")
    print(
        f"{'kernel':58} {'MB':>5} {'types':>7} {'open ms':>8} {'dump ms':>8} "
        f"{'bpftool ms':>10} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            raw = read_btf_source(path)
            raw_path = Path(tmp) / "k.btf"
            raw_path.write_bytes(raw)
            types = parse_btf(raw).type_count - 1
            t_open = best_of(args.repeat, lambda raw=raw: parse_btf(raw))  # type: ignore[misc]
            t_dump = best_of(args.repeat, lambda raw=raw: dump_to_devnull(raw))  # type: ignore[misc]
            if bpftool:
                command = [bpftool, "btf", "dump", "file", str(raw_path)]
                t_ref = best_of(
                    args.repeat,
                    lambda command=command: subprocess.run(  # type: ignore[misc]
                        command, stdout=subprocess.DEVNULL, check=True
                    ),
                )
                ref, ratio = f"{t_ref * 1000:10.0f}", f"{t_dump / t_ref:6.2f}"
            else:
                ref, ratio = f"{'n/a':>10}", f"{'n/a':>6}"
            name = str(path.relative_to(SAMPLE)) if path.is_relative_to(SAMPLE) else str(path)
            print(
                f"{name.removesuffix('.btf.tar.xz'):58} {len(raw) / 1e6:5.1f} {types:7} "
                f"{t_open * 1000:8.1f} {t_dump * 1000:8.0f} {ref} {ratio}"
            )


if __name__ == "__main__":
    main()
