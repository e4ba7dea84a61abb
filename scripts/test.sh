#!/usr/bin/env bash
# Sets up everything on a fresh Debian machine and runs the whole suite:
# system tools (as root, when missing), a virtualenv with the package and its dev extras,
# then ruff, mypy and pytest. Extra arguments go to pytest; `--setup-only` (first) stops after the
# setup. Only the first run needs the network: later ones install from what .venv holds.
#
# `--quick` (first): the fast local loop. No setup at all (no system tools, no bpftool 7.8, no
# network, no ruff or mypy): pytest with .venv's python (or $PYTHON) on the tests not marked
# `slow` (the oracles over every sample kernel, the builds of packages and readers); tests
# needing a tool that is missing skip. CI (.ci/run) runs everything.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --quick ]; then
    shift
    python="${PYTHON:-.venv/bin/python}"
    if [ ! -x "$python" ] && ! command -v "$python" >/dev/null 2>&1; then
        echo "no $python: run bash scripts/test.sh --setup-only once (or set PYTHON)" >&2
        exit 1
    fi
    echo "==> pytest -m 'not slow' (quick: no setup, no ruff/mypy; CI runs everything)"
    exec "$python" -m pytest -q -m "not slow" "$@"
fi
setup_only=
if [ "${1:-}" = --setup-only ]; then
    setup_only=1
    shift
fi

missing=()
for tool in bpftool clang llvm-objdump llvm-objcopy git chromium cc go tmux pahole rpmbuild lz4; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing system tools (missing: ${missing[*]})"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            bpftool clang llvm libbpf-dev git chromium gcc zlib1g-dev golang-go tmux dwarves rpm lz4 >/dev/null
    else
        echo "==> not root: tests needing ${missing[*]} will be skipped"
    fi
fi

# bpftool 7.8 (Debian sid, libbpf 1.8: the 32-byte BTF header) for the --btf-header 32 reference
# tests, unpacked under /tmp and never installed; without it they skip (fail under CI=true).
if [ -z "${BTFMIRROR_BPFTOOL_78:-}" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> fetching bpftool 7.8 (scripts/fetch_bpftool78.sh)"
    if BTFMIRROR_BPFTOOL_78="$(bash scripts/fetch_bpftool78.sh)"; then
        export BTFMIRROR_BPFTOOL_78
    else
        echo "==> could not fetch bpftool 7.8: its tests will be skipped"
        unset BTFMIRROR_BPFTOOL_78
    fi
fi

# shellcheck source=scripts/venv.sh
. scripts/venv.sh
install_btfmirror dev
[ -z "$setup_only" ] || exit 0

echo "==> ruff"
.venv/bin/ruff check btfhub_mirror cli tests scripts hatch_build.py
.venv/bin/ruff format --check btfhub_mirror cli tests scripts hatch_build.py
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
.venv/bin/python -m pytest "$@"
