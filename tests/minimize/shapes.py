"""A hand-built target BTF holding every shape where libbpf refuses a relocation.

Written with btfhub_mirror's BTF writer; the types are named for the test objects in
``tests/bpf`` (``amb_offset``, ``amb_size``, ``deep_nest``, ``big_bitfield``, ``dup_task``), so
one file serves them all and each object only finds its own:

- ``amb_offset`` / ``amb_offset___b``: ``x`` through one anonymous struct at byte 4, through two
  at byte 8 -> "field offset ambiguity: 64 != 32";
- ``amb_size`` (8 bytes) / ``amb_size___v2`` (16) -> "relocation decision ambiguity" on
  ``type_size``;
- ``deep_nest``: ``x`` below :data:`DEEP` anonymous structs, past BPF_CORE_SPEC_MAX_LEN (64)
  -> "error matching candidate" (-E2BIG);
- ``big_bitfield`` (``f:8`` at bit 32) / ``big_bitfield___x`` (``f:8`` at bit 60, no 64-bit load
  covers an int there) -> "can't be satisfied for bitfield";
- :data:`DUP_COPIES` identical ``task_struct`` (as un-deduplicated kernels have) -> the ``pid``
  read matches every copy, ``type_id_kernel`` then fails with "relocation decision ambiguity".
"""

from __future__ import annotations

from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.wire import INT_SIGNED
from btfhub_mirror.btf.write import encode_btf

DEEP = 70
DUP_COPIES = 3


def shapes_btf() -> bytes:
    types: list[t.Type] = []

    def add(typ: t.Type) -> int:
        types.append(typ)
        return len(types)

    def member(name: str, type_id: int, bit: int, bits: int = 0) -> t.Member:
        return t.Member(name, type_id, bit, bits)

    int_id = add(t.Int("int", 4, INT_SIGNED, 0, 32))
    long_id = add(t.Int("long", 8, INT_SIGNED, 0, 64))

    # offset ambiguity through anonymous nesting
    anon1 = add(t.Struct("", 4, (member("x", int_id, 0),)))
    add(t.Struct("amb_offset", 8, (member("pad", int_id, 0), member("", anon1, 32))))
    inner = add(t.Struct("", 4, (member("x", int_id, 0),)))
    outer = add(t.Struct("", 16, (member("pad2", long_id, 0), member("", inner, 64))))
    add(t.Struct("amb_offset___b", 16, (member("", outer, 0),)))

    # size ambiguity
    add(t.Struct("amb_size", 8, (member("x", int_id, 0),)))
    add(t.Struct("amb_size___v2", 16, (member("x", int_id, 0), member("y", long_id, 64))))

    # too-deep nesting: deep_nest { struct { struct { ... int x; }; }; }
    below = add(t.Struct("", 4, (member("x", int_id, 0),)))
    for _ in range(DEEP - 1):
        below = add(t.Struct("", 4, (member("", below, 0),)))
    add(t.Struct("deep_nest", 4, (member("", below, 0),)))

    # too-big bitfield (kind_flag: member offsets carry bitfield sizes)
    add(t.Struct("big_bitfield", 8, (member("a", int_id, 0), member("f", int_id, 32, 8)), True))
    add(
        t.Struct("big_bitfield___x", 16, (member("a", int_id, 0), member("f", int_id, 60, 8)), True)
    )

    # a kernel with duplicated task_struct
    for _ in range(DUP_COPIES):
        add(t.Struct("task_struct", 16, (member("state", long_id, 0), member("pid", int_id, 64))))
    return encode_btf(types)
