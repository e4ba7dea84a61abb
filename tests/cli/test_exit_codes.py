"""Exit codes: one table (``cli._errors.ExitCode``), each code distinct and produced for real."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from btfhub_mirror import errors
from cli._errors import DEBUG_ENV, ExitCode, handle_errors
from tests.helpers import REPO, SAMPLE, invoke_cli

BUILD = REPO / "tests" / "bpf" / "build"
DEBIAN11 = SAMPLE / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"
CENTOS = SAMPLE / "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64.btf.tar.xz"


def _error_classes(cls: type[errors.BtfmirrorError]) -> list[type[errors.BtfmirrorError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _error_classes(sub))]


def test_every_library_error_code_is_in_the_table() -> None:
    codes = {c.__name__: c.exit_code for c in _error_classes(errors.BtfmirrorError)}
    assert all(code in set(ExitCode) for code in codes.values()), codes
    # The codes CI tells apart: a failing check, a verify miss, a generic error, a bug.
    distinct = (
        ExitCode.ERROR,
        ExitCode.UNEXPECTED,
        ExitCode.CHECK_FAILED,
        ExitCode.VERIFY_FAILED,
        ExitCode.NO_BTF,
    )
    assert len({int(c) for c in distinct}) == len(distinct)
    assert codes["VerifyError"] == ExitCode.VERIFY_FAILED != ExitCode.ERROR


def test_check_failing_kernel_is_not_a_generic_error() -> None:
    newfield = str(BUILD / "newfield.bpf.el.o")
    code, out, err = invoke_cli("check", newfield, "--btf", str(DEBIAN11), "--json")
    assert code == ExitCode.CHECK_FAILED == 6, err
    assert json.loads(out)["failed"] is True
    code, _, err = invoke_cli("check", newfield, "--btf", str(SAMPLE / "nope.btf"))
    assert code == ExitCode.NOT_FOUND and err.splitlines()[-1].startswith("error: ")
    code, _, err = invoke_cli("check", str(DEBIAN11), "--btf", str(DEBIAN11))  # not an object
    assert code == ExitCode.ERROR == 1 and err.splitlines()[-1].startswith("error: ")


def test_relocation_failure_records_carry_their_code() -> None:
    obj = str(BUILD / "ambiguous.bpf.el.o")
    code, out, err = invoke_cli("relocs", "--json", "--btf", str(CENTOS), obj)
    assert code == 0, err
    rows = json.loads(out)["relocations"]
    [failed] = [r for r in rows if r["status"] == "error"]
    assert failed["code"] == "decision-ambiguity"
    assert failed["reason"].startswith(
        "tracepoint/syscalls/sys_enter_getpid: relo #0: relocation decision ambiguity: "
    )
    assert all(r["code"] is None for r in rows if r is not failed)
    code, out, err = invoke_cli("check", obj, "--btf", str(CENTOS), "--json")
    assert code == ExitCode.CHECK_FAILED, err
    [kernel] = json.loads(out)["kernels"]
    [error] = [r for r in kernel["relocations"] if r["state"] == "error"]
    assert error["code"] == "decision-ambiguity"
    assert error["detail"].startswith("relocation decision ambiguity: ")  # no section, no #N
    assert kernel["reasons"][0].startswith("tracepoint/syscalls/sys_enter_getpid #0 ")
    assert "libbpf error: relocation decision ambiguity: " in kernel["reasons"][0]


def _buggy_app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @handle_errors
    def boom() -> None:
        {}["missing"]  # a real bug: an untyped KeyError

    return app


def test_an_untyped_exception_is_one_internal_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    result = CliRunner().invoke(_buggy_app(), [])
    assert result.exit_code == ExitCode.UNEXPECTED == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error: KeyError: 'missing'; ")
    assert "please report" in lines[0] and f"{DEBUG_ENV}=1" in lines[0]
    assert "Traceback" not in result.stderr


def test_the_traceback_is_shown_only_under_the_debug_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DEBUG_ENV, "1")
    result = CliRunner().invoke(_buggy_app(), [])
    assert result.exit_code == ExitCode.UNEXPECTED
    assert "Traceback (most recent call last)" in result.stderr and "KeyError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("internal error: KeyError: ")


def test_typer_exits_and_usage_errors_keep_their_codes() -> None:
    app = typer.Typer()

    @app.command()
    @handle_errors
    def done(code: int) -> None:
        raise typer.Exit(code)  # a RuntimeError: must not become an internal error

    assert CliRunner().invoke(app, ["3"]).exit_code == 3
    assert CliRunner().invoke(app, ["x"]).exit_code == ExitCode.USAGE
