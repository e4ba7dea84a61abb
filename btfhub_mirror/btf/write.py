"""Encode BTF types back to raw bytes.

The layout is libbpf's ``btf_get_raw_data``: header (24 bytes, or libbpf 1.8's 32), type
section at offset 0, the optional layout section, string section right after it
(``str_off = type_len`` without a layout). Re-encoding a parsed blob with its own string
section as the seed reproduces the input byte for byte. :func:`pack_header` is the one place a
header is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from . import types as t
from .parse import Btf, parse_header
from .strings import StringTableBuilder
from .wire import (
    BTF_MAGIC,
    BTF_VERSION,
    HEADER_LEN,
    HEADER_LEN_LAYOUT,
    HEADER_LENS,
    LAYOUTS,
    ByteOrder,
    Header,
    Kind,
    info_word,
)


def encode_type(typ: t.Type, strings: StringTableBuilder, order: ByteOrder) -> bytes:
    """One type record; names are interned in ``strings``."""
    lay = LAYOUTS[order]
    name = strings.add(typ.name) if typ.name else 0
    kflag = typ.kind_flag
    common = lay.common.pack
    match typ:
        case t.Int():
            enc = (typ.encoding << 24) | (typ.bit_offset << 16) | typ.bits
            return common(name, info_word(Kind.INT, 0, kflag), typ.size) + lay.u32.pack(enc)
        case t.Pointer() | t.Typedef() | t.Volatile() | t.Const() | t.Restrict() | t.TypeTag():
            return common(name, info_word(typ.kind, 0, kflag), typ.type_id)
        case t.Array():
            return common(name, info_word(Kind.ARRAY, 0, kflag), 0) + lay.u32x3.pack(
                typ.type_id, typ.index_type_id, typ.nelems
            )
        case t.Struct() | t.Union():
            parts = [common(name, info_word(typ.kind, len(typ.members), kflag), typ.size)]
            for m in typ.members:
                off = (m.bitfield_size << 24) | m.bit_offset if kflag else m.bit_offset
                parts.append(lay.u32x3.pack(strings.add(m.name) if m.name else 0, m.type_id, off))
            return b"".join(parts)
        case t.Enum():
            parts = [common(name, info_word(Kind.ENUM, len(typ.values), kflag), typ.size)]
            for v in typ.values:
                vname = strings.add(v.name) if v.name else 0
                parts.append(lay.u32x2.pack(vname, v.value & 0xFFFFFFFF))
            return b"".join(parts)
        case t.Enum64():
            parts = [common(name, info_word(Kind.ENUM64, len(typ.values), kflag), typ.size)]
            for v in typ.values:
                raw = v.value & 0xFFFFFFFFFFFFFFFF
                vname = strings.add(v.name) if v.name else 0
                parts.append(lay.u32x3.pack(vname, raw & 0xFFFFFFFF, raw >> 32))
            return b"".join(parts)
        case t.Fwd():
            return common(name, info_word(Kind.FWD, 0, kflag), 0)
        case t.Func():
            return common(name, info_word(Kind.FUNC, typ.linkage, kflag), typ.type_id)
        case t.FuncProto():
            parts = [
                common(name, info_word(Kind.FUNC_PROTO, len(typ.params), kflag), typ.return_type_id)
            ]
            for p in typ.params:
                parts.append(lay.u32x2.pack(strings.add(p.name) if p.name else 0, p.type_id))
            return b"".join(parts)
        case t.Var():
            return common(name, info_word(Kind.VAR, 0, kflag), typ.type_id) + lay.u32.pack(
                typ.linkage
            )
        case t.Datasec():
            parts = [common(name, info_word(Kind.DATASEC, len(typ.vars), kflag), typ.size)]
            parts.extend(lay.u32x3.pack(v.type_id, v.offset, v.size) for v in typ.vars)
            return b"".join(parts)
        case t.Float():
            return common(name, info_word(Kind.FLOAT, 0, kflag), typ.size)
        case t.DeclTag():
            return common(name, info_word(Kind.DECL_TAG, 0, kflag), typ.type_id) + lay.i32.pack(
                typ.component_idx
            )
        case t.Void():
            raise TypeError(f"cannot encode {typ!r}: void is implied, never stored")
        case _:
            t.assert_never(typ)


def pack_header(header: Header, byte_order: ByteOrder) -> bytes:
    """``struct btf_header`` as ``header.hdr_len`` bytes (24, or 32 with the layout fields)."""
    if header.hdr_len not in HEADER_LENS:
        raise ValueError(f"header length must be one of {HEADER_LENS}, not {header.hdr_len}")
    if header.layout_len and header.hdr_len < HEADER_LEN_LAYOUT:
        raise ValueError(f"a layout section needs the {HEADER_LEN_LAYOUT}-byte header")
    lay = LAYOUTS[byte_order]
    packed = lay.header.pack(
        header.magic,
        header.version,
        header.flags,
        header.hdr_len,
        header.type_off,
        header.type_len,
        header.str_off,
        header.str_len,
    )
    if header.hdr_len == HEADER_LEN_LAYOUT:
        # libbpf 1.8 leaves layout_off 0 when there is no layout (btf_hdr_update_type_len
        # moves it only while btf->layout is set).
        packed += lay.layout_ext.pack(
            header.layout_off if header.layout_len else 0, header.layout_len
        )
    return packed


def encode_btf(
    types: Iterable[t.Type],
    *,
    byte_order: ByteOrder = "little",
    strings: StringTableBuilder | None = None,
    header_len: int = HEADER_LEN,
    layout: bytes = b"",
) -> bytes:
    """Raw BTF holding ``types`` as ids 1, 2, ... (or after the base when ``strings`` is split).

    Sections in libbpf's order (``btf_get_raw_data``): types, the optional layout, strings.
    """
    builder = strings if strings is not None else StringTableBuilder()
    type_data = b"".join(encode_type(typ, builder, byte_order) for typ in types)
    str_data = builder.to_bytes()
    type_len = len(type_data)
    header = Header(
        BTF_MAGIC,
        BTF_VERSION,
        0,
        header_len,
        0,
        type_len,
        type_len + len(layout),
        len(str_data),
        type_len,
        len(layout),
    )
    return pack_header(header, byte_order) + type_data + layout + str_data


def with_header_len(data: bytes, header_len: int, *, source: str | None = None) -> bytes:
    """Raw BTF ``data`` with its header rewritten to ``header_len`` bytes, sections untouched.

    ``with_header_len(bpftool_7_1_output, 32)`` is what bpftool 7.8 writes for the same
    inputs: libbpf 1.8 changed only ``sizeof(struct btf_header)``, not how sections are laid
    out after it (all offsets are relative to the header's end).
    """
    header, order = parse_header(data, source)
    if header.hdr_len == header_len:
        return data
    if header_len not in HEADER_LENS:
        raise ValueError(f"header length must be one of {HEADER_LENS}, not {header_len}")
    return pack_header(replace(header, hdr_len=header_len), order) + data[header.hdr_len :]


def write_btf(btf: Btf, *, byte_order: ByteOrder | None = None) -> bytes:
    """Re-encode a parsed blob (its own types; split BTF stays split) from its decoded types."""
    base = btf.base.strings if btf.base is not None else None
    builder = StringTableBuilder(btf.strings.data, base=base)
    return encode_btf(
        (typ for _, typ in btf.types()),
        byte_order=byte_order or btf.byte_order,
        strings=builder,
        header_len=HEADER_LEN_LAYOUT if btf.header.hdr_len >= HEADER_LEN_LAYOUT else HEADER_LEN,
        layout=btf.layout,
    )
