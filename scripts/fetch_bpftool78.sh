#!/usr/bin/env bash
# Fetch Debian sid's bpftool (7.8: libbpf 1.8, the 32-byte BTF header) into a private directory
# and print the path of a wrapper that runs it; the tests find it via $BTFMIRROR_BPFTOOL_78.
#
#   export BTFMIRROR_BPFTOOL_78="$(bash scripts/fetch_bpftool78.sh [DIR])"
#
# Nothing is installed: apt gets a second, private sources list and state directory for sid
# (the machine's own lists stay as they are), `apt-get download` fetches bpftool and the
# libraries it needs at sid's versions (glibc 2.38+, libelf, zlib, ...), and `dpkg-deb -x`
# unpacks them under DIR. The wrapper starts bpftool with sid's own dynamic loader and
# libraries, so it runs on an older glibc (bookworm's) too. DIR defaults to
# ${TMPDIR:-/tmp}/btfmirror-bpftool78; never commit what lands there.
set -euo pipefail

dir="${1:-${TMPDIR:-/tmp}/btfmirror-bpftool78}"
wrapper="$dir/bpftool"
if [ -x "$wrapper" ] && "$wrapper" version >/dev/null 2>&1; then
    echo "$wrapper"
    exit 0
fi
command -v apt-get >/dev/null || { echo "fetch_bpftool78: needs apt-get (Debian)" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || { echo "fetch_bpftool78: $keyring missing" >&2; exit 1; }

apt_dir="$dir/apt"
mkdir -p "$apt_dir/etc" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dir/debs"
cat >"$apt_dir/etc/sid.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: $keyring
SOURCES
: >"$apt_dir/etc/none.list"
apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/etc/none.list"
    -o "Dir::Etc::sourceparts=$apt_dir/etc"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Sandbox::User=root"
)
apt-get "${apt_opts[@]}" update -qq >&2
# bpftool's Depends (libc6, libcap2, libelf1t64, libssl3t64, zlib1g) plus libelf's libzstd1.
(cd "$dir/debs" && apt-get "${apt_opts[@]}" download \
    bpftool libc6 libcap2 libelf1t64 libssl3t64 zlib1g libzstd1 >&2)
root="$dir/root"
rm -rf "$root"
mkdir -p "$root"
for deb in "$dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
libdir="$root/usr/lib/x86_64-linux-gnu"
case "$(dpkg --print-architecture)" in
    amd64) loader="$libdir/ld-linux-x86-64.so.2" ;;
    arm64) libdir="$root/usr/lib/aarch64-linux-gnu"; loader="$libdir/ld-linux-aarch64.so.1" ;;
    *) echo "fetch_bpftool78: unsupported architecture $(dpkg --print-architecture)" >&2; exit 1 ;;
esac
cat >"$wrapper" <<WRAPPER
#!/bin/sh
exec "$loader" --library-path "$libdir" "$root/usr/sbin/bpftool" "\$@"
WRAPPER
chmod +x "$wrapper"
"$wrapper" version >&2
echo "$wrapper"
