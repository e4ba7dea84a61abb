"""Phase 2 of minimizing: build the new BTF from the marks.

bpftool's ``btfgen_get_btf`` (src/gen.c) and libbpf's writer (``btf__add_struct``,
``btf__add_field``, ``btf__add_type``, ``btf__raw_data``): marked types in original id order get
dense new ids; a struct or union keeps its name and size but only its marked members, its
kind_flag recomputed the way ``btf__add_field`` does; every other kind is copied whole; strings
are interned in first-use order; type references are then remapped, unmarked ones to 0.
The result is in host byte order with the 24-byte header, as bpftool 7.1 (libbpf 1.1) writes.
Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import sys

from ..btf import types as t
from ..btf.parse import Btf
from ..btf.strings import StringTableBuilder
from ..btf.wire import ByteOrder
from ..btf.write import encode_btf
from .record import Marks, MinimizeError


def _remap(typ: t.Type, ids: dict[int, int]) -> t.Type:
    """``btf_type_visit_type_ids`` + ``btfgen_remap_id``: old ids to new, unmarked to 0."""
    get = ids.get
    return t.map_type_ids(typ, lambda type_id: get(type_id, 0))


def _trim_composite(
    type_id: int, typ: t.Struct | t.Union, kept: set[int], strict: bool, warnings: list[str]
) -> t.Struct | t.Union:
    """The composite with only the kept members, kind_flag as ``btf__add_field`` sets it."""
    members = tuple(m for i, m in enumerate(typ.members) if i in kept)
    kind_flag = False
    for m in members:
        bitfield = m.bitfield_size > 0 or m.bit_offset % 8 != 0
        invalid = (bitfield and (m.bitfield_size == 0 or m.bitfield_size > 255)) or (
            bitfield and m.bit_offset > 0xFFFFFF
        )
        if isinstance(typ, t.Union) and m.bit_offset:
            invalid = True
        if invalid:
            message = (
                f"[{type_id}] {typ.name or '(anon)'}: member {m.name or '(anon)'} at bit "
                f"{m.bit_offset} cannot be added by libbpf (bpftool fails with EINVAL)"
            )
            if strict:
                raise MinimizeError(message)
            warnings.append(message + "; kept the source encoding")
            return dataclasses.replace(typ, members=members)
        kind_flag = kind_flag or bitfield
    return dataclasses.replace(typ, members=members, kind_flag=kind_flag)


def emit(
    source: Btf,
    marks: Marks,
    *,
    strict: bool = False,
    byte_order: ByteOrder | None = None,
    warnings: list[str] | None = None,
) -> tuple[bytes, dict[int, int]]:
    """Raw minimized BTF and the old -> new id map."""
    notes = warnings if warnings is not None else []
    ids: dict[int, int] = {}
    kept: list[t.Type] = []
    for old in sorted(marks.types):
        if old == 0:
            continue
        if old >= source.type_count:
            raise MinimizeError(f"marked type id {old} is outside the source BTF")
        typ = source.type(old)
        if isinstance(typ, (t.Struct, t.Union)):
            typ = _trim_composite(old, typ, marks.members.get(old, set()), strict, notes)
        kept.append(typ)
        ids[old] = len(kept)
    remapped = [_remap(typ, ids) for typ in kept]
    order: ByteOrder = byte_order or ("little" if sys.byteorder == "little" else "big")
    return encode_btf(remapped, byte_order=order, strings=StringTableBuilder()), ids
