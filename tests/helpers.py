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


def need_tool(name: str) -> str:
    """Path of the external tool ``name``; skips (fails under CI) when it is missing."""
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


#: Where the tests find bpftool 7.8 (libbpf 1.8): ``scripts/fetch_bpftool78.sh`` prints a path.
BPFTOOL_78_ENV = "BTFMIRROR_BPFTOOL_78"


def need_bpftool78() -> str:
    """bpftool 7.8 from ``$BTFMIRROR_BPFTOOL_78``; skips (fails under CI) when it is unset."""
    path = os.environ.get(BPFTOOL_78_ENV, "")
    require(
        bool(path) and os.access(path, os.X_OK),
        f"${BPFTOOL_78_ENV} names no bpftool 7.8 (run scripts/fetch_bpftool78.sh)",
    )
    return path


def need_root_bpf() -> None:
    """The bpf() syscall needs root (or CAP_BPF); skip (fail under CI) without it."""
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
