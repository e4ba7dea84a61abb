# Sourced by scripts/test.sh and scripts/demo.sh (from the repository root):
#   install_btfmirror [EXTRA]
# makes .venv (with $PYTHON, default python3) and installs btfmirror into it as an editable
# install (`pip install -e .`): edits under btfhub_mirror/ and cli/ take effect without
# reinstalling. Only what .venv lacks is downloaded, and the first run says what: the build
# backend (hatchling, editables) and btfmirror's dependencies. btfmirror itself is then always
# installed with --no-index --no-build-isolation from what .venv holds, so once one run has
# been online every later run works without any network.
install_btfmirror() {
    local extra="${1:-}" spec="."
    [ -n "$extra" ] && spec=".[$extra]"
    if [ ! -x .venv/bin/python ]; then
        # Debian's python3 ships venv and ensurepip separately (python3-venv).
        if ! "${PYTHON:-python3}" -c "import ensurepip, venv" >/dev/null 2>&1 \
            && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "==> installing python3-venv (apt-get: needs the network)"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        fi
        echo "==> creating .venv"
        "${PYTHON:-python3}" -m venv .venv
    fi
    # An editable install stays current through source edits; only the build configuration
    # (dependencies, entry points, the hook) calls for reinstalling. Skipping saves ~2 s a run.
    local stamp=".venv/.btfmirror-editable${extra:+-$extra}" config
    config="$(cat pyproject.toml hatch_build.py | sha256sum) $PWD"
    if [ -x .venv/bin/btfmirror ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$config" ]; then
        echo "==> btfmirror${extra:+ with $extra extras}: the editable install in .venv is current"
        return 0
    fi
    local pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
    local phase what missing
    # Two rounds: what an editable build needs is asked of the backend, so it comes first.
    for phase in build run; do
        missing=$(.venv/bin/python scripts/missing_requirements.py "$phase" ${extra:+"$extra"}) || return 1
        [ -n "$missing" ] || continue
        what="btfmirror's dependencies${extra:+ and $extra extras}"
        [ "$phase" = build ] && what="the build backend"
        echo "==> downloading $what into .venv (needs the network; later runs do not):"
        sed 's/^/      /' <<<"$missing"
        local requirements=()
        mapfile -t requirements <<<"$missing"
        if ! "${pip[@]}" "${requirements[@]}"; then
            echo "cannot download $what: connect to the network (or set PIP_INDEX_URL) and rerun" >&2
            return 1
        fi
    done
    echo "==> installing btfmirror${extra:+ with $extra extras} (editable, offline: from .venv only)"
    rm -f "$stamp"
    if ! "${pip[@]}" --no-index --no-build-isolation -e "$spec"; then
        echo "cannot install btfmirror from .venv alone (pip's error above)" >&2
        return 1
    fi
    echo "$config" >"$stamp"
}
