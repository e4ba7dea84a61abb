"""Reusing one candidate's outcome for its field-layout class never changes a decision.

`CoreResolver` matches only the first candidate of each class (btf/shape.py) once a relocation
has many candidates. These tests resolve the same records twice, reuse forced for every list
and reuse off, and require identical decisions: chosen spec, values, failures, every candidate's
outcome and spec text. On real kernels (the centos/kylin/bclinux samples have hundreds of
duplicate structs) and on generated targets built to tell classes apart only by what matters.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfhub_mirror.btf import Btf, parse_btf
from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.core import CoreResolver, Resolution, format_spec, relocation_indices
from btfhub_mirror.btf.ext import CoreRelo, CoreReloKind
from btfhub_mirror.btf.shape import MAX_DEPTH, FieldShapes
from btfhub_mirror.btf.wire import ByteOrder
from btfhub_mirror.btf.write import encode_btf
from btfhub_mirror.elf import BpfObject
from tests.cache import kernel_btf
from tests.helpers import REPO, VMLINUX, require, sample_archives, sample_id

OBJECTS = sorted((REPO / "tests" / "bpf" / "build").glob("*.bpf.el.o"))
KERNELS = [*sample_archives(), VMLINUX]
NEVER = 1 << 30


def decisions(res: Resolution) -> tuple[object, ...]:
    return (
        res.index,
        res.failure.code if res.failure else None,
        res.failure.reason if res.failure else None,
        res.result,
        format_spec(res.target_spec) if res.target_spec else None,
        res.target_spec.raw_spec if res.target_spec else None,
        tuple((c.type_id, c.matched, format_spec(c.spec), c.spec.raw_spec) for c in res.candidates),
    )


def resolve(
    local: Btf, relos: list[CoreRelo], target: Btf, min_candidates: int
) -> list[Resolution]:
    resolver = CoreResolver(local, target)
    resolver.shape_min_candidates = min_candidates
    return [
        resolver.resolve(relo, index)
        for relo, index in zip(relos, relocation_indices(relos), strict=True)
    ]


def assert_same_decisions(local: Btf, relos: list[CoreRelo], target: Btf) -> int:
    """Both ways agree; returns how many candidate outcomes reuse answered."""
    forced = resolve(local, relos, target, 1)
    plain = resolve(local, relos, target, NEVER)
    assert [decisions(r) for r in forced] == [decisions(r) for r in plain]
    return sum(c.reused for r in forced for c in r.candidates)


@pytest.mark.slow
@pytest.mark.parametrize("obj", OBJECTS, ids=lambda p: p.name.split(".")[0])
@pytest.mark.parametrize(
    "path", KERNELS, ids=lambda p: "running-kernel" if p == VMLINUX else sample_id(p)
)
def test_reuse_changes_no_decision_on_real_kernels(path: Path, obj: Path) -> None:
    if path == VMLINUX:
        require(VMLINUX.exists(), "no /sys/kernel/btf/vmlinux on this machine")
    bpf = BpfObject.open(obj)
    assert_same_decisions(bpf.btf, list(bpf.core_relos), kernel_btf(path))


def test_reuse_answers_most_candidates_on_centos() -> None:
    """The point of it: centos 8's duplicate task_structs are matched once, not 476 times."""
    centos = next(p for p in sample_archives() if "centos" in str(p))
    bpf = BpfObject.open(REPO / "tests/bpf/build/core_fields.bpf.el.o")
    relos = list(bpf.core_relos)
    resolver = CoreResolver(bpf.btf, kernel_btf(centos))  # the default threshold
    indices = relocation_indices(relos)
    results = [resolver.resolve(r, i) for r, i in zip(relos, indices, strict=True)]
    tried = [c for r in results for c in r.candidates]
    reused = [c for c in tried if c.reused]
    assert len(tried) > 10_000
    assert len(reused) > 0.9 * len(tried)


# -- FieldShapes on hand-made BTF -------------------------------------------------------------

INT, LONG, CHAR = 1, 2, 3
BASE = [
    t.Int("int", 4, 1, 0, 32),
    t.Int("long", 8, 1, 0, 64),
    t.Int("char", 1, 0, 0, 8),
]


def build(types: list[t.Type], order: ByteOrder = "little") -> Btf:
    return parse_btf(encode_btf([*BASE, *types], byte_order=order))


def member(name: str, type_id: int, bit_offset: int) -> t.Member:
    return t.Member(name, type_id, bit_offset)


