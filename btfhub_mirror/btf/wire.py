"""BTF wire format: header, kinds and the fixed record layouts.

Mirrors ``include/uapi/linux/btf.h`` and the kernel's Documentation/bpf/btf.rst. Everything here
is data; parsing and encoding live in ``parse.py`` and ``write.py``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
#: The classic header, ``offsetofend(struct btf_header, str_len)``: libbpf <= 1.7 writes exactly
#: this (bpftool 7.1 and 7.5 do, measured), and every libbpf reads it in either byte order.
HEADER_LEN = 24
#: ``sizeof(struct btf_header)`` since libbpf 1.8 ("btf: Add BTF kind layout encoding to UAPI",
#: 2026): ``layout_off``/``layout_len`` follow ``str_len``. ``btf_new_empty()`` sets
#: ``hdr_len = sizeof(struct btf_header)`` and, without ``opts.add_layout`` (bpftool's
#: ``btf__new_empty()`` for min_core_btf), leaves both new fields 0, so bpftool 7.8 writes
#: this header with zeros there. libbpf <= 1.7 reads it natively (it never looks past
#: ``str_len``) but refuses it in the other byte order (``hdr_len != sizeof(struct btf_header)``).
HEADER_LEN_LAYOUT = 32
#: The header lengths the writer can produce, each the one some libbpf writes.
HEADER_LENS = (HEADER_LEN, HEADER_LEN_LAYOUT)
#: Headers larger than this are refused outright (libbpf accepts any size up to the data size,
#: ignoring a non-zero unknown tail but then refusing to modify the BTF; a sane cap and a zero
#: tail keep hostile input from steering us).
MAX_HEADER_LEN = 4096
#: ``sizeof(struct btf_layout)``: ``__u8 info_sz; __u8 elem_sz; __u16 flags`` per kind, indexed
#: by kind number; the layout section sits between the type and the string sections.
LAYOUT_ENTRY_LEN = 4

ByteOrder = Literal["little", "big"]


class Kind(IntEnum):
    """``BTF_KIND_*``; the comment gives the kernel that added each kind."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12  # 5.0
    FUNC_PROTO = 13  # 5.0
    VAR = 14  # 5.2
    DATASEC = 15  # 5.2
    FLOAT = 16  # 5.13
    DECL_TAG = 17  # 5.16
    TYPE_TAG = 18  # 5.17
    ENUM64 = 19  # 6.0


KIND_MAX = Kind.ENUM64

#: Bytes that follow the 12-byte common part, independent of vlen (btf.rst "Type encoding").
FIXED_TRAILER = {
    Kind.INT: 4,
    Kind.ARRAY: 12,
    Kind.VAR: 4,
    Kind.DECL_TAG: 4,
}
#: Bytes per vlen item.
VLEN_ITEM = {
    Kind.STRUCT: 12,
    Kind.UNION: 12,
    Kind.ENUM: 8,
    Kind.FUNC_PROTO: 8,
    Kind.DATASEC: 12,
    Kind.ENUM64: 12,
}

# Flat tables indexed by kind number, for the hot indexing loop.
FIXED_BY_KIND: tuple[int, ...] = tuple(FIXED_TRAILER.get(Kind(k), 0) for k in range(KIND_MAX + 1))
ITEM_BY_KIND: tuple[int, ...] = tuple(VLEN_ITEM.get(Kind(k), 0) for k in range(KIND_MAX + 1))

# INT encoding bits (BTF_INT_ENCODING).
INT_SIGNED = 1 << 0
INT_CHAR = 1 << 1
INT_BOOL = 1 << 2

# FUNC linkage (stored in vlen) and VAR linkage.
FUNC_STATIC, FUNC_GLOBAL, FUNC_EXTERN = 0, 1, 2
VAR_STATIC, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN = 0, 1, 2


def info_word(kind: int, vlen: int, kind_flag: bool) -> int:
    """Pack ``btf_type.info``: vlen in bits 0-23, kind in 24-30, kind_flag in 31."""
    return (int(kind_flag) << 31) | ((kind & 0x7F) << 24) | (vlen & 0xFFFFFF)


@dataclass(frozen=True, slots=True)
class Header:
    """``struct btf_header``; offsets are relative to the end of the header."""

    magic: int
    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int
    #: Only in headers of 32 bytes or more (libbpf 1.8); 0 otherwise. ``layout_off`` means
    #: nothing when ``layout_len`` is 0 (libbpf ignores it then).
    layout_off: int = 0
    layout_len: int = 0


class Layouts:
    """Precompiled ``struct.Struct`` objects for one byte order."""

    def __init__(self, byte_order: ByteOrder):
        p = "<" if byte_order == "little" else ">"
        self.byte_order: ByteOrder = byte_order
        self.prefix = p
        self.u16 = struct.Struct(p + "H")
        self.u32 = struct.Struct(p + "I")
        self.i32 = struct.Struct(p + "i")
        self.header = struct.Struct(p + "HBBIIIII")
        self.layout_ext = struct.Struct(p + "II")
        self.common = struct.Struct(p + "III")  # name_off, info, size_or_type
        self.u32x2 = struct.Struct(p + "II")
        self.u32x3 = struct.Struct(p + "III")
        self.u32_i32 = struct.Struct(p + "Ii")


LAYOUTS: dict[ByteOrder, Layouts] = {"little": Layouts("little"), "big": Layouts("big")}


def detect_byte_order(data: bytes | memoryview) -> ByteOrder | None:
    """Byte order from the magic (``9F EB`` little, ``EB 9F`` big), or None if neither."""
    if len(data) < 2:
        return None
    first, second = data[0], data[1]
    if (first, second) == (0x9F, 0xEB):
        return "little"
    if (first, second) == (0xEB, 0x9F):
        return "big"
    return None
