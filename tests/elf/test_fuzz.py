"""Random and mutated .BTF.ext and ELF bytes: only btfmirror's typed errors escape, fast."""

from __future__ import annotations

import contextlib
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfhub_mirror.btf.ext import describe_access, parse_btf_ext
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.errors import BtfmirrorError

from .conftest import bpf_object, object_path

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
SEEDS = ["core_fields", "core_types", "ringbuf"]


def exercise_ext(data: bytes, name: str) -> None:
    obj = bpf_object(name)
    try:
        ext = parse_btf_ext(data, obj.btf, source="fuzz")
    except BtfmirrorError:
        return
    for relo in ext.core_relos:
        with contextlib.suppress(BtfmirrorError):
            describe_access(obj.btf, relo)


def exercise_elf(data: bytes) -> None:
    try:
        obj = BpfObject.from_bytes(data, "fuzz.o")
        obj.section_names()
        for relo in obj.core_relos:
            describe_access(obj.btf, relo)
        obj.programs  # noqa: B018 - the properties do the work
        obj.maps  # noqa: B018
    except BtfmirrorError:
        pass


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    return bytes(buf[:cut] if cut is not None else buf)


@FUZZ
@given(st.binary(max_size=512), st.sampled_from(SEEDS))
def test_random_btf_ext(data: bytes, name: str) -> None:
    exercise_ext(data, name)


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(0, 4096)),
)
def test_mutated_btf_ext(name: str, edits: list[tuple[int, int]], cut: int | None) -> None:
    data = bpf_object(name).btf_ext_bytes
    assert data is not None
    exercise_ext(mutate(data, edits, cut), name)


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.sampled_from(["func_info", "line_info", "core_relo"]),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
)
def test_header_fields(name: str, which: str, off: int, length: int) -> None:
    data = bytearray(bpf_object(name).btf_ext_bytes or b"")
    at = {"func_info": 8, "line_info": 16, "core_relo": 24}[which]
    struct.pack_into("<II", data, at, off, length)
    exercise_ext(bytes(data), name)


@FUZZ
@given(st.binary(max_size=1024))
def test_random_elf(data: bytes) -> None:
    exercise_elf(b"\x7fELF" + data)


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(0, 30000)),
)
def test_mutated_elf(name: str, edits: list[tuple[int, int]], cut: int | None) -> None:
    exercise_elf(mutate(object_path(name).read_bytes(), edits, cut))