@pytest.mark.parametrize("order", ["little", "big"])
def test_classes_see_only_what_a_field_match_sees(order: ByteOrder) -> None:
    names = frozenset({"s", "a", "b", "inner", "x"})
    types: list[t.Type] = [
        t.Pointer(INT),  # 4
        t.Pointer(LONG),  # 5
        t.Struct("inner", 4, (member("x", INT, 0),)),  # 6
        t.Struct("inner", 4, (member("x", INT, 0),)),  # 7: a duplicate of 6
        t.Typedef("inner_t", 7),  # 8
        # 9: the reference
        t.Struct("s", 16, (member("a", 4, 0), member("in", 6, 64), member("zz1", INT, 96))),
        # 10: other copies of what it points at and contains, another unknown name: same
        t.Struct("s", 16, (member("a", 5, 0), member("in", 7, 64), member("zz2", LONG, 96))),
        # 11: a known member moved: different
        t.Struct("s", 16, (member("a", 4, 32), member("in", 6, 64), member("zz1", INT, 96))),
        # 12: an unknown name became known: different
        t.Struct("s", 16, (member("a", 4, 0), member("in", 6, 64), member("b", INT, 96))),
        # 13: an unknown-named member became anonymous: different (the match descends)
        t.Struct("s", 16, (member("a", 4, 0), member("in", 6, 64), member("", INT, 96))),
        # 14: a pointer became an int: different
        t.Struct("s", 16, (member("a", LONG, 0), member("in", 6, 64), member("zz1", INT, 96))),
    ]
    shapes = FieldShapes(build(types, order), names)
    assert shapes.class_of(6) == shapes.class_of(7)
    assert shapes.class_of(8) != shapes.class_of(7)  # a typedef step counts (resolve_size depth)
    assert shapes.class_of(4) == shapes.class_of(5)
    assert shapes.class_of(9) == shapes.class_of(10)
    assert len({shapes.class_of(i) for i in (9, 11, 12, 13, 14)}) == 5


def test_classes_end_on_cycles_and_deep_nesting() -> None:
    # Hostile: a struct containing itself, and a chain of containment deeper than MAX_DEPTH.
    depth = MAX_DEPTH + 20
    chain = [t.Struct("c", 4, (member("x", INT, 0),))]
    chain += [t.Struct("c", 4, (member("x", 4 + i, 0),)) for i in range(depth)]
    cyclic = t.Struct("loop", 4, (member("x", 5 + depth, 0),))
    btf = build([*chain, cyclic])
    shapes = FieldShapes(btf, frozenset({"x", "c", "loop"}))
    classes = [shapes.class_of(4 + i) for i in range(depth + 1)]
    assert len(set(classes)) == len(classes)
    assert shapes.class_of(5 + depth) > 0


# -- generated targets: many near-identical copies of one struct ------------------------------
#
# Local: struct s { int a; long b; struct inner in; int arr[4]; union { int u1; long u2; };
#                   char *p; int bf:3; }   (all 6 field kinds against every access string)

LOCAL_TYPES: list[t.Type] = [
    t.Pointer(CHAR),  # 4
    t.Struct("inner", 8, (member("x", INT, 0), member("y", INT, 32))),  # 5
    t.Array(INT, INT, 4),  # 6
    t.Union("", 8, (member("u1", INT, 0), member("u2", LONG, 0))),  # 7
    t.Struct(
        "s",
        64,
        (
            t.Member("a", INT, 0),
            t.Member("b", LONG, 64),
            t.Member("in", 5, 128),
            t.Member("arr", 6, 192),
            t.Member("", 7, 320),
            t.Member("p", 4, 384),
            t.Member("bf", INT, 448, 3),
        ),
        kind_flag=True,
    ),  # 8
]
ACCESS = [
    "0:0",
    "0:1",
    "0:2",
    "0:2:0",
    "0:2:1",
    "0:3",
    "0:3:2",
    "0:4:0",
    "0:4:1",
    "0:5",
    "0:6",
    "1:0",
    "1:2:1",
]
FIELD_KINDS = [k for k in CoreReloKind if k.is_field_based]

# What a target copy's member slot may hold: (name, what).
SLOTS = [
    ("a", "int"),
    ("a", "long"),
    ("b", "long"),
    ("b", "int"),
    ("in", "inner"),
    ("in", "inner_swapped"),
    ("in", "int"),
    ("arr", "arr4"),
    ("arr", "arr2"),
    ("arr", "arr4_long"),
    ("", "anon"),
    ("", "anon_u2_only"),
    ("p", "ptr"),
    ("p", "long"),
    ("bf", "bit3"),
    ("bf", "int"),
    ("zz", "int"),
    ("zz", "inner"),
    ("x", "int"),
    ("u1", "int"),
]


