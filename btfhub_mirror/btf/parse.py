"""Raw BTF bytes to a lazily decoded :class:`Btf`.

Opening a BTF walks the type section once, recording each record's offset and kind; a type is
decoded only when asked for, then memoised. Every offset and length is checked before use and
every count taken from the input is bounded by the bytes actually present, so hostile input ends
in :class:`BtfFormatError` rather than an IndexError, a hang or a huge allocation.

Header rules mirror libbpf ``btf_parse_hdr`` / ``btf_parse_str_sec`` (src/btf.c); split BTF
follows ``btf__parse_split``: ids continue after the base's, string offsets after its section.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import BtfFormatError, BtfmirrorError, NotFoundError
from . import types as t
from .names import EssentialTable, essential_index
from .strings import MAX_STRING_OFFSET, StringTable
from .wire import (
    BTF_VERSION,
    FIXED_BY_KIND,
    HEADER_LEN,
    HEADER_LEN_LAYOUT,
    ITEM_BY_KIND,
    KIND_MAX,
    LAYOUT_ENTRY_LEN,
    LAYOUTS,
    MAX_HEADER_LEN,
    ByteOrder,
    Header,
    Kind,
    detect_byte_order,
)

VOID = t.Void()
_KIND_BY_NUMBER = tuple(Kind)  # indexing a tuple is far cheaper than calling Kind(n)
_SIZED_KINDS = frozenset(
    {Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC, Kind.FLOAT}
)
#: libbpf's btf_is_mod() kinds plus TYPEDEF: what ``skip_mods_and_typedefs`` steps through.
MOD_KINDS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG, Kind.TYPEDEF})
#: ``skip_mods_and_typedefs`` has no limit in libbpf (kernel BTF is acyclic after validation);
#: a cap keeps a hostile typedef cycle from hanging us. A chain looks at most this many types.
MAX_MOD_CHAIN = 1024
#: The 11 spellings of "long" libbpf's determine_ptr_size() looks for.
_LONG_NAMES = frozenset(
    {
        "long",
        "long int",
        "int long",
        "unsigned long",
        "long unsigned",
        "unsigned long int",
        "unsigned int long",
        "long unsigned int",
        "long int unsigned",
        "int unsigned long",
        "int long unsigned",
    }
)


#: Record sizes in 4-byte words, by kind: the common header plus fixed data, and per item.
_FAST_FIXED_WORDS = tuple((12 + n) // 4 for n in FIXED_BY_KIND[: KIND_MAX + 1])
_FAST_ITEM_WORDS = tuple(n // 4 for n in ITEM_BY_KIND[: KIND_MAX + 1])


class TypeNotFoundError(NotFoundError):
    """A type id or name that the BTF does not have."""


class ModifierChainError(BtfmirrorError):
    """A modifier/typedef chain longer than :data:`MAX_MOD_CHAIN` (or a cycle)."""

    def __init__(self, type_id: int, source: str | None = None):
        self.type_id = type_id  # where the walk gave up
        self.reason = f"modifier/typedef chain through [{type_id}] is too long"
        super().__init__(f"{source}: {self.reason}" if source else self.reason)


class MemberLayout(NamedTuple):
    """Where a struct or union's members are, by name, read without decoding the type."""

    anonymous: list[int]  # indices of the anonymous members, ascending
    first_by_name: dict[str, int]  # each member name -> the index of its first member
    members: int  # how many there are


@dataclass(frozen=True, slots=True)
class TypeIndex:
    """Per-type record offset, kind and name offset: what opening a BTF computes in one pass.

    Saved by :mod:`btfhub_mirror.btf.index` so a kernel seen before opens without the walk.
    """

    offsets: Sequence[int]
    kinds: Sequence[int]
    name_offs: Sequence[int]


