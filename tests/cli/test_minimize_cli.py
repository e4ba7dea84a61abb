"""`btfmirror minimize` and `btfmirror relocs --btf`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from btfhub_mirror.btf import load_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import minimize
from cli.app import app
from tests.helpers import REPO, SAMPLE

runner = CliRunner()
BUILD = REPO / "tests" / "bpf" / "build"
DEBIAN11 = SAMPLE / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"
CENTOS = SAMPLE / "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64.btf.tar.xz"


def test_minimize_writes_the_library_result(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()  # an output directory must exist (issue #12)
    out = tmp_path / "sub" / "min.btf"
    obj = BUILD / "core_fields.bpf.el.o"
    result = runner.invoke(app, ["minimize", str(DEBIAN11), str(obj), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    expected = minimize(load_btf(DEBIAN11), [BpfObject.open(obj)])
    assert out.read_bytes() == expected.data
    assert summary["bytes"] == len(expected.data) and summary["warnings"] == []
    assert summary["relocations"] == expected.relocations


def test_minimize_warns_where_bpftool_aborts_and_strict_fails(tmp_path: Path) -> None:
    out = tmp_path / "min.btf"
    obj = BUILD / "ambiguous.bpf.el.o"
    default = runner.invoke(app, ["minimize", str(CENTOS), str(obj), "-o", str(out)])
    assert default.exit_code == 0
    # libbpf refuses the relocation with the full BTF: the output keeps that failure.
    assert "warning: will fail to load, as with the full BTF: " in default.output
    assert "relocation decision ambiguity" in default.output
    assert "kept the first match" not in default.output
    assert out.read_bytes() == minimize(load_btf(CENTOS), [BpfObject.open(obj)]).data
    out.unlink()
    first = ["minimize", "--first-match", str(CENTOS), str(obj), "-o", str(out)]
    chosen = runner.invoke(app, first)
    assert chosen.exit_code == 0
    assert "relocation decision ambiguity" in chosen.output and "kept the first match" in (
        chosen.output
    )
    assert out.exists()
    out.unlink()
    strict = runner.invoke(app, ["minimize", "--strict", str(CENTOS), str(obj), "-o", str(out)])
    assert strict.exit_code == 1
    assert "relocation decision ambiguity" in strict.output
    assert not out.exists()  # nothing written when it fails
    both = ["minimize", "--strict", "--first-match", str(CENTOS), str(obj), "-o", str(out)]
    refused = runner.invoke(app, both)
    assert refused.exit_code == 2 and "exclude each other" in refused.output
    assert not out.exists()


def test_minimize_json_lists_load_failures(tmp_path: Path) -> None:
    out = tmp_path / "min.btf"
    obj = BUILD / "ambiguous.bpf.el.o"
    result = runner.invoke(app, ["minimize", str(CENTOS), str(obj), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    [failure] = summary["load_failures"]
    assert failure["code"] == "decision-ambiguity" and failure["relo"] == 0
    assert failure["section"] == "tracepoint/syscalls/sys_enter_getpid"
    assert "relocation decision ambiguity" in failure["reason"]
    kept = failure["kept_candidates"]
    assert len(kept) == 2 and all(load_btf(CENTOS).type(i).name == "task_struct" for i in kept)
    assert summary["warnings"] == []


def test_minimize_unwritable_output_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    obj = BUILD / "loadable.bpf.el.o"
    result = runner.invoke(app, ["minimize", str(DEBIAN11), str(obj), "-o", str(blocker / "o")])
    assert result.exit_code == 1
    assert "cannot write" in result.output


def test_relocs_with_btf_reports_resolutions() -> None:
    obj = BUILD / "newfield.bpf.el.o"
    result = runner.invoke(app, ["relocs", "--json", "--btf", str(DEBIAN11), str(obj)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["relocations"]
    # task_struct.__state exists only from 5.14: unresolved on 5.10, poisoned where read.
    state = [r for r in rows if r["path"].endswith("task_struct.__state")]
    assert state and all(r["status"] == "unresolved" for r in state)
    assert any(r["poisoned"] for r in state)
    assert any(r["kind"] == "field_exists" and r["new_val"] == 0 for r in state)
    table = runner.invoke(app, ["relocs", "--btf", str(DEBIAN11), str(obj)])
    assert "unresolved" in table.output and "poison" in table.output


def test_an_object_of_the_other_byte_order_is_refused(tmp_path: Path) -> None:
    big = REPO / "tests" / "bpf" / "build" / "loadable.bpf.eb.o"
    out = tmp_path / "min.btf"
    result = runner.invoke(app, ["minimize", str(DEBIAN11), str(big), "-o", str(out)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "big-endian" in lines[0] and "-target bpfel" in lines[0]
    assert not out.exists()


def test_one_off_commands_keep_the_kernel_in_the_cache(tmp_path: Path) -> None:
    """minimize, relocs --btf and check --btf on a .btf.tar.xz save its BTF under the cache,
    named by the file's sha256; the second run reads it and says the same."""
    import hashlib
    import os

    cache = Path(os.environ["BTFHUB_CACHE"]) / "btf-cache"  # tests/conftest.py: our own
    entry = cache / (hashlib.sha256(DEBIAN11.read_bytes()).hexdigest() + ".btf")
    obj = BUILD / "core_fields.bpf.el.o"
    out = tmp_path / "min.btf"
    expected = minimize(load_btf(DEBIAN11), [BpfObject.open(obj)]).data
    runs = [
        ["minimize", str(DEBIAN11), str(obj), "-o", str(out)],
        ["relocs", str(obj), "--btf", str(DEBIAN11)],
        ["check", str(obj), "--btf", str(DEBIAN11), "--json"],
    ]
    for args in runs:
        shutil.rmtree(cache, ignore_errors=True)
        first = runner.invoke(app, args)
        assert first.exit_code == 0, first.output
        assert entry.exists(), args
        mtime = entry.stat().st_mtime_ns
        os.utime(entry, ns=(0, 0))
        second = runner.invoke(app, args)
        assert second.exit_code == 0 and entry.stat().st_mtime_ns > 0  # used: touched
        assert entry.stat().st_mtime_ns >= mtime
        if args[0] == "minimize":
            assert out.read_bytes() == expected
        elif args[0] == "check":
            first_json, second_json = json.loads(first.stdout), json.loads(second.stdout)
            first_json.pop("seconds"), second_json.pop("seconds")
            assert first_json == second_json
        else:
            assert second.stdout == first.stdout