@st.composite
def target_btfs(draw: st.DrawFn) -> tuple[Btf, list[CoreRelo]]:
    order: ByteOrder = draw(st.sampled_from(["little", "big"]))
    slot = st.tuples(st.sampled_from(SLOTS), st.sampled_from([0, 32]))
    # Variants of one layout, each an edit or two away from it (a member moved, renamed, or of
    # another type): near misses are what would expose a class that is too coarse.
    base = draw(st.lists(slot, min_size=1, max_size=5))
    blueprints = [base]
    for _ in range(draw(st.integers(0, 3))):
        variant = list(base)
        for _ in range(draw(st.integers(1, 2))):
            pos = draw(st.integers(0, len(variant) - 1))
            (name, what), extra = variant[pos]
            edit = draw(st.sampled_from(["move", "rename", "retype", "replace"]))
            if edit == "move":
                variant[pos] = ((name, what), 32 - extra)
            elif edit == "rename":
                variant[pos] = ((draw(st.sampled_from(["zz", "", "a", "in"])), what), extra)
            elif edit == "retype":
                variant[pos] = (draw(st.sampled_from([s for s in SLOTS if s[0] == name])), extra)
            else:
                variant[pos] = draw(slot)
        blueprints.append(variant)
    # Each copy repeats a blueprint with its own copies of every type it contains.
    copies = draw(st.lists(st.integers(0, len(blueprints) - 1), min_size=2, max_size=24))
    types: list[t.Type] = []

    def add(typ: t.Type) -> int:
        types.append(typ)
        return len(BASE) + len(types)

    for which in copies:
        members = []
        for i, ((name, what), extra) in enumerate(blueprints[which]):
            bit_offset, bits = i * 64 + extra, 0
            match what:
                case "int" | "long":
                    type_id = INT if what == "int" else LONG
                case "bit3":
                    type_id, bits = INT, 3
                case "ptr":
                    type_id = add(t.Pointer(CHAR))
                case "inner" | "inner_swapped":
                    x, y = (32, 0) if what == "inner_swapped" else (0, 32)
                    type_id = add(t.Struct("inner", 8, (member("x", INT, x), member("y", INT, y))))
                case "arr4" | "arr2" | "arr4_long":
                    elem = LONG if what == "arr4_long" else INT
                    type_id = add(t.Array(elem, INT, 2 if what == "arr2" else 4))
                case "anon":
                    type_id = add(t.Union("", 8, (member("u1", INT, 0), member("u2", LONG, 0))))
                case _:
                    type_id = add(t.Union("", 8, (member("u2", LONG, 0),)))
            if draw(st.booleans()):
                type_id = add(t.Typedef(f"td{len(types)}", type_id))
            members.append(t.Member(name, type_id, bit_offset, bits))
        flavor = draw(st.sampled_from(["s", "s", "s___v2"]))
        add(t.Struct(flavor, 64 * len(members), tuple(members), kind_flag=True))
    # Every access string with every field kind, in an order of the draw's choosing (the
    # candidate list is pruned as records resolve, so order matters).
    relos = draw(
        st.permutations(
            [CoreRelo("prog", 0, 8, access, kind) for access in ACCESS for kind in FIELD_KINDS]
        )
    )
    return build(types, order), relos


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=target_btfs())
def test_reuse_changes_no_decision_on_generated_targets(case: tuple[Btf, list[CoreRelo]]) -> None:
    target, relos = case
    local = build(LOCAL_TYPES)
    assert_same_decisions(local, relos, target)


def test_generated_targets_do_reuse() -> None:
    """The generator above is not vacuous: identical copies are answered by reuse."""
    copy = [
        t.Pointer(CHAR),
        t.Struct("inner", 8, (member("x", INT, 0), member("y", INT, 32))),
    ]
    types: list[t.Type] = []
    for n in range(10):
        first = len(BASE) + len(types) + 1
        types += copy
        types.append(
            t.Struct(
                "s",
                16,
                (t.Member("p", first, 0), t.Member("in", first + 1, 64), t.Member(f"k{n}", 1, 96)),
            )
        )
    relos = [CoreRelo("prog", 0, 8, "0:2:1", CoreReloKind.FIELD_BYTE_OFFSET)]
    assert assert_same_decisions(build(LOCAL_TYPES), relos, build(types)) == 9


