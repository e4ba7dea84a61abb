"""``btfmirror check`` through the CLI: the catalog and a real git origin, --btf files, JSON,
the detail view, exit statuses and the saved per-kernel index."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from btfhub_mirror.mirror import Store
from cli._errors import ExitCode
from cli.app import app
from tests.helpers import REPO, SAMPLE
from tests.mirror.gitfixtures import Origin

runner = CliRunner()
NEWFIELD = str(REPO / "tests" / "bpf" / "build" / "newfield.bpf.el.o")
RINGBUF = str(REPO / "tests" / "bpf" / "build" / "ringbuf.bpf.el.o")
DEBIAN11 = SAMPLE / "debian" / "11" / "x86_64" / "5.10.0-30-amd64.btf.tar.xz"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_catalog_kernels_fetched_indexed_and_gated(origin: Origin) -> None:
    code, _, err = invoke("sync", "-r", origin.url)
    assert code == 0, err
    # Debian 11 lacks task_struct.__state (5.14+): the unguarded read fails there.
    code, out, err = invoke("check", NEWFIELD, "-d", "debian", "-a", "x86_64", "--json")
    assert code == ExitCode.CHECK_FAILED, err
    report = json.loads(out)
    verdicts = {k["kernel"]["release"]: k["verdict"] for k in report["kernels"]}
    assert verdicts == {
        "5.10.0-30-amd64": "fails",
        "6.1.0-47-amd64": "ok",
        "6.1.0-50-amd64": "ok",
        "6.1.0-50-cloud-amd64": "ok",
    }
    assert report["failed"] and report["verdicts"] == {"ok": 3, "degraded": 0, "fails": 1}
    assert not any(k["index_reused"] for k in report["kernels"])
    store = Store.default()
    indexes = sorted(p.relative_to(store.root) for p in (store.root / "index").rglob("*.btfmidx"))
    assert [p.parent.as_posix() for p in indexes] == ["index/debian/11/x86_64"] + [
        "index/debian/12/x86_64"
    ] * 3
    assert not list(store.archive_dir.rglob("*.btfmidx"))  # the archive stays a btfhub layout

    # Second run: the same kernels through their saved index; only the 6.1 ones: exit 0.
    code, out, _ = invoke(
        "check", NEWFIELD, "-d", "debian", "-k", ">=6.1,<6.2", "-a", "amd64", "--json"
    )
    assert code == 0
    again = json.loads(out)
    assert len(again["kernels"]) == 3 and all(k["index_reused"] for k in again["kernels"])
    assert all(k["verdict"] == "ok" for k in again["kernels"])

    # No selection: every local kernel (4 fetched above).
    code, out, _ = invoke("check", NEWFIELD, "--json")
    assert code == ExitCode.CHECK_FAILED and len(json.loads(out)["kernels"]) == 4

    # A selection and files together: the catalog kernels, then the files.
    code, out, _ = invoke(
        "check",
        NEWFIELD,
        "-d",
        "debian",
        "-V",
        "bookworm",
        "-a",
        "amd64",
        "-k",
        "6.1.0-47*",
        "--btf",
        str(DEBIAN11),
        "--json",
    )
    kernels = json.loads(out)["kernels"]
    assert code == ExitCode.CHECK_FAILED and [k["verdict"] for k in kernels] == ["ok", "fails"]
    assert kernels[0]["kernel"]["release"] == "6.1.0-47-amd64"
    assert kernels[1]["kernel"]["path"] == str(DEBIAN11) and kernels[1]["index_reused"] is None


def test_btf_files_summary_detail_and_html(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()  # an output directory must exist (issue #12)
    page = tmp_path / "out" / "report.html"
    code, out, err = invoke(
        "check",
        NEWFIELD,
        RINGBUF,
        "--btf",
        str(DEBIAN11),
        "--detail",
        "5.10.0-30",
        "--html",
        str(page),
    )
    assert code == ExitCode.CHECK_FAILED, err
    html = page.read_text(encoding="utf-8")
    assert html.count('data-state="poisoned"') == 1 and html.count('data-state="guarded"') == 1
    assert "fails" in out and "__state" in out
    assert "guarded" in out and "poisoned" in out  # the detail view lists every relocation
    assert "BPF_MAP_TYPE_RINGBUF" in out and "rb" in out


def test_json_reasons_name_the_unguarded_read() -> None:
    code, out, _ = invoke("check", NEWFIELD, "--btf", str(DEBIAN11), "--json")
    assert code == ExitCode.CHECK_FAILED
    kernel = json.loads(out)["kernels"][0]
    states = {(r["program"], r["kind"]): r["state"] for r in kernel["relocations"]}
    assert states == {
        ("guarded", "field_exists"): "missing",
        ("guarded", "byte_off"): "guarded",
        ("unguarded", "byte_off"): "poisoned",
    }
    assert kernel["reasons"][0].startswith("kprobe/schedule #2 struct task_struct.__state")


def test_errors_are_one_line(tmp_path: Path) -> None:
    code, _, err = invoke("check", str(tmp_path / "nope.o"), "--btf", str(DEBIAN11))
    assert code == 3 and err.count("\n") == 1 and "nope.o" in err
    code, _, err = invoke("check", NEWFIELD, "--btf", str(DEBIAN11), "--detail", "9.9")
    assert code == 3 and "9.9" in err
    bad = tmp_path / "garbage.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00" + bytes(40))
    code, _, err = invoke("check", NEWFIELD, "--btf", str(bad))
    last = err.splitlines()[-1]  # after the plain progress line of a non-terminal
    assert code == ExitCode.ERROR and last.startswith("error: ")
    assert "garbage.btf: BTF header" in last
    assert err.count("error: ") == 1
    code, _, err = invoke("check", str(bad), "--btf", str(DEBIAN11))  # not an ELF object
    assert code == ExitCode.ERROR and err.count("\n") == 1 and err.startswith(f"error: {bad}: ")
    code, _, err = invoke("check", NEWFIELD)  # no catalog, nothing local, no --btf
    assert code != 0 and err.count("\n") == 1
