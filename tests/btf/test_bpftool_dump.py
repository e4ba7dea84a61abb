"""`btfmirror btf dump` prints exactly what Debian's bpftool prints, type for type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from btfhub_mirror.btf.dump import dump_json, dump_raw
from tests.cache import btf_dump, kernel_btf
from tests.helpers import VMLINUX, need_tool, require, sample_archives, sample_id

pytestmark = [pytest.mark.needs_bpftool, pytest.mark.slow]

SAMPLES = sample_archives()


def bpftool_dump(path: Path, *extra: str) -> str:
    """bpftool's dump of the raw BTF of ``path`` (extracted once; shared by the session)."""
    return btf_dump(need_tool("bpftool"), path, *extra)


def assert_same_lines(ours: list[str], theirs: list[str]) -> None:
    for lineno, (a, b) in enumerate(zip(ours, theirs, strict=False), 1):
        assert a == b, f"line {lineno} differs"
    assert len(ours) == len(theirs)


@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_raw_dump_matches_bpftool(path: Path) -> None:
    expected = bpftool_dump(path).splitlines()
    ours = "\n".join(dump_raw(kernel_btf(path))).splitlines()
    assert_same_lines(ours, expected)


def test_raw_dump_matches_bpftool_on_running_kernel() -> None:
    require(VMLINUX.exists(), "this kernel has no /sys/kernel/btf/vmlinux")
    from btfhub_mirror.btf import load_btf

    expected = bpftool_dump(VMLINUX).splitlines()
    ours = "\n".join(dump_raw(load_btf(VMLINUX))).splitlines()
    assert_same_lines(ours, expected)


@pytest.mark.parametrize("path", [p for p in SAMPLES if "debian/12" in str(p)][:2], ids=sample_id)
def test_json_dump_matches_bpftool(path: Path) -> None:
    expected = json.loads(bpftool_dump(path, "-j"))
    # bpftool 7.1 passes ENUM's __s32 `val` to jsonw_uint_field, sign-extending unsigned values
    # >= 2**31 to 64 bits; btfmirror prints the real value, so undo that bug before comparing.
    for typ in expected["types"]:
        if typ["kind"] == "ENUM" and typ["encoding"] == "UNSIGNED":
            for value in typ["values"]:
                value["val"] &= 0xFFFFFFFF
    assert dump_json(kernel_btf(path)) == expected
