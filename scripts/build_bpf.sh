#!/usr/bin/env bash
# Builds the BPF test objects: every tests/bpf/*.bpf.c, for little (bpfel) and big (bpfeb)
# endian, with -g -O2, into OUT (default tests/bpf/build) as <name>.bpf.el.o / <name>.bpf.eb.o,
# and records the compiler in OUT/VERSION. The objects are committed: tests never need clang.
#   scripts/build_bpf.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-clang}
SRC=tests/bpf
OUT=${1:-$SRC/build}
mkdir -p "$OUT"

# __TARGET_ARCH_x86 only picks the struct pt_regs field names bpf_tracing.h uses; the
# programs relocate them (CO-RE) like every other kernel struct.
CFLAGS=(-g -O2 -Wall -Werror -D__TARGET_ARCH_x86 -I"$SRC")

for src in "$SRC"/*.bpf.c; do
    name=$(basename "$src" .c)
    for endian in el eb; do
        # -fdebug-prefix-map keeps the build directory out of the objects (reproducible).
        "$CLANG" "${CFLAGS[@]}" -target "bpf$endian" -fdebug-prefix-map="$PWD"=. \
            -c "$src" -o "$OUT/$name.$endian.o"
    done
done
"$CLANG" --version | head -n 1 > "$OUT/VERSION"
