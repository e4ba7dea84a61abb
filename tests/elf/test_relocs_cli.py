"""``btfmirror relocs``: one line (or JSON record) per relocation, in .BTF.ext order."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from btfhub_mirror.btf.ext import describe_access
from cli.app import app

from .conftest import bpf_object, object_path

runner = CliRunner()


def test_json_lists_every_relocation_in_order() -> None:
    result = runner.invoke(app, ["relocs", "--json", str(object_path("core_fields"))])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["relocations"]
    obj = bpf_object("core_fields")
    assert [(r["section"], r["insn"], r["kind"], r["access"]) for r in rows] == [
        (x.section, x.insn_off // 8, x.kind.short_name, x.access_str) for x in obj.core_relos
    ]
    assert [r["path"] for r in rows] == [describe_access(obj.btf, x) for x in obj.core_relos]


def test_table_has_a_line_per_relocation_and_names_objects() -> None:
    paths = [str(object_path("core_types")), str(object_path("ambiguous", "eb"))]
    result = runner.invoke(app, ["relocs", *paths])
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["object", "section", "insn", "kind", "path", "access"]
    expected = len(bpf_object("core_types").core_relos) + len(bpf_object("ambiguous").core_relos)
    assert len(lines) == expected
    assert lines[-1].startswith(paths[1]) and "target_type_id" in lines[-1]
    assert "enum pid_type::PIDTYPE_TGID = 1" in result.stdout


def test_bad_object_is_one_line_and_non_zero(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.o"
    bogus.write_bytes(b"\x7fELF" + b"\x00" * 60)
    result = runner.invoke(app, ["relocs", str(bogus)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "bogus.o" in result.output
    missing = runner.invoke(app, ["relocs", str(tmp_path / "missing.o")])
    assert missing.exit_code == 3
