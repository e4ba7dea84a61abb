"""The BTF type model: one frozen record per kind, referring to other types by id.

References are type ids, as in the kernel and libbpf, never object pointers: minimizing is
"keep a set of ids, then renumber", and frozen records can be shared freely. Id 0 is void.
Field names follow ``include/uapi/linux/btf.h``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar, NoReturn, TypeAlias

from .wire import INT_BOOL, INT_CHAR, INT_SIGNED, Kind

TypeId = int


@dataclass(frozen=True, slots=True)
class Void:
    """Type id 0: never stored in BTF, implied."""

    kind: ClassVar[Kind] = Kind.UNKN
    name: str = ""
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Int:
    """BTF_KIND_INT: ``size`` bytes, ``bits`` wide starting at ``bit_offset``."""

    kind: ClassVar[Kind] = Kind.INT
    name: str
    size: int
    encoding: int
    bit_offset: int
    bits: int
    kind_flag: bool = False

    @property
    def signed(self) -> bool:
        return bool(self.encoding & INT_SIGNED)

    @property
    def is_char(self) -> bool:
        return bool(self.encoding & INT_CHAR)

    @property
    def is_bool(self) -> bool:
        return bool(self.encoding & INT_BOOL)


@dataclass(frozen=True, slots=True)
class Pointer:
    """BTF_KIND_PTR to ``type_id`` (0 is ``void *``)."""

    kind: ClassVar[Kind] = Kind.PTR
    type_id: TypeId
    name: str = ""
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Array:
    """BTF_KIND_ARRAY of ``nelems`` elements of ``type_id`` indexed by ``index_type_id``."""

    kind: ClassVar[Kind] = Kind.ARRAY
    type_id: TypeId
    index_type_id: TypeId
    nelems: int
    name: str = ""
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Member:
    """A struct or union member; ``bitfield_size`` 0 means not a bitfield."""

    name: str
    type_id: TypeId
    bit_offset: int
    bitfield_size: int = 0


@dataclass(frozen=True, slots=True)
class Struct:
    """BTF_KIND_STRUCT. ``kind_flag`` set means member offsets carry bitfield sizes."""

    kind: ClassVar[Kind] = Kind.STRUCT
    name: str
    size: int
    members: tuple[Member, ...]
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Union:
    """BTF_KIND_UNION; same layout as :class:`Struct`."""

    kind: ClassVar[Kind] = Kind.UNION
    name: str
    size: int
    members: tuple[Member, ...]
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Enumerator:
    """One ENUM or ENUM64 value, already sign-interpreted by the enum's kind_flag."""

    name: str
    value: int


@dataclass(frozen=True, slots=True)
class Enum:
    """BTF_KIND_ENUM (32-bit values); ``kind_flag`` set means signed (kernel 6.0+)."""

    kind: ClassVar[Kind] = Kind.ENUM
    name: str
    size: int
    values: tuple[Enumerator, ...]
    kind_flag: bool = False

    @property
    def signed(self) -> bool:
        return self.kind_flag


@dataclass(frozen=True, slots=True)
class Enum64:
    """BTF_KIND_ENUM64 (64-bit values); ``kind_flag`` set means signed."""

    kind: ClassVar[Kind] = Kind.ENUM64
    name: str
    size: int
    values: tuple[Enumerator, ...]
    kind_flag: bool = False

    @property
    def signed(self) -> bool:
        return self.kind_flag


@dataclass(frozen=True, slots=True)
class Fwd:
    """BTF_KIND_FWD; ``kind_flag`` set means ``union``, clear means ``struct``."""

    kind: ClassVar[Kind] = Kind.FWD
    name: str
    kind_flag: bool = False

    @property
    def is_union(self) -> bool:
        return self.kind_flag


@dataclass(frozen=True, slots=True)
class Typedef:
    """BTF_KIND_TYPEDEF naming ``type_id``."""

    kind: ClassVar[Kind] = Kind.TYPEDEF
    name: str
    type_id: TypeId
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Volatile:
    """BTF_KIND_VOLATILE modifier."""

    kind: ClassVar[Kind] = Kind.VOLATILE
    type_id: TypeId
    name: str = ""
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Const:
    """BTF_KIND_CONST modifier."""

    kind: ClassVar[Kind] = Kind.CONST
    type_id: TypeId
    name: str = ""
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Restrict:
    """BTF_KIND_RESTRICT modifier."""

    kind: ClassVar[Kind] = Kind.RESTRICT
    type_id: TypeId
    name: str = ""
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Func:
    """BTF_KIND_FUNC: ``type_id`` is its FUNC_PROTO; linkage is stored in vlen."""

    kind: ClassVar[Kind] = Kind.FUNC
    name: str
    type_id: TypeId
    linkage: int
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Param:
    """A FUNC_PROTO parameter; a trailing ``Param("", 0)`` marks varargs."""

    name: str
    type_id: TypeId


