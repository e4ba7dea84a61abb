#!/usr/bin/env bash
# Sets up everything on a fresh Debian machine and runs the whole suite:
# system tools (as root, when missing), a virtualenv with the package and its dev extras,
# then ruff, mypy and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in bpftool clang llvm-objdump git chromium cc go; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing system tools (missing: ${missing[*]})"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            bpftool clang llvm libbpf-dev git chromium gcc zlib1g-dev golang-go >/dev/null
    else
        echo "==> not root: tests needing ${missing[*]} will be skipped"
    fi
fi

# shellcheck source=scripts/venv.sh
. scripts/venv.sh
install_btfmirror dev

echo "==> ruff"
.venv/bin/ruff check btfhub_mirror cli tests scripts
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
.venv/bin/python -m pytest "$@"
