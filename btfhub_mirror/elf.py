"""BPF object files (``clang -target bpf -g``): sections, BTF, ``.BTF.ext``, programs, maps.

The ELF header and the section headers are read here (:class:`_ElfLayout`, a few struct
unpacks: importing pyelftools costs more than a whole one-off ``minimize`` of a kernel seen
before); pyelftools reads symbols and relocations, when ``.ksyms`` asks for them. Like
cilium/ebpf's ``SafeELFFile``, every failure of either reader (``ELFError``, ``struct.error``,
``IndexError``...) on a hostile file becomes an :class:`ElfFormatError` naming the file and
what was being read.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from .btf import types as t
from .btf.ext import (
    BtfExt,
    CoreRelo,
    CoreReloKind,
    FuncInfo,
    LineInfo,
    describe_access,
    parse_btf_ext,
)
from .btf.parse import Btf, parse_btf
from .btf.wire import ByteOrder, Kind
from .errors import BtfmirrorError, ElfFormatError, NotFoundError
from .fsutil import read_capped

#: Objects larger than this are refused before parsing.
MAX_OBJECT_SIZE = 256 * 1024 * 1024
EM_BPF = 247
SHT_PROGBITS = 1
SHF_EXECINSTR = 0x4
SHF_COMPRESSED = 0x800
BPF_INSN_SIZE = 8
BPF_CALL_OPCODE = 0x85  # BPF_JMP | BPF_CALL
BPF_LD_IMM64_OPCODE = 0x18  # BPF_LD | BPF_DW | BPF_IMM: two instruction slots

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SectionInfo:
    """One ELF section header."""

    index: int
    name: str
    type: str
    size: int
    flags: int


@dataclass(frozen=True, slots=True)
class Program:
    """An executable section (one or more BPF programs) and the helpers it calls, in order."""

    section: str
    index: int
    insn_count: int
    helper_calls: tuple[int, ...]

    @property
    def helpers(self) -> frozenset[int]:
        return frozenset(self.helper_calls)


@dataclass(frozen=True, slots=True)
class KsymExtern:
    """An ``extern ... __ksym`` the object uses: a kernel function (kfunc) or a typed kernel
    variable, which libbpf resolves by name and type against the kernel's BTF at load time
    (``bpf_object__resolve_ksyms_btf_id``)."""

    name: str
    is_func: bool
    #: The kfunc's FUNC_PROTO or the variable's type (modifiers skipped) in the object's BTF;
    #: 0 for a typeless ``extern const void x __ksym`` (resolved from kallsyms, not BTF).
    local_type_id: int
    weak: bool
    used_in: tuple[str, ...]  # sections whose instructions refer to it
    #: Whether an instruction loads its address (``ld_imm64``), as ``bpf_ksym_exists()`` and
    #: every use of a variable do; a kfunc only called never has its existence tested.
    address_taken: bool = False


@dataclass(frozen=True, slots=True)
class MapDef:
    """A BTF-defined map (``struct {...} name SEC(".maps")``); None where not declared."""

    name: str
    type: int | None
    max_entries: int | None
    key_type_id: int | None
    value_type_id: int | None
    key_size: int | None
    value_size: int | None
    map_flags: int | None


#: The first bytes of every ELF file (e_ident: 0x7f 'E' 'L' 'F').
ELF_MAGIC = b"\x7fELF"
#: What the object arguments must be, said in every error about a file that is not one.
EXPECTED_OBJECT = "a BPF object built with clang -target bpf -g"


#: pyelftools' names of section types (``ENUM_SH_TYPE_BASE``, which it uses for EM_BPF): the
#: same strings as before it was not imported for them; other values are their number.
_SH_TYPE_NAMES = {
    0: "SHT_NULL",
    1: "SHT_PROGBITS",
    2: "SHT_SYMTAB",
    3: "SHT_STRTAB",
    4: "SHT_RELA",
    5: "SHT_HASH",
    6: "SHT_DYNAMIC",
    7: "SHT_NOTE",
    8: "SHT_NOBITS",
    9: "SHT_REL",
    10: "SHT_SHLIB",
    11: "SHT_DYNSYM",
    14: "SHT_INIT_ARRAY",
    15: "SHT_FINI_ARRAY",
    16: "SHT_PREINIT_ARRAY",
    17: "SHT_GROUP",
    18: "SHT_SYMTAB_SHNDX",
    19: "SHT_RELR",
    20: "SHT_NUM",
    0x60000000: "SHT_LOOS",
    0x6FFFFFF5: "SHT_GNU_ATTRIBUTES",
    0x6FFFFFF6: "SHT_GNU_HASH",
    0x6FFFFFF7: "SHT_GNU_LIBLIST",
    0x6FFFFFFD: "SHT_GNU_verdef",
    0x6FFFFFFE: "SHT_GNU_verneed",
    0x6FFFFFFF: "SHT_GNU_versym",
    0x80000000: "SHT_LOUSER",
    0xFFFFFFFF: "SHT_HIUSER",
    0x6FFFFFF3: "SHT_SUNW_LDYNSYM",
    0x6FFFFFFC: "SHT_SUNW_syminfo",
}
_SHN_XINDEX = 0xFFFF


def _machine_name(machine: int) -> str:
    """pyelftools' name of an ``e_machine`` (EM_X86_64...), for the error about it only."""
    from elftools.elf.enums import ENUM_E_MACHINE

    names = {v: k for k, v in ENUM_E_MACHINE.items() if isinstance(v, int)}
    return str(names.get(machine, machine))


