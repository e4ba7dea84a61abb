# Sourced by scripts/test.sh and scripts/demo.sh (from the repository root):
#   install_btfmirror [EXTRAS]
# makes .venv (with $PYTHON, default python3) and installs btfmirror into it. What .venv already
# holds is used first, without any index, so a machine that ran this once works offline.
install_btfmirror() {
    local spec="."
    [ -n "${1:-}" ] && spec=".[$1]"
    if [ ! -x .venv/bin/python ]; then
        # Debian's python3 ships venv and ensurepip separately (python3-venv).
        if ! "${PYTHON:-python3}" -c "import ensurepip, venv" >/dev/null 2>&1 \
            && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "==> installing python3-venv"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        fi
        echo "==> creating .venv"
        "${PYTHON:-python3}" -m venv .venv
    fi
    echo "==> installing btfmirror${1:+ with $1 extras}"
    local pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
    if ! "${pip[@]}" --no-index --no-build-isolation "$spec" >/dev/null 2>&1; then
        "${pip[@]}" "$spec"
    fi
}
