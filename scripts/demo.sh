#!/usr/bin/env bash
# The main job, offline, on bundled data: a local btfhub-shaped git remote (a few kernels of
# tests/data/btfhub-sample plus this machine's /sys/kernel/btf/vmlinux when present), then
# `btfmirror sync`, `btfmirror pack` of a bundled BPF object, what was packed, and the BTF that
# `btfmirror select` picks for this system. Everything goes to $DEMO_DIR
# (default: ${TMPDIR:-/tmp}/btfmirror-demo); the real cache is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in git tar python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "==> installing $tool"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
        else
            echo "the demo needs $tool (apt-get install $tool)" >&2
            exit 1
        fi
    fi
done

# shellcheck source=scripts/venv.sh
. scripts/venv.sh
install_btfmirror

demo=${DEMO_DIR:-${TMPDIR:-/tmp}/btfmirror-demo}
rm -rf "$demo"
mkdir -p "$demo"
export BTFHUB_CACHE="$demo/cache" GIT_ALLOW_PROTOCOL=file
unset SOURCE_DATE_EPOCH
btfmirror=.venv/bin/btfmirror
object=tests/bpf/build/loadable.bpf.el.o

echo "==> building a local archive remote in $demo/remote"
running=$(.venv/bin/python scripts/demo_remote.py "$demo/remote")
[ -n "$running" ] && echo "    with this machine's kernel as $running"

echo "==> btfmirror sync --remote file://$demo/remote/.git --all"
"$btfmirror" sync --remote "file://$demo/remote/.git" --all

echo "==> btfmirror pack $object -j package.json -o $demo/loadable.tar.gz"
printf '{"name": "loadable", "version": "1.0.0"}\n' >"$demo/package.json"
"$btfmirror" pack "$object" -j "$demo/package.json" -o "$demo/loadable.tar.gz"

echo "==> what the package holds"
tar -tvzf "$demo/loadable.tar.gz"

echo "==> btfmirror select $demo/loadable.tar.gz"
"$btfmirror" select "$demo/loadable.tar.gz"
echo "==> the same for this system's identity, as a kernel without BTF would ask"
"$btfmirror" select "$demo/loadable.tar.gz" --os-release /etc/os-release --machine "$(uname -m)" \
    --release "$(uname -r)" --extract-to "$demo/selected" || echo "    (no BTF for this system in the package)"

# What to try next, on the same cache (two lines, copy-pasteable).
echo "==> try next: BTFHUB_CACHE=$demo/cache $btfmirror check $object --html $demo/check.html"
echo "==> or real kernels (needs the network): $btfmirror sync -d ubuntu -V 20.04 -a x86_64 -k '5.4.*'"