class _ElfLayout:
    """The ELF header and section header table of ``data`` (either class, either byte
    order), read as pyelftools reads them: ``e_shnum``/``e_shstrndx`` escapes through
    section 0, names from the section name table decoded as UTF-8 with replacement. Every
    read is bounds-checked by ``struct`` (a short file raises ``struct.error``); what is wrong
    raises ValueError, which :meth:`BpfObject._reading` words with the file and the part."""

    def __init__(self, data: bytes):
        if len(data) < 16:
            raise ValueError("file too short for an ELF header")
        ei_class, ei_data = data[4], data[5]
        if ei_class not in (1, 2):
            raise ValueError(f"invalid EI_CLASS {ei_class}")
        if ei_data not in (1, 2):
            raise ValueError(f"invalid EI_DATA {ei_data}")
        self.data = data
        self.little = ei_data == 1
        order = "<" if self.little else ">"
        wide = self.wide = ei_class == 2
        # e_machine, then e_shoff, e_shentsize, e_shnum, e_shstrndx
        (self.machine,) = struct.unpack_from(order + "H", data, 18)
        if wide:
            (self.shoff,) = struct.unpack_from(order + "Q", data, 40)
            self.shentsize, self.shnum, self.shstrndx = struct.unpack_from(order + "3H", data, 58)
            self._shdr = struct.Struct(order + "IIQQQQIIQQ")
        else:
            (self.shoff,) = struct.unpack_from(order + "I", data, 32)
            self.shentsize, self.shnum, self.shstrndx = struct.unpack_from(order + "3H", data, 46)
            self._shdr = struct.Struct(order + "IIIIIIIIII")

    def _header(self, index: int) -> tuple[int, ...]:
        # name, type, flags, addr, offset, size, link, info, addralign, entsize
        return self._shdr.unpack_from(self.data, self.shoff + index * self.shentsize)

    def section_extents(self) -> list[tuple[int, int]]:
        """(offset, size) of each section, by index."""
        self._headers = self._all_headers()
        return [(h[4], h[5]) for h in self._headers]

    def _all_headers(self) -> list[tuple[int, ...]]:
        if self.shoff == 0:
            return []
        count = self.shnum
        if count == 0:  # e_shnum >= SHN_LORESERVE: the count is section 0's sh_size
            count = self._header(0)[5]
        if self.shentsize < self._shdr.size:
            raise ValueError(f"section header size {self.shentsize} is too small")
        if count * self.shentsize > len(self.data):
            raise ValueError(f"{count} section headers do not fit in the file")
        return [self._header(i) for i in range(count)]

    def section_infos(self, extents: Sequence[tuple[int, int]]) -> Iterator[SectionInfo]:
        headers = self._headers
        if not headers:
            return
        strndx = self.shstrndx if self.shstrndx != _SHN_XINDEX else headers[0][6]
        if strndx >= len(headers):
            raise ValueError(f"section name table index {strndx} is out of range")
        names_at = headers[strndx][4]
        data = self.data
        for index, header in enumerate(headers):
            start = names_at + header[0]
            end = data.find(b"\0", start)
            raw = data[start : end if end >= 0 else len(data)]
            name = raw.decode("utf-8", errors="replace") if raw else ""
            kind = _SH_TYPE_NAMES.get(header[1], str(header[1]))
            yield SectionInfo(index, name, kind, header[5], header[2])


