""".BTF.ext: function info, line info and CO-RE relocation records of a BPF object.

The layout is libbpf's ``struct btf_ext_header`` and ``btf_ext_info_sec`` (src/btf.c,
``btf_ext_parse_hdr`` / ``btf_ext_parse_sec_info``), the records are ``struct bpf_func_info``,
``bpf_line_info`` and ``bpf_core_relo`` from include/uapi/linux/bpf.h. Strings (section names,
access strings, file names) live in the object's ``.BTF`` string table.

Records keep the file's order: libbpf resolves CO-RE relocations in that order and prunes its
candidate lists as it goes, so the order changes the outcome (docs: btfgen-spec §3.8).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from ..errors import BtfFormatError, CoreReloError
from . import types as t
from .parse import Btf, ModifierChainError, TypeNotFoundError
from .wire import BTF_MAGIC, ByteOrder, detect_byte_order

#: ``hdr_len`` up to ``line_info_len``; objects without CO-RE records stop here.
EXT_HEADER_LEN = 24
#: ``hdr_len`` including ``core_relo_off`` / ``core_relo_len``.
EXT_HEADER_LEN_CORE = 32
#: A header longer than this is refused (libbpf only bounds it by the section size).
MAX_EXT_HEADER_LEN = 4096
#: Record sizes larger than this are garbage (cilium/ebpf's ``maxRecordSize``).
MAX_RECORD_SIZE = 256
#: Mirrors BPF_CORE_SPEC_MAX_LEN in libbpf relo_core.h.
MAX_ACCESS_LEN = 64

FUNC_INFO_MIN = 8
LINE_INFO_MIN = 16
CORE_RELO_MIN = 16


class CoreReloKind(IntEnum):
    """``enum bpf_core_relo_kind`` (include/uapi/linux/bpf.h)."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12  # clang 15+

    @property
    def short_name(self) -> str:
        """The name libbpf prints in its debug log (``core_relo_kind_str``)."""
        return _SHORT_NAMES[self]

    @property
    def is_field_based(self) -> bool:
        return self <= CoreReloKind.FIELD_RSHIFT_U64

    @property
    def is_type_based(self) -> bool:
        return self in _TYPE_BASED

    @property
    def is_enumval_based(self) -> bool:
        return self in (CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE)

    @classmethod
    def from_short_name(cls, name: str) -> CoreReloKind:
        """The kind libbpf logs as ``name`` (``byte_off``, ``type_size``...)."""
        for kind, short in _SHORT_NAMES.items():
            if short == name:
                return kind
        raise ValueError(f"unknown CO-RE relocation kind name {name!r}")


_SHORT_NAMES = {
    CoreReloKind.FIELD_BYTE_OFFSET: "byte_off",
    CoreReloKind.FIELD_BYTE_SIZE: "byte_sz",
    CoreReloKind.FIELD_EXISTS: "field_exists",
    CoreReloKind.FIELD_SIGNED: "signed",
    CoreReloKind.FIELD_LSHIFT_U64: "lshift_u64",
    CoreReloKind.FIELD_RSHIFT_U64: "rshift_u64",
    CoreReloKind.TYPE_ID_LOCAL: "local_type_id",
    CoreReloKind.TYPE_ID_TARGET: "target_type_id",
    CoreReloKind.TYPE_EXISTS: "type_exists",
    CoreReloKind.TYPE_SIZE: "type_size",
    CoreReloKind.ENUMVAL_EXISTS: "enumval_exists",
    CoreReloKind.ENUMVAL_VALUE: "enumval_value",
    CoreReloKind.TYPE_MATCHES: "type_matches",
}
_TYPE_BASED = frozenset(
    {
        CoreReloKind.TYPE_ID_LOCAL,
        CoreReloKind.TYPE_ID_TARGET,
        CoreReloKind.TYPE_EXISTS,
        CoreReloKind.TYPE_SIZE,
        CoreReloKind.TYPE_MATCHES,
    }
)


@dataclass(frozen=True, slots=True)
class FuncInfo:
    """``bpf_func_info``: FUNC ``type_id`` starts at ``insn_off`` (bytes) of ``section``."""

    section: str
    insn_off: int
    type_id: int


@dataclass(frozen=True, slots=True)
class LineInfo:
    """``bpf_line_info``: source position of the instruction at ``insn_off`` (bytes)."""

    section: str
    insn_off: int
    file_name: str
    line: str
    line_num: int
    column: int


@dataclass(frozen=True, slots=True)
class CoreRelo:
    """``bpf_core_relo``: one CO-RE relocation of the instruction at ``insn_off`` (bytes)."""

    section: str
    insn_off: int
    type_id: int
    access_str: str
    kind: CoreReloKind

    @property
    def insn_index(self) -> int:
        """Instruction index within the section (libbpf divides ``insn_off`` by 8)."""
        return self.insn_off // 8


