"""Arbitrary relocation records never crash the engine: libbpf-style failures are returned."""

from __future__ import annotations

import functools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfhub_mirror.btf import Btf
from btfhub_mirror.btf.core import CoreResolver
from btfhub_mirror.btf.ext import CoreRelo, CoreReloKind
from btfhub_mirror.elf import BpfObject
from tests.cache import kernel_btf
from tests.helpers import REPO, sample_archives


@functools.cache
def local_btf() -> Btf:
    return BpfObject.open(REPO / "tests/bpf/build/core_fields.bpf.el.o").btf


@functools.cache
def target_btf() -> Btf:
    return kernel_btf(min(sample_archives(), key=lambda p: p.stat().st_size))


access = st.one_of(
    st.lists(st.integers(-2, 300), min_size=0, max_size=8).map(
        lambda parts: ":".join(map(str, parts))
    ),
    st.text(alphabet="0123456789:-x ", max_size=12),
)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    type_id=st.integers(0, 200),
    access_str=access,
    kind=st.sampled_from(list(CoreReloKind)),
)
def test_any_record_resolves_or_fails_cleanly(
    type_id: int, access_str: str, kind: CoreReloKind
) -> None:
    resolver = CoreResolver(local_btf(), target_btf())
    res = resolver.resolve(CoreRelo("prog", 0, type_id, access_str, kind), 0)
    assert (res.failure is None) == (res.result is not None)
    if res.result is not None and res.target_spec is None:
        assert res.result.poison or res.result.new_val in (0, type_id)