class BpfObject:
    """A BPF ELF object. Parsing of BTF and ``.BTF.ext`` happens on first use."""

    def __init__(self, data: bytes, source: str):
        self.data = data
        self.source = source
        if data[:4] != ELF_MAGIC:  # a JSON file, an archive, a BTF blob: say what was expected
            raise ElfFormatError(f"{source}: not an ELF file (expected {EXPECTED_OBJECT})")
        with self._reading("ELF header"):
            layout = _ElfLayout(data)
            #: libbpf btf_parse_elf sets the BTF's pointer size from the ELF class: BPF
            #: objects are ELFCLASS64, so 8 whatever the host or the types say.
            self.ptr_size = 8 if layout.wide else 4
        if layout.machine != EM_BPF:
            raise ElfFormatError(
                f"{source}: not a BPF object (machine {_machine_name(layout.machine)}; "
                f"expected {EXPECTED_OBJECT})"
            )
        self.byte_order: ByteOrder = "little" if layout.little else "big"
        with self._reading("section headers"):
            self._extents = layout.section_extents()
            self.sections: tuple[SectionInfo, ...] = tuple(layout.section_infos(self._extents))

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> BpfObject:
        """Read the object at ``path``."""
        p = Path(path)
        data = read_capped(p, MAX_OBJECT_SIZE)
        if len(data) > MAX_OBJECT_SIZE:
            raise ElfFormatError(f"{p}: larger than {MAX_OBJECT_SIZE} bytes")
        return cls(data, str(p))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> BpfObject:
        """Parse an object held in memory; ``source`` names it in errors."""
        return cls(bytes(data), source)

    # -- ELF ------------------------------------------------------------------------------------

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        try:
            yield
        except BtfmirrorError:
            raise
        except Exception as err:  # pyelftools/construct raise assorted errors on garbage
            raise ElfFormatError(
                f"{self.source}: reading {what}: {err or type(err).__name__}"
            ) from err

    @cached_property
    def _elf(self) -> Any:
        """pyelftools' view of the file, for symbols and relocations (loaded on use)."""
        with self._reading("ELF header"):
            from elftools.elf.elffile import ELFFile

            return ELFFile(io.BytesIO(self.data))

    def section_names(self) -> list[str]:
        return [s.name for s in self.sections]

    def section_data(self, name: str) -> bytes | None:
        """Contents of the first section called ``name``, or None if there is none."""
        for info in self.sections:
            if info.name == name:
                return self._data_at(info)
        return None

    def _data_at(self, info: SectionInfo) -> bytes:
        with self._reading(f"section {info.name}"):
            if info.type == "SHT_NOBITS":
                return b""
            if info.flags & SHF_COMPRESSED:
                # clang never compresses BPF sections; refusing avoids decompression bombs.
                raise ElfFormatError(f"{self.source}: section {info.name} is compressed")
            offset, size = self._extents[info.index]
            data = self.data[offset : offset + size]
            if len(data) != info.size:
                raise ElfFormatError(
                    f"{self.source}: section {info.name} is truncated "
                    f"({len(data)} of {info.size} bytes)"
                )
            return data

    # -- BTF ------------------------------------------------------------------------------------

    @cached_property
    def btf_bytes(self) -> bytes:
        data = self.section_data(".BTF")
        if data is None:
            raise ElfFormatError(f"{self.source}: no .BTF section (was it built with -g?)")
        return data

    @cached_property
    def btf_ext_bytes(self) -> bytes | None:
        """``.BTF.ext`` contents; None when absent (bpftool then refuses the object)."""
        return self.section_data(".BTF.ext")

    @cached_property
    def btf(self) -> Btf:
        """The object's local BTF."""
        return _with_source(
            lambda: parse_btf(self.btf_bytes, source=self.source, ptr_size=self.ptr_size),
            self.source,
        )

    @cached_property
    def ext(self) -> BtfExt | None:
        """The parsed ``.BTF.ext``, or None when the object has none."""
        data = self.btf_ext_bytes
        if data is None:
            return None
        btf = self.btf
        return _with_source(lambda: parse_btf_ext(data, btf, source=self.source), self.source)

    def require_ext(self) -> BtfExt:
        """The parsed ``.BTF.ext``, refusing an object without one: it has no CO-RE
        relocations, and bpftool (``min_core_btf``) refuses it too."""
        ext = self.ext
        if ext is None:
            raise ElfFormatError(
                f"{self.source}: no .BTF.ext section, so no CO-RE relocations "
                "(was it built with -g?)"
            )
        return ext

    @property
    def core_relos(self) -> list[CoreRelo]:
        """CO-RE relocations in file order (empty without ``.BTF.ext``)."""
        return list(self.ext.core_relos) if self.ext is not None else []

    @property
    def func_infos(self) -> list[FuncInfo]:
        return list(self.ext.func_infos) if self.ext is not None else []

    @property
    def line_infos(self) -> list[LineInfo]:
        return list(self.ext.line_infos) if self.ext is not None else []

    # -- programs and maps ----------------------------------------------------------------------

    @cached_property
    def programs(self) -> list[Program]:
        """Every non-empty executable section, in section order."""
        found = []
        for info in self.sections:
            if info.type == "SHT_PROGBITS" and info.flags & SHF_EXECINSTR and info.size:
                code = self._data_at(info)
                found.append(
                    Program(info.name, info.index, len(code) // 8, self._helper_calls(info, code))
                )
        return found

    def _helper_calls(self, info: SectionInfo, code: bytes) -> tuple[int, ...]:
        if len(code) % BPF_INSN_SIZE:
            raise ElfFormatError(
                f"{self.source}: section {info.name}: {len(code)} bytes is not a whole number "
                "of instructions"
            )
        little = self.byte_order == "little"
        imm = struct.Struct("<i" if little else ">i")
        calls = []
        pos = 0
        while pos < len(code):
            opcode, regs = code[pos], code[pos + 1]
            src_reg = regs >> 4 if little else regs & 0x0F
            if opcode == BPF_CALL_OPCODE and src_reg == 0:
                calls.append(imm.unpack_from(code, pos + 4)[0])
            pos += 2 * BPF_INSN_SIZE if opcode == BPF_LD_IMM64_OPCODE else BPF_INSN_SIZE
        return tuple(calls)

    @cached_property
    def ksyms(self) -> list[KsymExtern]:
        """``.ksyms`` externs, as libbpf collects them: undefined ELF symbols whose BTF (a FUNC
        or VAR of extern linkage) sits in the ``.ksyms`` DATASEC. In symbol-table order."""
        with self._reading("the .ksyms BTF section"):
            in_btf = self._ksyms_in_btf()
        if not in_btf:
            return []
        with self._reading("symbols and relocations"):
            from elftools.elf.relocation import RelocationSection
            from elftools.elf.sections import SymbolTableSection

            symtab = next(
                (s for s in self._elf.iter_sections() if isinstance(s, SymbolTableSection)), None
            )
            if symtab is None:
                return []
            externs: dict[int, tuple[str, bool]] = {}  # symbol index -> (name, weak)
            for index, sym in enumerate(symtab.iter_symbols()):
                bind = sym["st_info"]["bind"]
                extern = sym["st_shndx"] == "SHN_UNDEF" and bind in ("STB_GLOBAL", "STB_WEAK")
                if extern and sym.name in in_btf:
                    externs[index] = (str(sym.name), bind == "STB_WEAK")
            used: dict[int, list[str]] = {index: [] for index in externs}
            loaded: set[int] = set()
            executable = {i.index: i for i in self.sections if i.flags & SHF_EXECINSTR}
            for sec in self._elf.iter_sections():
                target = executable.get(int(sec["sh_info"]))
                if not isinstance(sec, RelocationSection) or target is None:
                    continue
                code = self._data_at(target)
                for rel in sec.iter_relocations():
                    index = int(rel["r_info_sym"])
                    users = used.get(index)
                    if users is None:
                        continue
                    if target.name not in users:
                        users.append(target.name)
                    offset = int(rel["r_offset"])
                    if offset < len(code) and code[offset] == BPF_LD_IMM64_OPCODE:
                        loaded.add(index)
        return [
            KsymExtern(
                name, in_btf[name][0], in_btf[name][1], weak, tuple(used[index]), index in loaded
            )
            for index, (name, weak) in externs.items()
        ]

    def _ksyms_in_btf(self) -> dict[str, tuple[bool, int]]:
        """name -> (is a function, local type id) for each FUNC/VAR of the ``.ksyms`` DATASEC."""
        btf = self.btf
        found: dict[str, tuple[bool, int]] = {}
        for type_id in btf.ids_by_name(".ksyms"):
            sec = btf.type(type_id)
            if not isinstance(sec, t.Datasec):
                continue
            for var in sec.vars:
                typ = btf.type(var.type_id)
                if isinstance(typ, t.Func):
                    found[typ.name] = (True, typ.type_id)
                elif isinstance(typ, t.Var):
                    found[typ.name] = (False, btf.skip_mods(typ.type_id))
        return found

    @cached_property
    def maps(self) -> list[MapDef]:
        """BTF-defined maps of the ``.maps`` section, in declaration order."""
        btf = self.btf
        try:
            datasec_id = btf.find(".maps", Kind.DATASEC)
        except NotFoundError:
            return []
        return _with_source(lambda: _read_maps(btf, datasec_id, self.source), self.source)


def _with_source(parse: Callable[[], T], source: str) -> T:
    try:
        return parse()
    except BtfmirrorError:
        raise
    except (struct.error, IndexError, ValueError, KeyError, RecursionError) as err:
        raise ElfFormatError(f"{source}: {err}") from err


def _read_maps(btf: Btf, datasec_id: int, source: str) -> list[MapDef]:
    datasec = btf.type(datasec_id)
    assert isinstance(datasec, t.Datasec)
    maps = []
    for entry in datasec.vars:
        var = btf.type(entry.type_id)
        if not isinstance(var, t.Var):
            raise ElfFormatError(f"{source}: .maps entry {entry.type_id} is not a variable")
        struct_t = btf.type(btf.skip_mods(var.type_id))
        if not isinstance(struct_t, t.Struct):
            raise ElfFormatError(f"{source}: map {var.name!r} is not a struct")
        maps.append(_map_def(btf, var.name, struct_t, source))
    return maps


def _map_def(btf: Btf, name: str, definition: t.Struct, source: str) -> MapDef:
    values: dict[str, Any] = {}
    for member in definition.members:
        ptr = btf.type(btf.skip_mods(member.type_id))
        if not isinstance(ptr, t.Pointer):
            raise ElfFormatError(f"{source}: map {name!r}: member {member.name!r} is not a pointer")
        if member.name in ("type", "max_entries", "key_size", "value_size", "map_flags"):
            # __uint(name, N) is `int (*name)[N]`.
            array = btf.type(btf.skip_mods(ptr.type_id))
            if not isinstance(array, t.Array):
                raise ElfFormatError(f"{source}: map {name!r}: {member.name} is not __uint()")
            values[member.name] = array.nelems
        elif member.name in ("key", "value"):
            values[f"{member.name}_type_id"] = ptr.type_id
    if "key_size" not in values and "key_type_id" in values:
        values["key_size"] = _type_size(btf, values["key_type_id"])
    if "value_size" not in values and "value_type_id" in values:
        values["value_size"] = _type_size(btf, values["value_type_id"])
    return MapDef(
        name=name,
        type=values.get("type"),
        max_entries=values.get("max_entries"),
        key_type_id=values.get("key_type_id"),
        value_type_id=values.get("value_type_id"),
        key_size=values.get("key_size"),
        value_size=values.get("value_size"),
        map_flags=values.get("map_flags"),
    )


def _type_size(btf: Btf, type_id: int) -> int | None:
    """Byte size of ``type_id`` (libbpf ``btf__resolve_size`` for the kinds maps use)."""
    found = btf.type(btf.skip_mods(type_id))
    if isinstance(found, t.Array):
        elem = _type_size(btf, found.type_id)
        return None if elem is None else elem * found.nelems
    if isinstance(found, t.Pointer):
        return 8
    if isinstance(found, (t.Int, t.Struct, t.Union, t.Enum, t.Enum64, t.Float)):
        return found.size
    return None


@dataclass(frozen=True, slots=True)
class RelocationRow:
    """One CO-RE relocation of one object, with its local C-like path."""

    object: str
    section: str
    insn_index: int
    kind: CoreReloKind
    type_id: int
    path: str
    access_str: str

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "section": self.section,
            "insn": self.insn_index,
            "kind": self.kind.short_name,
            "type_id": self.type_id,
            "path": self.path,
            "access": self.access_str,
        }


def list_relocations(paths: Sequence[str | os.PathLike[str]]) -> list[RelocationRow]:
    """Every CO-RE relocation of the objects at ``paths``, object by object in file order."""
    rows: list[RelocationRow] = []
    for path in paths:
        obj = BpfObject.open(path)
        obj.require_ext()
        rows.extend(relocation_row(obj, relo) for relo in obj.core_relos)
    return rows


def relocation_row(obj: BpfObject, relo: CoreRelo) -> RelocationRow:
    """One relocation of ``obj`` with its local C-like path."""
    return RelocationRow(
        obj.source,
        relo.section,
        relo.insn_index,
        relo.kind,
        relo.type_id,
        describe_access(obj.btf, relo),
        relo.access_str,
    )
