"""Shared test helpers: locating test data and requiring external tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DATA = TESTS / "data"
SAMPLE = DATA / "btfhub-sample"
VMLINUX = Path("/sys/kernel/btf/vmlinux")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` unless ``condition``; under CI=true a missing requirement fails."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


#: Where the tests find bpftool 7.8 (libbpf 1.8): ``scripts/fetch_bpftool78.sh`` prints a path.
BPFTOOL_78_ENV = "BTFMIRROR_BPFTOOL_78"


#: The marker a test carries when it runs each external tool (pyproject.toml's markers), so
#: that ``pytest -m "not needs_X"`` runs without the tool. Tools left out need no marker.
TOOL_MARKERS = {
    "bpftool": "needs_bpftool",
    "clang": "needs_clang",
    "go": "needs_go",
    "pahole": "needs_pahole",
    "dpkg-deb": "needs_dpkg",
    "rpmbuild": "needs_rpm",
    "rpm2archive": "needs_rpm",
    "unshare": "needs_unshare",
}


class _Running:
    """The test being run and the fixtures being set up (the root conftest's hooks keep it),
    so that using a tool can check the test's markers."""

    def __init__(self) -> None:
        self.item: pytest.Item | None = None
        #: fixtures being set up, outermost first ("" for a function-scoped one)
        self.fixtures: list[str] = []
        #: fixture name -> markers its setup needed: a cached (session) fixture sets up
        #: once, so every later test requesting it is checked against this at its setup
        self.fixture_needs: dict[str, set[str]] = {}


RUNNING = _Running()


def missing_markers(item: pytest.Item, markers: set[str]) -> list[str]:
    return sorted(m for m in markers if item.get_closest_marker(m) is None)


def uses(what: str, marker: str) -> None:
    """The running test uses ``what``: fail it unless it carries ``marker``."""
    cached = [f for f in RUNNING.fixtures if f]  # "": a function-scoped fixture
    for fixture in cached:
        RUNNING.fixture_needs.setdefault(fixture, set()).add(marker)
    item = RUNNING.item
    if item is not None and item.get_closest_marker(marker) is None:
        via = f" (through fixture {cached[0]})" if cached else ""
        pytest.fail(
            f"test {item.nodeid} uses {what}{via} but lacks @pytest.mark.{marker}", pytrace=False
        )


def uses_bpftool(path: str) -> None:
    """The marker of the bpftool at ``path``: 7.8 (``$BTFMIRROR_BPFTOOL_78``) or Debian's."""
    is_78 = path == os.environ.get(BPFTOOL_78_ENV) and bool(path)
    uses(f"bpftool ({path})", "needs_bpftool78" if is_78 else "needs_bpftool")


def need_tool(name: str) -> str:
    """Path of the external tool ``name``; skips (fails under CI) when it is missing. A test
    using a tool of :data:`TOOL_MARKERS` must carry its marker (it fails otherwise)."""
    marker = TOOL_MARKERS.get(name)
    if marker is not None:
        uses(name, marker)
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def need_bpftool78() -> str:
    """bpftool 7.8 from ``$BTFMIRROR_BPFTOOL_78``; skips (fails under CI) when it is unset."""
    uses("bpftool 7.8", "needs_bpftool78")
    path = os.environ.get(BPFTOOL_78_ENV, "")
    require(
        bool(path) and os.access(path, os.X_OK),
        f"${BPFTOOL_78_ENV} names no bpftool 7.8 (run scripts/fetch_bpftool78.sh)",
    )
    return path


def need_root_bpf() -> None:
    """The bpf() syscall needs root (or CAP_BPF); skip (fail under CI) without it."""
    uses("the bpf() syscall", "needs_bpf")
    require(hasattr(os, "geteuid") and os.geteuid() == 0, "loading BPF programs needs root")


def sample_archives() -> list[Path]:
    """Every kernel archive of the bundled sample, symlinked codename paths excluded."""
    # rglob does not descend into directory symlinks, so debian/bookworm -> 12 is not repeated.
    return sorted(SAMPLE.rglob("*.btf.tar.xz"))


def sample_id(path: Path) -> str:
    return str(path.relative_to(SAMPLE)).removesuffix(".btf.tar.xz")


def invoke_cli(*args: str) -> tuple[int, str, str]:
    """``btfmirror ARGS`` in this process: (exit code, stdout, stderr). An exception other
    than the exit itself fails the test: every expected failure is a typed, one-line error."""
    from typer.testing import CliRunner

    from cli._errors import ExitCode
    from cli.app import app

    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), f"untyped exception: {result.exception!r}"
    # The CLI turns an untyped exception into "internal error" and exit 4: still a bug here.
    assert result.exit_code != ExitCode.UNEXPECTED, f"untyped exception: {result.stderr}"
    return result.exit_code, result.stdout, result.stderr
