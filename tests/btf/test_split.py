"""Split BTF (a module's types on top of vmlinux): ids and strings continue after the base."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from btfhub_mirror.btf import StringTableBuilder, load_btf, parse_btf, write_btf
from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.dump import dump_raw
from btfhub_mirror.btf.write import encode_btf
from tests.cache import kernel_btf, raw_btf
from tests.helpers import need_tool, sample_archives


def make_split(base_path: Path) -> tuple[bytes, int]:
    base = kernel_btf(base_path)
    int_id = base.find("int")
    task = base.find("task_struct")
    builder = StringTableBuilder(b"", base=base.strings)
    split = encode_btf(
        [
            t.Struct(
                "mod_state",
                16,
                (t.Member("task", base.type_count + 1, 0), t.Member("refs", int_id, 64)),
            ),
            t.Pointer(task),
            t.Typedef("int", int_id),  # a name that exists in the base reuses the base's string
        ],
        strings=builder,
    )
    return split, base.type_count


def test_split_ids_and_strings_continue_after_base(tmp_path: Path) -> None:
    base_path = sample_archives()[0]
    base = kernel_btf(base_path)
    data, first = make_split(base_path)
    split = parse_btf(data, base=base)
    assert split.start_id == first
    assert [typ.name for _, typ in split.types()] == ["mod_state", "", "int"]
    assert split.type(first).members[0].type_id == first + 1  # type: ignore[union-attr]
    assert split.type(first + 1).type_id == base.find("task_struct")  # type: ignore[union-attr]
    assert split.type(1) == base.type(1)
    assert split.ids_by_name("int")[-1] == first + 2
    assert split.strings.data == b"mod_state\0"  # "task", "refs", "int" come from the base
    assert write_btf(split) == data


@pytest.mark.needs_bpftool
def test_split_dump_matches_bpftool(tmp_path: Path) -> None:
    bpftool = need_tool("bpftool")
    base_path = sample_archives()[0]
    data, _ = make_split(base_path)
    (tmp_path / "base.btf").write_bytes(raw_btf(base_path))
    (tmp_path / "mod.btf").write_bytes(data)
    expected = subprocess.run(
        [
            bpftool,
            "btf",
            "dump",
            "file",
            str(tmp_path / "mod.btf"),
            "-B",
            str(tmp_path / "base.btf"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    split = load_btf(tmp_path / "mod.btf", base=load_btf(tmp_path / "base.btf"))
    assert "\n".join(dump_raw(split)) + "\n" == expected