@dataclass(frozen=True, slots=True)
class BtfExt:
    """A parsed ``.BTF.ext`` section; every tuple is in file order."""

    byte_order: ByteOrder
    hdr_len: int
    func_infos: tuple[FuncInfo, ...]
    line_infos: tuple[LineInfo, ...]
    core_relos: tuple[CoreRelo, ...]


R = TypeVar("R")
_Decode = Callable[[str, tuple[int, ...], int], R]


class _Reader:
    """Bounds-checked reads from one ``.BTF.ext`` blob; errors name the subsection."""

    def __init__(self, data: bytes, order: ByteOrder, btf: Btf, source: str | None):
        self.data = data
        self.order = order
        self.btf = btf
        self.source = source
        self.prefix = "<" if order == "little" else ">"
        self.u32 = struct.Struct(self.prefix + "I")

    def error(self, message: str, subsection: str, offset: int) -> BtfFormatError:
        return BtfFormatError(
            message, section=f".BTF.ext {subsection}", offset=offset, source=self.source
        )

    def string(self, offset: int, subsection: str, at: int) -> str:
        try:
            return self.btf.strings.get(offset)
        except BtfFormatError as err:
            raise self.error(f"string offset {offset}: {err.message}", subsection, at) from err

    def subsection(
        self,
        name: str,
        off: int,
        length: int,
        hdr_len: int,
        min_size: int,
        decode: _Decode[R],
    ) -> tuple[R, ...]:
        """Records of one subsection (libbpf ``btf_ext_parse_sec_info``)."""
        if length == 0:
            return ()
        start = hdr_len + off
        if off % 4:
            raise self.error(f"subsection offset {off} is not 4-byte aligned", name, start)
        end = start + length
        if end > len(self.data):
            raise self.error(
                f"subsection [{off}, +{length}) runs past the end of .BTF.ext "
                f"({len(self.data) - hdr_len} bytes after the header)",
                name,
                start,
            )
        if length < 4:
            raise self.error("subsection too short for its record size", name, start)
        (rec_size,) = self.u32.unpack_from(self.data, start)
        if rec_size < min_size or rec_size % 4 or rec_size > MAX_RECORD_SIZE:
            raise self.error(
                f"bad record size {rec_size} (at least {min_size}, a multiple of 4, "
                f"at most {MAX_RECORD_SIZE})",
                name,
                start,
            )
        if self.order != sys.byteorder and rec_size != min_size:
            # libbpf byte-swaps only the records it knows (btf_ext_bswap_info, v1.5+).
            raise self.error(
                f"record size {rec_size} of non-native-endian data must be {min_size}",
                name,
                start,
            )
        fields = struct.Struct(self.prefix + "I" * (min_size // 4))
        pos = start + 4
        records: list[R] = []
        while pos < end:
            if end - pos < 8:
                raise self.error("truncated section header", name, pos)
            sec_name_off, num_info = struct.unpack_from(self.prefix + "II", self.data, pos)
            if num_info == 0:
                raise self.error("section with zero records", name, pos)
            section = self.string(sec_name_off, name, pos)
            if num_info > (end - pos - 8) // rec_size:
                raise self.error(
                    f"{num_info} records of {rec_size} bytes overrun the subsection", name, pos
                )
            pos += 8
            for _ in range(num_info):
                records.append(decode(section, fields.unpack_from(self.data, pos), pos))
                pos += rec_size
        return tuple(records)


def parse_btf_ext(data: bytes, btf: Btf, *, source: str | None = None) -> BtfExt:
    """Parse ``.BTF.ext`` ``data``; names and access strings come from ``btf`` (the ``.BTF``)."""
    data = bytes(data)
    order = detect_byte_order(data)

    def fail(message: str, offset: int = 0) -> BtfFormatError:
        return BtfFormatError(message, section=".BTF.ext header", offset=offset, source=source)

    if len(data) < EXT_HEADER_LEN:
        raise fail(f"section is {len(data)} bytes, shorter than the {EXT_HEADER_LEN}-byte header")
    if order is None:
        raise fail(f"bad magic {data[0]:02x}{data[1]:02x} (expected {BTF_MAGIC:04x})")
    p = "<" if order == "little" else ">"
    _, version, flags, hdr_len = struct.unpack_from(p + "HBBI", data, 0)
    if version != 1:
        raise fail(f"unsupported version {version}", 2)
    if flags != 0:
        raise fail(f"unsupported flags {flags:#x}", 3)
    if hdr_len < EXT_HEADER_LEN or hdr_len > min(len(data), MAX_EXT_HEADER_LEN):
        raise fail(f"bad header length {hdr_len} for a {len(data)}-byte section", 4)
    func_off, func_len, line_off, line_len = struct.unpack_from(p + "IIII", data, 8)
    core_off = core_len = 0
    if hdr_len >= EXT_HEADER_LEN_CORE:
        core_off, core_len = struct.unpack_from(p + "II", data, 24)

    reader = _Reader(data, order, btf, source)

    def func_info(section: str, f: tuple[int, ...], at: int) -> FuncInfo:
        return FuncInfo(section, f[0], f[1])

    def line_info(section: str, f: tuple[int, ...], at: int) -> LineInfo:
        insn_off, file_off, line_off_, line_col = f
        return LineInfo(
            section,
            insn_off,
            reader.string(file_off, "line_info", at + 4),
            reader.string(line_off_, "line_info", at + 8),
            line_col >> 10,
            line_col & 0x3FF,
        )

    def core_relo(section: str, f: tuple[int, ...], at: int) -> CoreRelo:
        insn_off, type_id, access_off, kind = f
        if kind > CoreReloKind.TYPE_MATCHES:
            raise reader.error(f"unknown relocation kind {kind}", "core_relo", at + 12)
        access = reader.string(access_off, "core_relo", at + 8)
        return CoreRelo(section, insn_off, type_id, access, CoreReloKind(kind))

    return BtfExt(
        byte_order=order,
        hdr_len=hdr_len,
        func_infos=reader.subsection(
            "func_info", func_off, func_len, hdr_len, FUNC_INFO_MIN, func_info
        ),
        line_infos=reader.subsection(
            "line_info", line_off, line_len, hdr_len, LINE_INFO_MIN, line_info
        ),
        core_relos=reader.subsection(
            "core_relo", core_off, core_len, hdr_len, CORE_RELO_MIN, core_relo
        ),
    )


# -- access strings -----------------------------------------------------------------------------


#: What C's isspace() skips in the "C" locale, as sscanf("%d") does before a number.
_C_SPACE = frozenset(" \t\n\v\f\r")
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
#: More significant digits than this always overflow a 64-bit long (19 digits may not).
_LONG_DIGITS = 19


class AccessStringError(Exception):
    """Internal: an access string libbpf's parser refuses (``kind``: "syntax" or "length")."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def scan_access_str(text: str) -> list[int]:
    """The indices of an access string as ``bpf_core_parse_spec`` reads them.

    libbpf skips one ``:`` and reads each index with ``sscanf("%d%n")`` until the string ends,
    refusing more than ``BPF_CORE_SPEC_MAX_LEN`` indices (-E2BIG) or text that is not a number
    (-EINVAL). glibc's ``%d`` skips white space, takes a sign and the digits, saturates to the
    range of a 64-bit long (strtol) and keeps the low 32 bits: ``4294967297`` reads as 1,
    ``99999999999999999999`` as -1. That is mirrored exactly; a number of any length costs one
    pass over its digits and never reaches Python's int() with more than 19 of them.
    Raises :class:`AccessStringError`.
    """
    if not text or text[0] == ":":
        raise AccessStringError("syntax")
    raw: list[int] = []
    pos, end = 0, len(text)
    while pos < end:
        if text[pos] == ":":
            pos += 1
        while pos < end and text[pos] in _C_SPACE:
            pos += 1
        negative = pos < end and text[pos] == "-"
        if pos < end and text[pos] in "+-":
            pos += 1
        first = pos
        while pos < end and "0" <= text[pos] <= "9":
            pos += 1
        if pos == first:
            raise AccessStringError("syntax")  # sscanf matched nothing (or hit the end)
        if len(raw) == MAX_ACCESS_LEN:
            raise AccessStringError("length")
        digits = text[first:pos].lstrip("0")
        if len(digits) > _LONG_DIGITS:
            value = _LONG_MIN if negative else _LONG_MAX
        else:
            value = int(digits or "0")
            value = max(_LONG_MIN, -value) if negative else min(_LONG_MAX, value)
        value &= 0xFFFFFFFF  # the long stored into an int: its low 32 bits, signed
        raw.append(value - ((value & 0x80000000) << 1))
    return raw


def parse_access_str(relo: CoreRelo) -> list[int]:
    """The indices of ``relo.access_str``, as libbpf reads them (:func:`scan_access_str`);
    a negative index is refused too (libbpf would index out of bounds with it)."""
    text = relo.access_str
    try:
        numbers = scan_access_str(text)
    except AccessStringError as err:
        what = "too many indices in" if err.kind == "length" else "malformed"
        raise _relo_error(relo, f"{what} access string {shown_access(text)}") from None
    if any(n < 0 for n in numbers):
        raise _relo_error(relo, f"negative index in access string {shown_access(text)}")
    return numbers


#: How much of a hostile access string an error message quotes.
SHOWN_ACCESS_CHARS = 80


def shown_access(text: str) -> str:
    """``text`` quoted for a message, cut short when long (a hostile one may be megabytes)."""
    if len(text) <= SHOWN_ACCESS_CHARS:
        return repr(text)
    return f"{text[:SHOWN_ACCESS_CHARS]!r}... ({len(text)} characters)"


def _relo_error(relo: CoreRelo, message: str) -> CoreReloError:
    return CoreReloError(
        f"CO-RE relocation at {relo.section} insn {relo.insn_index} "
        f"({relo.kind.short_name}, type {relo.type_id}): {message}"
    )


def _kind_word(typ: t.Type, void: str) -> str:
    """The kind as libbpf's messages spell it (``btf_kind_str``, lower case)."""
    return void if isinstance(typ, t.Void) else typ.kind.name.lower()


def _skip_mods_and_typedefs(btf: Btf, type_id: int, relo: CoreRelo) -> tuple[int, t.Type]:
    _lookup(btf, type_id, relo)
    try:
        type_id = btf.skip_mods(type_id)
    except (ModifierChainError, TypeNotFoundError) as err:
        raise _relo_error(relo, str(err)) from None
    return type_id, btf.type(type_id)


def _lookup(btf: Btf, type_id: int, relo: CoreRelo) -> t.Type:
    if not 0 <= type_id < btf.type_count:
        raise _relo_error(relo, f"type id {type_id} is not in the local BTF")
    return btf.type(type_id)


def _root_text(btf: Btf, relo: CoreRelo) -> str:
    root = _lookup(btf, relo.type_id, relo)
    word = _kind_word(root, "unknown")
    return f"{word} {root.name or '<anon>'}"


def describe_access(btf: Btf, relo: CoreRelo) -> str:
    """A C-like rendering of ``relo`` against its local ``btf``, as libbpf logs the local spec.

    ``struct task_struct.comm[3]`` for field kinds (anonymous members are not shown, the root
    index only when non-zero), ``typedef pid_t`` for type kinds, ``enum pid_type::PIDTYPE_TGID = 1``
    for enum kinds. Raises :class:`CoreReloError` when the record does not fit the BTF.
    """
    root = _root_text(btf, relo)
    if relo.kind.is_type_based:
        if relo.access_str != "0":  # libbpf compares the text itself
            raise _relo_error(
                relo, f"type-based access string must be '0', not {shown_access(relo.access_str)}"
            )
        return root
    numbers = parse_access_str(relo)
    _, base = _skip_mods_and_typedefs(btf, relo.type_id, relo)
    if relo.kind.is_enumval_based:
        if not isinstance(base, (t.Enum, t.Enum64)) or len(numbers) != 1:
            raise _relo_error(
                relo, f"enum access {shown_access(relo.access_str)} on a non-enum or not one index"
            )
        if numbers[0] >= len(base.values):
            raise _relo_error(relo, f"enumerator {numbers[0]} of {len(base.values)}")
        value = base.values[numbers[0]]
        return f"{root}::{value.name} = {value.value}"
    return root + _field_path(btf, relo, numbers)


def _field_path(btf: Btf, relo: CoreRelo, numbers: list[int]) -> str:
    text = f"[{numbers[0]}]" if numbers[0] else ""
    cur, cur_t = _skip_mods_and_typedefs(btf, relo.type_id, relo)
    last_named: tuple[t.Struct | t.Union, int] | None = None
    for idx in numbers[1:]:
        cur, cur_t = _skip_mods_and_typedefs(btf, cur, relo)
        if isinstance(cur_t, (t.Struct, t.Union)):
            if idx >= len(cur_t.members):
                raise _relo_error(relo, f"member {idx} of a {len(cur_t.members)}-member type")
            member = cur_t.members[idx]
            if member.name:
                text += f".{member.name}"
                last_named = (cur_t, idx)
            else:
                last_named = None
            cur = member.type_id
        elif isinstance(cur_t, t.Array):
            flexible = (
                cur_t.nelems == 0
                and last_named is not None
                and last_named[1] == len(last_named[0].members) - 1
            )
            if idx >= cur_t.nelems and not flexible:
                raise _relo_error(relo, f"index {idx} of a {cur_t.nelems}-element array")
            text += f"[{idx}]"
            cur, last_named = cur_t.type_id, None
        else:
            raise _relo_error(relo, f"access {idx} into a {_kind_word(cur_t, 'void')}")
    return text