# -- edge cases found in review: each once gave reuse a different answer ----------------------


def _single_relo(access: str, kind: CoreReloKind, root: int = 8) -> list[CoreRelo]:
    return [CoreRelo("prog", 0, root, access, kind)]


def test_a_name_offset_holding_the_empty_string_is_anonymous() -> None:
    local = build([t.Struct("s", 4, (member("x", INT, 0),))])  # 4
    types: list[t.Type] = [
        t.Struct("", 4, (member("x", INT, 0),)),  # 4: has x
        t.Struct("", 4, (member("y", INT, 0),)),  # 5: has not
        t.Struct("s", 4, (member("QQQQ", 5, 0),)),  # 6
        t.Struct("s", 4, (member("QQQQ", 4, 0),)),  # 7
    ]
    raw = encode_btf([*BASE, *types])
    assert raw.count(b"QQQQ\0") == 1
    target = parse_btf(raw.replace(b"QQQQ\0", b"\0QQQ\0"))  # that offset now holds ""
    assert target.member_names(6) == target.member_names(7) == [""]
    relos = [CoreRelo("prog", 0, 4, "0:0", CoreReloKind.FIELD_BYTE_OFFSET)]
    assert_same_decisions(local, relos, target)
    assert resolve(local, relos, target, 1)[0].target_spec is not None  # found through id 7


@pytest.mark.parametrize("links", [1023, 1024])
def test_modifier_chains_as_long_as_the_match_allows(links: int) -> None:
    local = build([t.Struct("s", 4, (member("x", INT, 0),))])  # 4
    types: list[t.Type] = [t.Struct("s", 4, (member("x", INT, 0),))]  # 4
    first = len(BASE) + len(types) + 1
    types += [t.Typedef(f"td{i}", first + i + 1 if i < links - 1 else INT) for i in range(links)]
    types.append(t.Struct("s", 4, (member("x", first, 0),)))
    relos = [CoreRelo("prog", 0, 4, "0:0", CoreReloKind.FIELD_BYTE_OFFSET)]
    assert_same_decisions(local, relos, build(types))


def test_typedef_chains_count_towards_the_sizing_depth() -> None:
    # btf__resolve_size gives up after 32 steps, typedefs included: int[2] and T[2] with T 40
    # typedefs of int must not share a class.
    local = build([t.Array(INT, INT, 2), t.Struct("s", 8, (member("arr", 4, 0),))])  # 4, 5
    types: list[t.Type] = [t.Array(INT, INT, 2), t.Struct("s", 8, (member("arr", 4, 0),))]
    first = len(BASE) + len(types) + 1
    types += [t.Typedef(f"td{i}", first + i + 1 if i < 39 else INT) for i in range(40)]
    types.append(t.Array(first, INT, 2))
    types.append(t.Struct("s", 8, (member("arr", len(BASE) + len(types), 0),)))
    relos = [
        CoreRelo("prog", 0, 5, "0:0", CoreReloKind.FIELD_BYTE_SIZE),
        CoreRelo("prog", 0, 5, "0:0:1", CoreReloKind.FIELD_BYTE_OFFSET),
    ]
    assert_same_decisions(local, relos, build(types))


def test_an_undecodable_local_type_only_turns_reuse_off() -> None:
    raw = bytearray(
        encode_btf(
            [
                *BASE,
                t.Struct("s", 4, (member("x", INT, 0),)),
                t.FuncProto(INT, (t.Param("PPPP", INT),)),
            ]
        )
    )
    strings = 24 + int.from_bytes(raw[16:20], "little")  # header + str_off
    pair = (raw.index(b"PPPP\0", strings) - strings).to_bytes(4, "little") + INT.to_bytes(
        4, "little"
    )
    at = raw.index(pair, 24)
    raw[at : at + 4] = (0x00FFFFFF).to_bytes(4, "little")  # a name past the string section
    local = parse_btf(bytes(raw))
    target = build([t.Struct("s", 4, (member("x", INT, 0),)) for _ in range(8)])
    relos = [CoreRelo("prog", 0, 4, "0:0", CoreReloKind.FIELD_BYTE_OFFSET)]
    assert_same_decisions(local, relos, target)
    assert CoreResolver(local, target).resolve(relos[0], 0).failure is None
