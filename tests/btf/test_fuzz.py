"""Random and mutated BTF: only BtfFormatError escapes, and every input finishes quickly."""

from __future__ import annotations

import functools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfhub_mirror.btf import parse_btf
from btfhub_mirror.btf.dump import dump_raw
from btfhub_mirror.btf.parse import Btf
from btfhub_mirror.btf.write import encode_btf
from btfhub_mirror.errors import BtfFormatError
from tests.cache import kernel_btf
from tests.helpers import sample_archives

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def seed_blob() -> bytes:
    """The first few hundred types of a real kernel, re-encoded: small but of every common kind."""
    kernel = kernel_btf(sample_archives()[0])
    types = [kernel.type(i) for i in range(1, 400)]
    return encode_btf(types)


def exercise(data: bytes) -> None:
    try:
        btf = parse_btf(data)
    except BtfFormatError:
        return
    assert isinstance(btf, Btf)
    try:
        for _ in dump_raw(btf):
            pass
        btf.ids_by_name("task_struct")
    except BtfFormatError:
        return


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    exercise(data)


@FUZZ
@given(st.binary(min_size=24, max_size=256))
def test_random_bytes_with_valid_magic(data: bytes) -> None:
    exercise(b"\x9f\xeb\x01\x00" + data[4:])


@FUZZ
@given(st.data())
def test_mutated_real_btf(data: st.DataObject) -> None:
    blob = bytearray(seed_blob())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    exercise(bytes(blob[:cut]) if data.draw(st.booleans()) else bytes(blob))