class Btf:
    """One parsed BTF blob (base or split). Type ids start at :attr:`start_id`."""

    def __init__(
        self,
        data: bytes | memoryview,
        header: Header,
        byte_order: ByteOrder,
        base: Btf | None = None,
        source: str | None = None,
        type_index: TypeIndex | None = None,
        *,
        ptr_size: int | None = None,
        essential_table: EssentialTable | None = None,
    ):
        self.data = data
        self.header = header
        self.byte_order: ByteOrder = byte_order
        self.base = base
        self.source = source
        self._layouts = LAYOUTS[byte_order]
        body = header.hdr_len
        self.types_start = body + header.type_off
        self.types_end = self.types_start + header.type_len
        str_start = body + header.str_off
        base_strings = base.strings if base is not None else None
        str_data = bytes(data[str_start : str_start + header.str_len])
        self.strings: StringTable = StringTable(str_data, base_strings)
        layout_start = body + header.layout_off
        self.layout = bytes(data[layout_start : layout_start + header.layout_len])
        self.start_id = base.type_count if base is not None else 1
        self._offsets: Sequence[int]
        self._kinds: Sequence[int]
        self._name_offs: Sequence[int]
        if type_index is None:
            self._index_types()
        else:
            count = len(type_index.offsets)
            if len(type_index.kinds) != count or len(type_index.name_offs) != count:
                raise self._error("inconsistent saved type index", "types", self.types_start)
            self._offsets = type_index.offsets
            self._kinds = type_index.kinds
            self._name_offs = type_index.name_offs
        self._cache: list[t.Type | None] = [None] * len(self._offsets)
        self._by_name: dict[str, list[int]] | None = None
        self._by_name_error: BtfFormatError | None = None
        self._members: dict[tuple[int, int], t.Member] = {}
        # What lookups derive from this blob lives exactly as long as it, built on first use
        # (or handed over by whoever opened it: the ELF class, a saved index).
        self._ptr_size = ptr_size
        self._essential_names: dict[str, list[int]] | None = None
        self._essential_table = essential_table
        self._essential_error: BtfmirrorError | None = None
        #: Set by :func:`.cache.attach_search_lookup` for a BTF opened once: answers own ids
        #: by searching the string section instead of building the table.
        self._essential_lookup: Callable[[str], list[int]] | None = None
        self._member_layouts: dict[int, MemberLayout] = {}
        self._mod_chains: dict[int, tuple[int, int]] = {}

    # -- indexing ---------------------------------------------------------------------------

    def _error(self, message: str, section: str, offset: int) -> BtfFormatError:
        return BtfFormatError(message, section=section, offset=offset, source=self.source)

    def _index_types(self) -> None:
        if not self._index_types_fast():
            self._index_types_checked()

    def _index_types_fast(self) -> bool:
        """The walk on host-order words; False (nothing kept) on anything unusual, which the
        checked walk then reports precisely. About a third faster than unpacking records."""
        start, end = self.types_start, self.types_end
        if self.byte_order != sys.byteorder or start % 4 or (end - start) % 4:
            return False
        words = memoryview(self.data)[start:end].cast("I")
        step_fixed, step_item = _FAST_FIXED_WORDS, _FAST_ITEM_WORDS
        offsets, kinds, name_offs = array("I"), bytearray(), array("I")
        add_off, add_kind, add_name = offsets.append, kinds.append, name_offs.append
        w, count = 0, len(words)
        try:
            while w < count:
                info = words[w + 1]
                kind = (info >> 24) & 0x7F
                add_off(start + 4 * w)
                add_kind(kind)
                add_name(words[w])
                w += step_fixed[kind] + (info & 0xFFFFFF) * step_item[kind]
        except IndexError:  # a truncated record or a kind beyond KIND_MAX
            return False
        if w != count or 0 in kinds:
            return False
        self._offsets, self._kinds, self._name_offs = offsets, kinds, name_offs
        return True

    def _index_types_checked(self) -> None:
        data, pos, end = self.data, self.types_start, self.types_end
        unpack = self._layouts.common.unpack_from
        fixed, item = FIXED_BY_KIND, ITEM_BY_KIND
        offsets, kinds, name_offs = array("I"), bytearray(), array("I")
        self._offsets, self._kinds, self._name_offs = offsets, kinds, name_offs
        add_off, add_kind, add_name = offsets.append, kinds.append, name_offs.append
        while pos < end:
            if pos + 12 > end:
                raise self._error("truncated type record", "types", pos)
            name_off, info, _ = unpack(data, pos)
            kind = (info >> 24) & 0x7F
            if kind == 0 or kind > KIND_MAX:
                raise self._error(self._unknown_kind(kind), "types", pos)
            add_off(pos)
            add_kind(kind)
            add_name(name_off)
            pos += 12 + fixed[kind] + (info & 0xFFFFFF) * item[kind]
        if pos != end:
            last = offsets[-1] if offsets else self.types_start
            raise self._error(
                f"type record overruns the type section by {pos - end} bytes", "types", last
            )

    def _unknown_kind(self, kind: int) -> str:
        # libbpf 1.8 (btf_type_size_unknown) skips a kind it does not know when the layout
        # section (this blob's, else the base's) sizes it; we do not model such types at all.
        layout = self.layout or (self.base.layout if self.base is not None else b"")
        if 0 < kind < len(layout) // LAYOUT_ENTRY_LEN:
            info_sz, elem_sz = layout[LAYOUT_ENTRY_LEN * kind], layout[LAYOUT_ENTRY_LEN * kind + 1]
            return (
                f"BTF kind {kind} is not supported (the layout section describes it: "
                f"info_sz={info_sz} elem_sz={elem_sz}; libbpf 1.8 would skip it)"
            )
        return f"unknown BTF kind {kind}"

    # -- lookups ----------------------------------------------------------------------------

    def type_index(self) -> TypeIndex:
        """This blob's offset/kind/name index (to save and reuse, see ``btf/index.py``)."""
        return TypeIndex(self._offsets, self._kinds, self._name_offs)

    @property
    def type_count(self) -> int:
        """Ids in use including void and the base's: valid ids are ``0 .. type_count - 1``."""
        return self.start_id + len(self._offsets)

    def __len__(self) -> int:
        return self.type_count

    def own_ids(self) -> range:
        """The ids this blob defines (for split BTF, not the base's)."""
        return range(self.start_id, self.type_count)

    def kind(self, type_id: int) -> Kind:
        """Kind of ``type_id`` without decoding it."""
        if type_id == 0:
            return Kind.UNKN
        if type_id < self.start_id:
            assert self.base is not None
            return self.base.kind(type_id)
        idx = type_id - self.start_id
        if idx >= len(self._kinds) or type_id < 0:
            raise TypeNotFoundError(f"type id {type_id} does not exist ({self.type_count} types)")
        return _KIND_BY_NUMBER[self._kinds[idx]]

    def size_of(self, type_id: int) -> int | None:
        """The ``size`` field of a sized kind (INT, STRUCT, UNION, ENUM*, DATASEC, FLOAT), read
        without decoding the type; None for other kinds."""
        if type_id < self.start_id:
            return self.base.size_of(type_id) if self.base is not None and type_id > 0 else None
        if self.kind(type_id) not in _SIZED_KINDS:
            return None
        _, _, size = self._layouts.common.unpack_from(
            self.data, self._offsets[type_id - self.start_id]
        )
        return int(size)

    def _locate(self, type_id: int) -> tuple[Btf, int]:
        """The blob (this one or a base) that defines ``type_id`` > 0, and its index there.
        (:meth:`kind` and :meth:`type`, the hot lookups, do the same inline.)"""
        owner = self
        while type_id < owner.start_id and owner.base is not None and type_id > 0:
            owner = owner.base
        idx = type_id - owner.start_id
        if not 0 <= idx < len(owner._offsets):
            raise TypeNotFoundError(f"type id {type_id} does not exist ({self.type_count} types)")
        return owner, idx

    def name_of(self, type_id: int) -> str:
        """Name of ``type_id`` without decoding the whole record."""
        if type_id == 0:
            return ""
        owner, idx = self._locate(type_id)
        return owner._string(owner._name_offs[idx], owner._offsets[idx])

    def type(self, type_id: int) -> t.Type:
        """Decoded type ``type_id`` (0 is void); memoised."""
        if type_id == 0:
            return VOID
        if type_id < self.start_id:
            if type_id < 0 or self.base is None:
                raise TypeNotFoundError(f"type id {type_id} does not exist")
            return self.base.type(type_id)
        idx = type_id - self.start_id
        cache = self._cache
        if idx >= len(cache):
            raise TypeNotFoundError(f"type id {type_id} does not exist ({self.type_count} types)")
        found = cache[idx]
        if found is None:
            found = cache[idx] = self._decode(idx)
        return found

    __getitem__ = type

    def record(self, type_id: int) -> bytes:
        """The raw record of ``type_id`` (common header plus its kind's data), in file order."""
        if type_id == 0:
            raise TypeNotFoundError("type id 0 (void) has no record")
        owner, idx = self._locate(type_id)
        offsets = owner._offsets
        end = offsets[idx + 1] if idx + 1 < len(offsets) else owner.types_end
        return bytes(owner.data[offsets[idx] : end])

    def _composite_pos(self, type_id: int) -> tuple[Btf, int, int, bool]:
        if type_id < self.start_id and self.base is not None:
            return self.base._composite_pos(type_id)
        if self.kind(type_id) not in (Kind.STRUCT, Kind.UNION):
            raise TypeNotFoundError(f"type id {type_id} is not a struct or union")
        pos = self._offsets[type_id - self.start_id]
        _, info, _ = self._layouts.common.unpack_from(self.data, pos)
        return self, pos + 12, info & 0xFFFFFF, bool(info >> 31)

    def member_names(self, type_id: int) -> list[str]:
        """Member names of struct/union ``type_id`` without decoding the whole type."""
        owner, body, vlen, _ = self._composite_pos(type_id)
        cached = owner.strings.decoded
        return [
            (cached.get(name_off) or owner._string(name_off, body)) if name_off else ""
            for name_off, _, _ in owner._layouts.u32x3.iter_unpack(
                owner.data[body : body + 12 * vlen]
            )
        ]

    def member(self, type_id: int, index: int) -> t.Member:
        """Member ``index`` of struct/union ``type_id`` without decoding the whole type."""
        key = (type_id, index)
        found = self._members.get(key)
        if found is None:
            found = self._members[key] = self._read_member(type_id, index)
        return found

    def _read_member(self, type_id: int, index: int) -> t.Member:
        owner, body, vlen, kflag = self._composite_pos(type_id)
        if not 0 <= index < vlen:
            raise TypeNotFoundError(f"type id {type_id} has no member #{index}")
        name_off, m_type, m_off = owner._layouts.u32x3.unpack_from(owner.data, body + 12 * index)
        name = owner._string(name_off, body + 12 * index) if name_off else ""
        if kflag:
            return t.Member(name, m_type, m_off & 0xFFFFFF, m_off >> 24)
        return t.Member(name, m_type, m_off, 0)

    def types(self) -> Iterator[tuple[int, t.Type]]:
        """``(id, type)`` for this blob's own types, in id order."""
        for type_id in self.own_ids():
            yield type_id, self.type(type_id)

    def ids_by_name(self, name: str) -> list[int]:
        """Ids of every type named ``name`` (this blob's and its base's), ascending."""
        own = self.own_names().get(name, [])
        if self.base is not None:
            return self.base.ids_by_name(name) + own
        return list(own)

    def own_names(self) -> Mapping[str, list[int]]:
        """Name -> ids of this blob's own named types, ascending; built once (never mutate)."""
        if self._by_name_error is not None:
            raise self._by_name_error  # the same failure as the first time, without the walk
        if self._by_name is None:
            index: dict[str, list[int]] = {}
            # Decoding the whole string section in one split is far cheaper than one lookup per
            # type; offsets into the middle of a string (shared suffixes) take the slow path.
            strings = self.strings.by_offset()
            start = self.start_id
            for idx, off in enumerate(self._name_offs):
                if off:
                    name_ = strings.get(off)
                    if name_ is None:
                        try:
                            name_ = self._string(off, self._offsets[idx])
                        except BtfFormatError as err:
                            self._by_name_error = err
                            raise
                    index.setdefault(name_, []).append(start + idx)
            self._by_name = index
        return self._by_name

    def essential_names(self) -> dict[str, list[int]]:
        """Essential name (``___flavor`` stripped) -> this blob's own ids, ascending."""
        if self._essential_names is None:
            self._essential_names = essential_index(self.own_names())
        return self._essential_names

    def essential_table(self) -> EssentialTable:
        """This blob's own essential-name table (see :mod:`.names`), built once.

        A BTF that cannot be indexed (a name offset outside the string section, which libbpf's
        ``btf__parse`` refuses outright) fails the same way every time: the first error is
        kept and raised again, so each relocation does not rebuild the table only to fail.
        """
        if self._essential_error is not None:
            raise self._essential_error
        if self._essential_table is None:
            try:
                table = EssentialTable.from_strings(
                    self.strings.data, self._name_offs, self.start_id, self.name_of
                )
                if table is None:
                    table = EssentialTable.from_index(self.essential_names())
            except BtfmirrorError as err:
                self._essential_error = err
                raise
            self._essential_table = table
        return self._essential_table

    def ids_by_essential_name(self, name: str) -> list[int]:
        """Ids whose essential name is ``name``, ascending, the base's first: libbpf's
        candidate order (``bpf_core_add_cands``)."""
        if self._essential_lookup is not None:
            own = self._essential_lookup(name)
        else:
            own = self.essential_table().lookup(name, self.name_of)
        if self.base is not None:
            return self.base.ids_by_essential_name(name) + own
        return own

    def set_essential_lookup(self, lookup: Callable[[str], list[int]] | None) -> None:
        """Answer :meth:`ids_by_essential_name` (this blob's own ids, ascending) with
        ``lookup`` instead of the table; ``None`` goes back to the table."""
        self._essential_lookup = lookup

    def has_essential_lookup(self) -> bool:
        """Whether names are answered without building the table (a lookup is set)."""
        return self._essential_lookup is not None

    def has_essential_table(self) -> bool:
        """Whether the essential-name table is built (or was given by a saved index)."""
        return self._essential_table is not None

    def pointer_size(self) -> int:
        """``btf__pointer_size``: as set by whoever opened the blob (an ELF object's class, a
        saved index), else ``determine_ptr_size``: the size of the first INT spelled "long",
        the host's when there is none."""
        if self._ptr_size is None:
            size = 8 if sys.maxsize > 2**32 else 4
            for type_id in self.own_ids() if self.base is None else range(1, self.type_count):
                if self.kind(type_id) != Kind.INT:
                    continue
                typ = self.type(type_id)
                assert isinstance(typ, t.Int)
                if typ.size in (4, 8) and typ.name in _LONG_NAMES:
                    size = typ.size
                    break
            self._ptr_size = size
        return self._ptr_size

    def skip_mods(self, type_id: int) -> int:
        """libbpf ``skip_mods_and_typedefs``: the id at the end of ``type_id``'s chain of
        CONST/VOLATILE/RESTRICT/TYPE_TAG/TYPEDEF (``type_id`` itself if it is none of them)."""
        if self.kind(type_id) not in MOD_KINDS:
            return type_id
        return self.mod_chain(type_id)[0]

    def mod_chain(self, type_id: int) -> tuple[int, int]:
        """(the id :meth:`skip_mods` gives, how many links it followed); memoised. Raises
        :class:`ModifierChainError` past :data:`MAX_MOD_CHAIN` types."""
        if self.kind(type_id) not in MOD_KINDS:
            return type_id, 0
        found = self._mod_chains.get(type_id)
        if found is not None:
            return found
        current = type_id
        for links in range(MAX_MOD_CHAIN):
            if self.kind(current) not in MOD_KINDS:
                found = self._mod_chains[type_id] = (current, links)
                return found
            typ = self.type(current)
            assert isinstance(typ, t.ModOrTypedef)
            current = typ.type_id
        raise ModifierChainError(current, self.source)

    def member_layout(self, type_id: int) -> MemberLayout:
        """Anonymous member indices, first index of each name, member count (memoised)."""
        found = self._member_layouts.get(type_id)
        if found is None:
            anonymous: list[int] = []
            first: dict[str, int] = {}
            names = self.member_names(type_id)
            for i, name in enumerate(names):
                if not name:
                    anonymous.append(i)
                elif name not in first:
                    first[name] = i
            found = self._member_layouts[type_id] = MemberLayout(anonymous, first, len(names))
        return found

    def find(self, name: str, kind: Kind | None = None) -> int:
        """The first id named ``name`` (of ``kind``, if given)."""
        for type_id in self.ids_by_name(name):
            if kind is None or self.kind(type_id) == kind:
                return type_id
        what = f"{kind.name} " if kind is not None else ""
        raise TypeNotFoundError(f"no {what}type named {name!r}")

    # -- decoding ---------------------------------------------------------------------------

    def _string(self, offset: int, record_pos: int) -> str:
        if offset > MAX_STRING_OFFSET or not self.strings.valid(offset):
            raise self._error(
                f"name offset {offset} is outside the string section "
                f"({self.strings.total_len} bytes)",
                "types",
                record_pos,
            )
        try:
            return self.strings.get(offset)
        except BtfFormatError as err:
            raise self._error(err.message, "strings", offset) from err

    def _decode(self, idx: int) -> t.Type:
        pos = self._offsets[idx]
        lay = self._layouts
        data = self.data
        name_off, info, size_or_type = lay.common.unpack_from(data, pos)
        kind = (info >> 24) & 0x7F
        vlen = info & 0xFFFFFF
        kflag = bool(info >> 31)
        name = self._string(name_off, pos) if name_off else ""
        body = pos + 12
        match kind:
            case Kind.INT:
                (v,) = lay.u32.unpack_from(data, body)
                enc, bit_off, bits = (v >> 24) & 0x0F, (v >> 16) & 0xFF, v & 0xFF
                return t.Int(name, size_or_type, enc, bit_off, bits, kflag)
            case Kind.PTR:
                return t.Pointer(size_or_type, name, kflag)
            case Kind.ARRAY:
                elem, index, nelems = lay.u32x3.unpack_from(data, body)
                return t.Array(elem, index, nelems, name, kflag)
            case Kind.STRUCT | Kind.UNION:
                # Hot path (CO-RE matching decodes many large structs): unpack all members at
                # once and resolve names through the string cache.
                records = lay.u32x3.iter_unpack(data[body : body + 12 * vlen])
                cached = self.strings.decoded
                string = self._string
                member = t.Member
                members = []
                for i, (m_name, m_type, m_off) in enumerate(records):
                    mname = (cached.get(m_name) or string(m_name, body + 12 * i)) if m_name else ""
                    if kflag:
                        members.append(member(mname, m_type, m_off & 0xFFFFFF, m_off >> 24))
                    else:
                        members.append(member(mname, m_type, m_off, 0))
                cls = t.Struct if kind == Kind.STRUCT else t.Union
                return cls(name, size_or_type, tuple(members), kflag)
            case Kind.ENUM:
                values = []
                for i in range(vlen):
                    v_name, v_val = lay.u32x2.unpack_from(data, body + 8 * i)
                    if kflag and v_val >= 0x80000000:
                        v_val -= 1 << 32
                    vname = self._string(v_name, body + 8 * i) if v_name else ""
                    values.append(t.Enumerator(vname, v_val))
                return t.Enum(name, size_or_type, tuple(values), kflag)
            case Kind.ENUM64:
                values = []
                for i in range(vlen):
                    v_name, lo, hi = lay.u32x3.unpack_from(data, body + 12 * i)
                    val = (hi << 32) | lo
                    if kflag and val >= 1 << 63:
                        val -= 1 << 64
                    vname = self._string(v_name, body + 12 * i) if v_name else ""
                    values.append(t.Enumerator(vname, val))
                return t.Enum64(name, size_or_type, tuple(values), kflag)
            case Kind.FWD:
                return t.Fwd(name, kflag)
            case Kind.TYPEDEF:
                return t.Typedef(name, size_or_type, kflag)
            case Kind.VOLATILE:
                return t.Volatile(size_or_type, name, kflag)
            case Kind.CONST:
                return t.Const(size_or_type, name, kflag)
            case Kind.RESTRICT:
                return t.Restrict(size_or_type, name, kflag)
            case Kind.FUNC:
                return t.Func(name, size_or_type, vlen, kflag)
            case Kind.FUNC_PROTO:
                params = []
                for i in range(vlen):
                    p_name, p_type = lay.u32x2.unpack_from(data, body + 8 * i)
                    pname = self._string(p_name, body + 8 * i) if p_name else ""
                    params.append(t.Param(pname, p_type))
                return t.FuncProto(size_or_type, tuple(params), name, kflag)
            case Kind.VAR:
                (linkage,) = lay.u32.unpack_from(data, body)
                return t.Var(name, size_or_type, linkage, kflag)
            case Kind.DATASEC:
                entries = tuple(
                    t.VarSecinfo(*lay.u32x3.unpack_from(data, body + 12 * i)) for i in range(vlen)
                )
                return t.Datasec(name, size_or_type, entries, kflag)
            case Kind.FLOAT:
                return t.Float(name, size_or_type, kflag)
            case Kind.DECL_TAG:
                (component,) = lay.i32.unpack_from(data, body)
                return t.DeclTag(name, size_or_type, component, kflag)
            case Kind.TYPE_TAG:
                return t.TypeTag(name, size_or_type, kflag)
        raise self._error(f"unknown BTF kind {kind}", "types", pos)  # pragma: no cover


