"""What a parsed Btf derives and owns: the pointer size, modifier chains, essential names."""

from __future__ import annotations

import pytest

from btfhub_mirror.btf import encode_btf, parse_btf
from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.core import CoreFailure, resolve_all
from btfhub_mirror.btf.ext import CoreRelo, CoreReloKind, describe_access
from btfhub_mirror.btf.parse import MAX_MOD_CHAIN, ModifierChainError
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.errors import CoreReloError
from tests.helpers import REPO

INT = t.Int("int", 4, 1, 0, 32)


def typedef_chain(links: int) -> list[t.Type]:
    """int (1), then ``links`` typedefs, each naming the next, the last one int; then a struct
    whose member ``x`` has the first typedef's type."""
    chain: list[t.Type] = [t.Typedef(f"td{i}", i + 3 if i < links - 1 else 1) for i in range(links)]
    return [INT, *chain, t.Struct("s", 4, (t.Member("x", 2, 0),))]


def test_pointer_size_is_set_where_an_object_is_opened() -> None:
    obj = BpfObject.open(REPO / "tests" / "bpf" / "build" / "core_fields.bpf.el.o")
    assert obj.ptr_size == 8  # ELFCLASS64, as libbpf's btf_parse_elf sets it
    assert obj.btf.pointer_size() == 8
    # A blob with no "long" falls back to determine_ptr_size's host size; one with a 4-byte
    # "long" says 4; a size given at open wins over both.
    assert parse_btf(encode_btf([t.Int("long", 4, 1, 0, 32)])).pointer_size() == 4
    assert parse_btf(encode_btf([t.Int("long", 4, 1, 0, 32)]), ptr_size=8).pointer_size() == 8


@pytest.mark.parametrize("links", [1, MAX_MOD_CHAIN - 1])
def test_a_chain_as_long_as_the_limit_allows_is_skipped(links: int) -> None:
    btf = parse_btf(encode_btf(typedef_chain(links)))
    assert btf.skip_mods(2) == 1 and btf.mod_chain(2) == (1, links)
    assert btf.skip_mods(1) == 1 and btf.mod_chain(1) == (1, 0)


def test_one_limit_for_every_walk_of_a_modifier_chain() -> None:
    btf = parse_btf(encode_btf(typedef_chain(MAX_MOD_CHAIN)), source="k.btf")
    with pytest.raises(ModifierChainError, match=r"k\.btf: modifier/typedef chain through"):
        btf.skip_mods(2)
    struct_id = MAX_MOD_CHAIN + 2
    relo = CoreRelo("prog", 0, 2, "0", CoreReloKind.FIELD_BYTE_OFFSET)
    with pytest.raises(CoreReloError, match="modifier/typedef chain through"):
        describe_access(btf, relo)
    (res,) = resolve_all(btf, [CoreRelo("prog", 0, struct_id, "0:0", relo.kind)], btf)
    assert isinstance(res.failure, CoreFailure) and res.failure.code == "invalid"
    assert "modifier/typedef chain through" in res.failure.reason


def test_a_typedef_cycle_ends_in_the_typed_error() -> None:
    btf = parse_btf(encode_btf([t.Typedef("a", 2), t.Typedef("b", 1)]))
    with pytest.raises(ModifierChainError):
        btf.skip_mods(1)
