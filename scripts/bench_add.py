#!/usr/bin/env python3
"""Benchmark ``btfmirror add`` of a real Debian kernel image package against the shell route.

The package is ``linux-image-<release>`` from Debian's archive (``apt-get download``, cached
under /tmp/btfmirror-bench-add); without network or apt, ``--deb`` names one, or one is built
with dpkg-deb around a bzImage assembled from a sample kernel's BTF inside a vmlinux ELF
(``--synthetic``).

Both routes go from the .deb to a committed-or-written ``<release>.btf.tar.xz``:

- btfmirror: ``btfmirror add PKG --into ARCHIVE --distro debian --version 12`` (from this
  checkout's sources), which reads the package, the bzImage payload and the ELF, checks the
  BTF, writes the archive and commits it;
- shell: ``dpkg -x``, the idea of the kernel's scripts/extract-vmlinux (find the compressed
  payload's magic, decompress from there), ``llvm-objcopy --dump-section .BTF=...``,
  ``tar cJf``.

Median of ``--runs`` (default 3) wall times each, and the ratio. Also says whether both routes
produced the same BTF.

Usage: scripts/bench_add.py [--package linux-image-6.1.0-50-cloud-amd64] [--deb FILE]
                            [--synthetic] [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path("/tmp/btfmirror-bench-add")
DEFAULT_PACKAGE = "linux-image-6.1.0-50-cloud-amd64"
SAMPLE = REPO / "tests/data/btfhub-sample/debian/12/x86_64/6.1.0-50-amd64.btf.tar.xz"

#: The shell route: dpkg -x, extract-vmlinux's magic search + decompression, llvm-objcopy, tar.
SHELL_ROUTE = r"""
set -eu
deb=$1 work=$2
dpkg -x "$deb" "$work/x"
img=$(ls "$work"/x/boot/vmlinuz-* | head -n1)
release=${img##*/vmlinuz-}
# scripts/extract-vmlinux: try each compressor at the first offset of its magic.
try() {
    pos=$(LC_ALL=C grep -obUaP "$1" "$img" | head -n1 | cut -d: -f1)
    [ -n "$pos" ] || return 1
    tail -c+$((pos + 1)) "$img" | $2 > "$work/vmlinux" 2>/dev/null || true
    [ "$(head -c4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]
}
try '\x1f\x8b\x08' 'gunzip' || try '\xfd7zXZ\x00' 'unxz' || try '\x28\xb5\x2f\xfd' 'zstd -d' \
    || try '\x02\x21\x4c\x18' 'lz4 -d' || { echo "no vmlinux in $img" >&2; exit 1; }
llvm-objcopy --dump-section ".BTF=$work/$release.btf" "$work/vmlinux" "$work/vmlinux.junk"
tar -cJf "$work/$release.btf.tar.xz" -C "$work" "$release.btf"
"""


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, check=True, capture_output=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def download(package: str) -> Path | None:
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = sorted(CACHE.glob(f"{package}_*.deb"))
    if cached:
        return cached[-1]
    if shutil.which("apt-get") is None:
        return None
    proc = subprocess.run(["apt-get", "download", package], cwd=CACHE, capture_output=True)
    cached = sorted(CACHE.glob(f"{package}_*.deb"))
    if proc.returncode != 0 or not cached:
        print(f"apt-get download {package} failed: {proc.stderr.decode().strip()[-200:]}")
        return None
    return cached[-1]


def synthetic_deb(tmp: Path) -> Path:
    """A linux-image .deb around a gzip bzImage whose vmlinux ELF carries a sample's BTF."""
    release = "6.1.0-50-amd64"
    btf = tmp / f"{release}.btf"
    btf.write_bytes(run(["tar", "-xJOf", str(SAMPLE)]).stdout)
    (tmp / "b.c").write_text(
        f'const char linux_banner[] = "Linux version {release} (bench) #1 SMP\\n";\n'
    )
    run(["gcc", "-c", "-o", str(tmp / "b.o"), str(tmp / "b.c")])
    run(
        [
            "llvm-objcopy",
            f"--add-section=.BTF={btf}",
            "--set-section-flags=.BTF=alloc,readonly",
            str(tmp / "b.o"),
            str(tmp / "vmlinux"),
        ]
    )
    payload = gzip.compress((tmp / "vmlinux").read_bytes(), mtime=0)
    setup = bytearray(3 * 512)
    setup[0x1F1] = 2
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020F)
    struct.pack_into("<II", setup, 0x248, 4096, len(payload))
    tree = tmp / "deb"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "boot").mkdir()
    (tree / "boot" / f"vmlinuz-{release}").write_bytes(bytes(setup) + b"\x90" * 4096 + payload)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: linux-image-{release}\nVersion: 6.1.158-1\nArchitecture: amd64\n"
        "Maintainer: bench <bench@invalid>\nDescription: bench kernel\n bench\n"
    )
    out = tmp / f"linux-image-{release}_bench_amd64.deb"
    run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(out)])
    return out


