"""The one per-kind list of references (``types.map_type_ids`` / ``types.type_ids``)."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest

from btfhub_mirror.btf import types as t

#: One record of every kind, each reference a distinct id (so order and slot are both seen).
SAMPLES: list[tuple[t.Type, tuple[int, ...]]] = [
    (t.Void(), ()),
    (t.Int("int", 4, 1, 0, 32), ()),
    (t.Pointer(2), (2,)),
    (t.Array(3, 4, 5), (3, 4)),
    (t.Struct("s", 8, (t.Member("a", 5, 0), t.Member("", 6, 32))), (5, 6)),
    (t.Union("u", 4, (t.Member("a", 7, 0), t.Member("b", 8, 0))), (7, 8)),
    (t.Enum("e", 4, (t.Enumerator("A", 1),)), ()),
    (t.Enum64("e", 8, (t.Enumerator("A", 1),)), ()),
    (t.Fwd("f"), ()),
    (t.Typedef("td", 9), (9,)),
    (t.Volatile(10), (10,)),
    (t.Const(11), (11,)),
    (t.Restrict(12), (12,)),
    (t.Func("f", 13, 1), (13,)),
    (t.FuncProto(14, (t.Param("a", 15), t.Param("", 0))), (14, 15, 0)),
    (t.Var("v", 16, 1), (16,)),
    (t.Datasec(".data", 8, (t.VarSecinfo(17, 0, 4), t.VarSecinfo(18, 4, 4))), (17, 18)),
    (t.Float("double", 8), ()),
    (t.DeclTag("tag", 19, -1), (19,)),
    (t.TypeTag("user", 20), (20,)),
]


def test_every_kind_has_a_sample() -> None:
    assert {type(typ) for typ, _ in SAMPLES} == set(get_args(t.Type))


@pytest.mark.parametrize(("typ", "refs"), SAMPLES, ids=lambda v: type(v).__name__)
def test_type_ids_lists_the_references_in_record_order(typ: t.Type, refs: tuple[int, ...]) -> None:
    assert t.type_ids(typ) == refs


@pytest.mark.parametrize(("typ", "refs"), SAMPLES, ids=lambda v: type(v).__name__)
def test_map_type_ids_rewrites_exactly_those(typ: t.Type, refs: tuple[int, ...]) -> None:
    seen: list[int] = []

    def shift(type_id: int) -> int:
        seen.append(type_id)
        return type_id + 1000

    mapped = t.map_type_ids(typ, shift)
    assert seen == list(refs)  # visited once each, in record order
    assert t.type_ids(mapped) == tuple(i + 1000 for i in refs)
    assert type(mapped) is type(typ)
    assert t.map_type_ids(mapped, lambda i: i - 1000) == typ  # nothing else changed
    if not refs:
        assert mapped is typ


def test_a_new_kind_is_refused_by_the_visitor() -> None:
    @dataclasses.dataclass(frozen=True)
    class Unknown:
        name: str = ""

    with pytest.raises(AssertionError, match="unhandled BTF type"):
        t.type_ids(Unknown())  # type: ignore[arg-type]
