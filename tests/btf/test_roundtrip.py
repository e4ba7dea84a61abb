"""Parse then write reproduces every real kernel BTF byte for byte, in both byte orders."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.btf import Kind, parse_btf, write_btf
from tests.cache import kernel_btf, raw_btf
from tests.helpers import VMLINUX, require, sample_archives, sample_id

SAMPLES = sample_archives()


def test_sample_covers_both_byte_orders() -> None:
    orders = {kernel_btf(p).byte_order for p in SAMPLES}
    assert orders == {"little", "big"}


@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_write_reproduces_sample(path: Path) -> None:
    btf = kernel_btf(path)
    assert write_btf(btf) == raw_btf(path)


def test_write_reproduces_running_kernel() -> None:
    require(VMLINUX.exists(), "this kernel has no /sys/kernel/btf/vmlinux")
    raw = VMLINUX.read_bytes()
    assert write_btf(parse_btf(raw)) == raw


def test_byte_order_swap_round_trips() -> None:
    big = next(p for p in SAMPLES if kernel_btf(p).byte_order == "big")
    btf = kernel_btf(big)
    little = write_btf(btf, byte_order="little")
    assert little[:2] == b"\x9f\xeb"
    again = parse_btf(little)
    assert again.byte_order == "little"
    assert again.type_count == btf.type_count
    assert write_btf(again, byte_order="big") == raw_btf(big)


@pytest.mark.parametrize("path", SAMPLES[:3], ids=sample_id)
def test_every_type_decodes_to_its_kind(path: Path) -> None:
    btf = kernel_btf(path)
    for type_id, typ in btf.types():
        assert typ.kind == btf.kind(type_id)
        assert typ.name == btf.name_of(type_id)


def test_name_index_finds_known_kernel_types() -> None:
    btf = kernel_btf(SAMPLES[0])
    task = btf.find("task_struct", Kind.STRUCT)
    assert btf.type(task).name == "task_struct"
    assert all(btf.name_of(i) == "task_struct" for i in btf.ids_by_name("task_struct"))