def time_btfmirror(deb: Path, tmp: Path, n: int) -> tuple[float, Path]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GIT_CONFIG_NOSYSTEM": "1"}
    cli = [sys.executable, "-c", "from cli.app import main; main()"]
    archive = tmp / f"archive-{n}"
    run([*cli, "archive", "init", str(archive)], env=env)
    start = time.perf_counter()
    run(
        [*cli, "add", str(deb), "--into", str(archive), "--distro", "debian", "--version", "12"],
        env=env,
    )
    elapsed = time.perf_counter() - start
    (made,) = archive.rglob("*.btf.tar.xz")
    return elapsed, made


def time_shell(deb: Path, tmp: Path, n: int) -> tuple[float, Path]:
    work = tmp / f"shell-{n}"
    work.mkdir()
    start = time.perf_counter()
    run(["sh", "-c", SHELL_ROUTE, "sh", str(deb), str(work)])
    elapsed = time.perf_counter() - start
    (made,) = work.glob("*.btf.tar.xz")
    return elapsed, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", default=DEFAULT_PACKAGE)
    parser.add_argument("--deb", type=Path)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    missing = [
        t
        for t in ("dpkg", "dpkg-deb", "llvm-objcopy", "tar", "xz", "lz4", "git")
        if shutil.which(t) is None
    ]
    if missing:
        sys.exit(f"missing tools: {' '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="bench-add-") as tmp_name:
        tmp = Path(tmp_name)
        deb = args.deb or (None if args.synthetic else download(args.package))
        if deb is None:
            deb = synthetic_deb(tmp)
            print("package: synthetic (dpkg-deb around a gzip bzImage of the sample's BTF)")
        print(f"package: {deb.name} ({deb.stat().st_size / 1e6:.1f} MB)")
        ours, theirs = [], []
        for n in range(args.runs):
            t_ours, made_ours = time_btfmirror(deb, tmp, n)
            t_shell, made_shell = time_shell(deb, tmp, n)
            ours.append(t_ours)
            theirs.append(t_shell)
        same = (
            run(["tar", "-xJOf", str(made_ours)]).stdout
            == run(["tar", "-xJOf", str(made_shell)]).stdout
        )
        print(f"{'route':<34}{'median s':>10}{'archive bytes':>16}")
        print(
            f"{'btfmirror add (checked, committed)':<34}{statistics.median(ours):>10.2f}"
            f"{made_ours.stat().st_size:>16,}"
        )
        print(
            f"{'dpkg -x | extract | objcopy | tar':<34}{statistics.median(theirs):>10.2f}"
            f"{made_shell.stat().st_size:>16,}"
        )
        ratio = statistics.median(ours) / statistics.median(theirs)
        print(f"ratio btfmirror/shell: {ratio:.2f}x (runs: {args.runs}); same BTF: {same}")


if __name__ == "__main__":
    main()