@dataclass(frozen=True, slots=True)
class FuncProto:
    """BTF_KIND_FUNC_PROTO returning ``return_type_id`` (0 is void)."""

    kind: ClassVar[Kind] = Kind.FUNC_PROTO
    return_type_id: TypeId
    params: tuple[Param, ...]
    name: str = ""
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Var:
    """BTF_KIND_VAR: a global or static variable."""

    kind: ClassVar[Kind] = Kind.VAR
    name: str
    type_id: TypeId
    linkage: int
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class VarSecinfo:
    """One DATASEC entry (``struct btf_var_secinfo``)."""

    type_id: TypeId
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Datasec:
    """BTF_KIND_DATASEC: an ELF data section and the variables in it."""

    kind: ClassVar[Kind] = Kind.DATASEC
    name: str
    size: int
    vars: tuple[VarSecinfo, ...]
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Float:
    """BTF_KIND_FLOAT of ``size`` bytes."""

    kind: ClassVar[Kind] = Kind.FLOAT
    name: str
    size: int
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class DeclTag:
    """BTF_KIND_DECL_TAG on ``type_id``; ``component_idx`` -1 is the whole type."""

    kind: ClassVar[Kind] = Kind.DECL_TAG
    name: str
    type_id: TypeId
    component_idx: int
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class TypeTag:
    """BTF_KIND_TYPE_TAG on ``type_id``."""

    kind: ClassVar[Kind] = Kind.TYPE_TAG
    name: str
    type_id: TypeId
    kind_flag: bool = False


Type: TypeAlias = (
    Void
    | Int
    | Pointer
    | Array
    | Struct
    | Union
    | Enum
    | Enum64
    | Fwd
    | Typedef
    | Volatile
    | Const
    | Restrict
    | Func
    | FuncProto
    | Var
    | Datasec
    | Float
    | DeclTag
    | TypeTag
)

#: Types that CO-RE "skips" as modifiers (libbpf ``btf_is_mod`` plus typedef).
ModOrTypedef = (Volatile, Const, Restrict, TypeTag, Typedef)


def assert_never(value: NoReturn) -> NoReturn:
    """``typing.assert_never`` (Python 3.11+): ends a per-kind ``match``, so that mypy names
    every dispatch a new kind in :data:`Type` is missing from."""
    raise AssertionError(f"unhandled BTF type {value!r}")


def map_type_ids(typ: Type, new_id: Callable[[TypeId], TypeId]) -> Type:
    """``typ`` with each type id it refers to replaced by ``new_id(id)``, called in record
    order; a kind without references comes back as it is.

    libbpf's ``btf_type_visit_type_ids``. With :func:`type_ids` beside it (the same list
    without rebuilding the record, for walks), the one place that knows, per kind, where the
    references are; a test checks that the two agree on every kind.
    """
    match typ:
        case Void() | Int() | Enum() | Enum64() | Fwd() | Float():
            return typ
        case Pointer() | Typedef() | Volatile() | Const() | Restrict() | TypeTag():
            return replace(typ, type_id=new_id(typ.type_id))
        case Func() | Var() | DeclTag():
            return replace(typ, type_id=new_id(typ.type_id))
        case Array():
            elem = new_id(typ.type_id)
            return replace(typ, type_id=elem, index_type_id=new_id(typ.index_type_id))
        case Struct() | Union():
            members = tuple(replace(m, type_id=new_id(m.type_id)) for m in typ.members)
            return replace(typ, members=members)
        case FuncProto():
            ret = new_id(typ.return_type_id)
            params = tuple(replace(p, type_id=new_id(p.type_id)) for p in typ.params)
            return replace(typ, return_type_id=ret, params=params)
        case Datasec():
            return replace(typ, vars=tuple(replace(v, type_id=new_id(v.type_id)) for v in typ.vars))
        case _:
            assert_never(typ)


def type_ids(typ: Type) -> tuple[TypeId, ...]:
    """The type ids ``typ`` refers to, in record order: what :func:`map_type_ids` visits."""
    match typ:
        case Void() | Int() | Enum() | Enum64() | Fwd() | Float():
            return ()
        case Pointer() | Typedef() | Volatile() | Const() | Restrict() | TypeTag():
            return (typ.type_id,)
        case Func() | Var() | DeclTag():
            return (typ.type_id,)
        case Array():
            return (typ.type_id, typ.index_type_id)
        case Struct() | Union():
            return tuple(m.type_id for m in typ.members)
        case FuncProto():
            return (typ.return_type_id, *(p.type_id for p in typ.params))
        case Datasec():
            return tuple(v.type_id for v in typ.vars)
        case _:
            assert_never(typ)