def parse_header(data: bytes | memoryview, source: str | None = None) -> tuple[Header, ByteOrder]:
    """Validate and return the header and byte order of raw BTF ``data``.

    Mirrors libbpf 1.8 ``btf_parse_hdr``: the header is read as ``memcpy(&hdr, data,
    min(hdr_len, sizeof(struct btf_header)))`` into a zeroed struct, so a 24-byte header has no
    layout section and a 32-byte one (bpftool 7.8's) may have one; then the type, layout and
    string sections must lie in that order, aligned, inside the data.
    """

    def fail(message: str, offset: int = 0) -> BtfFormatError:
        return BtfFormatError(message, section="header", offset=offset, source=source)

    if len(data) < HEADER_LEN:
        raise fail(f"file is {len(data)} bytes, shorter than the {HEADER_LEN}-byte BTF header")
    order = detect_byte_order(data)
    if order is None:
        raise fail(f"bad magic {data[0]:02x}{data[1]:02x} (expected eb9f in either byte order)")
    lay = LAYOUTS[order]
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = lay.header.unpack_from(
        data, 0
    )
    if version != BTF_VERSION:
        raise fail(f"unsupported BTF version {version}", 2)
    if flags != 0:
        raise fail(f"unsupported header flags {flags:#x}", 3)
    if hdr_len < HEADER_LEN or hdr_len > MAX_HEADER_LEN or hdr_len > len(data):
        raise fail(f"bad header length {hdr_len} for a {len(data)}-byte file", 4)
    # The fields a header of hdr_len bytes holds; absent ones read as 0, as in libbpf.
    known = min(hdr_len, HEADER_LEN_LAYOUT)
    ext = bytes(data[HEADER_LEN:known]).ljust(HEADER_LEN_LAYOUT - HEADER_LEN, b"\0")
    layout_off, layout_len = lay.layout_ext.unpack(ext)
    if any(data[known:hdr_len]):
        raise fail("unknown non-zero header fields", known)
    body = len(data) - hdr_len
    if type_off % 4:
        raise fail(f"type section offset {type_off} is not 4-byte aligned", 8)
    if type_off + type_len > str_off:
        raise fail(f"type section [{type_off}, +{type_len}) overlaps the string section", 8)
    if str_off + str_len > body:
        raise fail(
            f"string section [{str_off}, +{str_len}) runs past the end of the data ({body} bytes)",
            16,
        )
    if layout_len:  # libbpf ignores layout_off when layout_len is 0
        where = f"layout section [{layout_off}, +{layout_len})"
        if layout_off % 4:
            raise fail(f"{where} is not 4-byte aligned", HEADER_LEN)
        if layout_off < type_off + type_len:
            raise fail(f"{where} overlaps the type section [{type_off}, +{type_len})", HEADER_LEN)
        if layout_off + layout_len > str_off:
            raise fail(f"{where} overlaps the string section at {str_off}", HEADER_LEN)
        if layout_len % LAYOUT_ENTRY_LEN:  # btf_parse_layout_sec
            raise fail(
                f"{where} is not a whole number of {LAYOUT_ENTRY_LEN}-byte kind entries",
                HEADER_LEN + 4,
            )
    header = Header(
        magic, version, flags, hdr_len, type_off, type_len, str_off, str_len, layout_off, layout_len
    )
    return header, order


def parse_btf(
    data: bytes,
    *,
    base: Btf | None = None,
    source: str | None = None,
    ptr_size: int | None = None,
) -> Btf:
    """Parse raw BTF ``data``; with ``base``, as split BTF on top of it. ``ptr_size`` is the
    pointer size when the container says it (libbpf ``btf_parse_elf``: the ELF class)."""
    data = bytes(data)
    header, order = parse_header(data, source)
    strings_at = header.hdr_len + header.str_off
    strings = data[strings_at : strings_at + header.str_len]
    if base is None:
        # libbpf btf_parse_str_sec: base BTF strings start and end with NUL.
        if not strings or strings[0] != 0:
            raise BtfFormatError(
                "string section must start with a NUL byte",
                section="strings",
                offset=strings_at,
                source=source,
            )
        if strings[-1] != 0:
            raise BtfFormatError(
                "string section is not NUL-terminated",
                section="strings",
                offset=strings_at + len(strings) - 1,
                source=source,
            )
    elif strings and strings[-1] != 0:
        raise BtfFormatError(
            "split string section is not NUL-terminated",
            section="strings",
            offset=strings_at + len(strings) - 1,
            source=source,
        )
    return Btf(data, header, order, base=base, source=source, ptr_size=ptr_size)
