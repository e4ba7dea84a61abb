"""CO-RE relocation resolution, deciding exactly as libbpf does.

Derived from the behaviour of libbpf's ``src/relo_core.c`` and the candidate search of
``src/libbpf.c`` (BSD-2-Clause / LGPL-2.1), as pinned by Debian's libbpf 1.1 that bpftool 7.1
uses; see ``shared/docs/btfgen-spec.md`` §3. Pure: takes parsed BTF and relocation records,
returns decisions; no I/O.

The algorithm, per relocation record (``bpf_core_calc_relo_insn``):

1. parse the access string against the *local* (object) BTF into a spec: the raw indices, the
   high-level accessors (root, named members, array indices) and the bit offset;
2. TYPE_ID_LOCAL needs no target; otherwise take the candidate list for the local root id: every
   target type of a compatible kind whose *essential* name (``___flavor`` stripped) equals the
   local one, in id order; the list is cached per object and root id;
3. match each candidate; compute the relocation value for each match; all matches must agree on
   bit offset and on (poison, new value), else libbpf fails with an ambiguity error;
4. prune the cached list to the matching candidates (later records see only those);
5. with no match at all, compute the "no target" result: FIELD_EXISTS/TYPE_*/ENUMVAL_EXISTS
   give 0, the other field kinds and ENUMVAL_VALUE are poisoned.

The first match's target spec is what bpftool's min_core_btf consumes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import BtfmirrorError
from ..words import Words
from . import types as t
from .ext import (
    MAX_ACCESS_LEN,
    AccessStringError,
    CoreRelo,
    CoreReloKind,
    scan_access_str,
    shown_access,
)
from .names import essential_name, essential_name_len
from .parse import MOD_KINDS, Btf, ModifierChainError
from .shape import FieldShapes, object_names
from .wire import INT_SIGNED, Kind

#: Mirrors BPF_CORE_SPEC_MAX_LEN (relo_core.h); one home, in ext.py.
SPEC_MAX_LEN = MAX_ACCESS_LEN
#: Mirrors MAX_RESOLVE_DEPTH (btf.c) used by btf__resolve_size.
MAX_RESOLVE_DEPTH = 32
#: libbpf's depth and level limits of the type-compatibility walks.
COMPAT_DEPTH = 32
COMPAT_LEVEL = 32
#: bpf_core_fields_are_compat follows nested arrays with no limit; a cap keeps a hostile
#: array cycle from hanging us.
MAX_ARRAY_NESTING = 1024

FIELD_KINDS = frozenset(k for k in CoreReloKind if k.is_field_based)
TYPE_KINDS = frozenset(k for k in CoreReloKind if k.is_type_based)
ENUMVAL_KINDS = frozenset(k for k in CoreReloKind if k.is_enumval_based)
#: Kinds that ask whether something exists: with no match they answer 0, as the program asked.
EXISTENCE_KINDS = frozenset(
    {
        CoreReloKind.FIELD_EXISTS,
        CoreReloKind.TYPE_EXISTS,
        CoreReloKind.ENUMVAL_EXISTS,
        CoreReloKind.TYPE_MATCHES,
    }
)


class RelocState(Words):
    """The one vocabulary of a relocation's outcome on one target BTF (``relocs --btf``,
    ``check``, :attr:`Resolution.state`); members in the order ``check`` counts them."""

    RESOLVED = "resolved"  # a candidate matched (or TYPE_ID_LOCAL, which needs none)
    MISSING = "missing"  # no match, an existence check answering 0
    GUARDED = "guarded"  # POISONED or ZERO, but the program checks existence (check only)
    POISONED = "poisoned"  # no match: the instruction is poisoned (the verifier rejects it)
    ZERO = "zero"  # no match: a type size, id or field property that evaluates to 0
    ERROR = "error"  # libbpf refuses the relocation (and the object)

    @property
    def status(self) -> str:
        """``relocs --btf``'s coarser word: resolved, unresolved (no match) or error."""
        if self is RelocState.RESOLVED:
            return "resolved"
        return "error" if self is RelocState.ERROR else "unresolved"


class ReasonCode(Words):
    """Why libbpf refuses a relocation, as a machine name (``--json``'s ``code``)."""

    SPEC = "spec"  # a bad access string for the local type
    ANONYMOUS = "anonymous"  # the local root type has no name
    OFFSET_AMBIGUITY = "offset-ambiguity"  # two matching candidates disagree on the offset
    DECISION_AMBIGUITY = "decision-ambiguity"  # ... or on the value / poisoning
    BITFIELD = "bitfield"  # a bitfield that one 64-bit load cannot read
    INVALID = "invalid"  # unsizable or malformed types


class CoreFailure(BtfmirrorError):
    """libbpf would refuse this relocation (and bpftool would abort), as a record: the
    section and ``relo #N`` it names, a :class:`ReasonCode` and libbpf's words (``detail``).

    ``str()`` (and :attr:`reason`) is libbpf's whole line, ``"<section>: relo #N: <detail>"``.
    """

    def __init__(self, section: str, index: int, code: ReasonCode, detail: str):
        self.section = section
        self.index = index
        self.code = code
        self.detail = detail
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return f"{self.section}: relo #{self.index}: {self.detail}"

    def __reduce__(self) -> tuple[type[CoreFailure], tuple[str, int, ReasonCode, str]]:
        # The record, not the joined text, crosses a process boundary (pack's workers).
        return CoreFailure, (self.section, self.index, self.code, self.detail)


class _Errno(Exception):
    """Internal: a negative libbpf return value with its warning text."""

    def __init__(self, code: ReasonCode, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Poison(Exception):
    """Internal: libbpf's -EUCLEAN, "poison the instruction"."""


@dataclass(slots=True)
class Accessor:
    """``bpf_core_accessor``: a named member, an array index, or the root (name None)."""

    type_id: int
    idx: int
    name: str | None = None


@dataclass(slots=True)
class CoreSpec:
    """``bpf_core_spec``: how a relocation's access string lands in one BTF."""

    btf: Btf
    root_type_id: int
    kind: CoreReloKind
    accessors: list[Accessor] = field(default_factory=list)
    raw_spec: list[int] = field(default_factory=list)
    bit_offset: int = 0

    def copy(self) -> CoreSpec:
        return CoreSpec(
            self.btf,
            self.root_type_id,
            self.kind,
            [Accessor(a.type_id, a.idx, a.name) for a in self.accessors],
            list(self.raw_spec),
            self.bit_offset,
        )


@dataclass(frozen=True, slots=True)
class RelocationResult:
    """``bpf_core_relo_res``: the value before (local) and after (target) relocation."""

    orig_val: int
    new_val: int
    poison: bool = False
    validate: bool = True
    orig_sz: int = 0
    new_sz: int = 0
    orig_type_id: int = 0
    new_type_id: int = 0
    fail_memsz_adjust: bool = False


@dataclass(frozen=True, slots=True)
class CandidateOutcome:
    """One candidate tried for a relocation, as libbpf logs it.

    A candidate whose outcome was reused from an identical one (see :mod:`.shape`) carries no
    spec; :attr:`spec` then matches it again, which gives the same outcome.
    """

    type_id: int
    matched: bool
    _spec: CoreSpec | None = field(default=None, repr=False, compare=False)
    _local_spec: CoreSpec | None = field(default=None, repr=False, compare=False)
    _target: Btf | None = field(default=None, repr=False, compare=False)

    @property
    def reused(self) -> bool:
        """Whether the outcome was taken from an identical candidate instead of matched."""
        return self._spec is None

    @property
    def spec(self) -> CoreSpec:
        """The candidate's spec as libbpf logs it (partial for a candidate that did not match)."""
        if self._spec is not None:
            return self._spec
        assert self._local_spec is not None and self._target is not None
        return spec_match(self._local_spec, self._target, self.type_id)[1]


@dataclass(frozen=True, slots=True)
class Resolution:
    """What libbpf decides for one relocation record against one target BTF."""

    relo: CoreRelo
    index: int  # position of the record within its ELF section (libbpf's "relo #N")
    local_spec: CoreSpec | None
    candidates: tuple[CandidateOutcome, ...]
    target_spec: CoreSpec | None  # the first matching candidate's spec
    result: RelocationResult | None
    failure: CoreFailure | None = None
    #: With a failure: the candidate libbpf was looking at when it gave up (the one that
    #: disagreed, whose value could not be computed, or whose match itself failed).
    stopped_at: int | None = None

    @property
    def participants(self) -> tuple[int, ...]:
        """With a failure, the candidates that take part in it, in libbpf's order: every
        matching candidate before the one libbpf stopped at, then that one. libbpf stops at the
        first disagreement, so later candidates never take part; these are what a target BTF
        must keep for libbpf to meet the same failure."""
        if self.failure is None or self.stopped_at is None:
            return ()
        ids = [c.type_id for c in self.candidates if c.matched and c.type_id != self.stopped_at]
        return (*ids, self.stopped_at)

    @property
    def matched(self) -> bool:
        return self.target_spec is not None

    @property
    def poisoned(self) -> bool:
        return self.result is not None and self.result.poison

    @property
    def state(self) -> RelocState:
        """libbpf's outcome (never GUARDED: that needs ``check``'s look at the program)."""
        if self.failure is not None:
            return RelocState.ERROR
        if self.matched or self.relo.kind == CoreReloKind.TYPE_ID_LOCAL:
            return RelocState.RESOLVED
        if self.relo.kind in EXISTENCE_KINDS:
            return RelocState.MISSING
        return RelocState.POISONED if self.poisoned else RelocState.ZERO


# -- BTF helpers with libbpf semantics -------------------------------------------------------


def skip_mods_and_typedefs(btf: Btf, type_id: int) -> tuple[int, t.Type]:
    """Follow CONST/VOLATILE/RESTRICT/TYPE_TAG/TYPEDEF; returns the final id and type."""
    typ = btf.type(type_id)
    if not isinstance(typ, t.ModOrTypedef):
        return type_id, typ  # the common case, decided by the one decode needed anyway
    type_id = _skip_to_id(btf, type_id)
    return type_id, btf.type(type_id)


def resolve_size(btf: Btf, type_id: int) -> int:
    """``btf__resolve_size``; raises for void, FWD, FUNC and over-deep chains."""
    nelems = 1
    direct = btf.size_of(type_id)
    if direct is not None:
        return direct  # a sized kind: no chain to follow, no need to decode
    typ = btf.type(type_id)
    for _ in range(MAX_RESOLVE_DEPTH):
        if isinstance(typ, t.Void):
            break
        match typ:
            case t.Int() | t.Struct() | t.Union() | t.Enum() | t.Enum64() | t.Datasec() | t.Float():
                size = typ.size
                break
            case t.Pointer():
                size = btf.pointer_size()
                break
            case t.Typedef() | t.Volatile() | t.Const() | t.Restrict() | t.Var() | t.DeclTag():
                typ = btf.type(typ.type_id)
            case t.TypeTag():
                typ = btf.type(typ.type_id)
            case t.Array():
                if nelems and typ.nelems and 0xFFFFFFFF // nelems < typ.nelems:
                    raise _Errno(ReasonCode.INVALID, f"array [{type_id}] is too large")
                nelems *= typ.nelems
                typ = btf.type(typ.type_id)
            case _:
                raise _Errno(ReasonCode.INVALID, f"cannot size [{type_id}] ({typ.kind.name})")
    else:
        raise _Errno(ReasonCode.INVALID, f"type chain from [{type_id}] is too deep to size")
    if isinstance(typ, t.Void):
        raise _Errno(ReasonCode.INVALID, f"cannot size [{type_id}]: it resolves to void")
    if nelems and size > 0xFFFFFFFF // nelems:
        raise _Errno(ReasonCode.INVALID, f"[{type_id}] is too large")
    return nelems * size


def _kinds_compat(a: t.Type, b: t.Type) -> bool:
    """``btf_kind_core_compat``: same kind, or ENUM with ENUM64."""
    if a.kind == b.kind:
        return True
    return a.kind in (Kind.ENUM, Kind.ENUM64) and b.kind in (Kind.ENUM, Kind.ENUM64)


def _unshifted_ints(local: t.Int, target: t.Type) -> bool:
    """The INT rule of both compatibility checks: neither may start at a bit offset."""
    assert isinstance(target, t.Int)
    return local.bit_offset == 0 and target.bit_offset == 0


def _is_any_enum(typ: t.Type) -> bool:
    return isinstance(typ, (t.Enum, t.Enum64))


def _vlen(typ: t.Type) -> int:
    if isinstance(typ, (t.Struct, t.Union)):
        return len(typ.members)
    if isinstance(typ, (t.Enum, t.Enum64)):
        return len(typ.values)
    if isinstance(typ, t.FuncProto):
        return len(typ.params)
    if isinstance(typ, t.Datasec):
        return len(typ.vars)
    if isinstance(typ, t.Func):
        return typ.linkage
    return 0


def find_candidates(local: Btf, local_id: int, target: Btf) -> list[int]:
    """``bpf_core_add_cands``: target ids of a compatible kind with the same essential name."""
    local_type = local.type(local_id)
    name = local_type.name
    if not name:
        return []
    kind = local_type.kind
    enums = (Kind.ENUM, Kind.ENUM64)
    return [
        cand
        for cand in target.ids_by_essential_name(essential_name(name))
        if (k := target.kind(cand)) == kind or (k in enums and kind in enums)
    ]


# -- local spec ------------------------------------------------------------------------------


def _is_flex_array(btf: Btf, prev: Accessor, array: t.Array) -> bool:
    """``is_flex_arr``: zero-length array that is the last member of its struct."""
    if array.nelems:
        return False
    return prev.idx == _vlen(btf.type(prev.type_id)) - 1


def parse_spec(btf: Btf, root_id: int, access_str: str, kind: CoreReloKind) -> CoreSpec:
    """``bpf_core_parse_spec``: the local spec of a relocation (raises _Errno)."""
    shown = shown_access(access_str)
    if not access_str or access_str.startswith(":"):
        raise _Errno(ReasonCode.SPEC, f"bad access string {shown}")
    spec = CoreSpec(btf, root_id, kind)
    if kind in TYPE_KINDS:
        if access_str != "0":
            raise _Errno(ReasonCode.SPEC, f"type-based relocation with access string {shown}")
        return spec
    try:
        raw = scan_access_str(access_str)  # sscanf("%d") as libbpf, whatever the length
    except AccessStringError as err:
        if err.kind == "length":
            raise _Errno(ReasonCode.SPEC, f"access string {shown} is too long") from None
        raise _Errno(ReasonCode.SPEC, f"bad access string {shown}") from None
    spec.raw_spec = raw
    type_id, typ = skip_mods_and_typedefs(btf, root_id)
    first = raw[0]
    root_acc = Accessor(type_id, first)
    spec.accessors.append(root_acc)
    if kind in ENUMVAL_KINDS:
        if (
            not isinstance(typ, (t.Enum, t.Enum64))
            or len(raw) > 1
            or not 0 <= first < len(typ.values)
        ):
            raise _Errno(ReasonCode.SPEC, f"enum relocation {shown} does not name an enumerator")
        root_acc.name = typ.values[first].name
        return spec
    if kind not in FIELD_KINDS:
        raise _Errno(ReasonCode.SPEC, f"unknown relocation kind {kind}")
    if first < 0:
        raise _Errno(ReasonCode.SPEC, f"negative index in {shown}")
    spec.bit_offset = first * resolve_size(btf, type_id) * 8
    for idx in raw[1:]:
        if idx < 0:
            raise _Errno(ReasonCode.SPEC, f"negative index in {shown}")
        type_id, typ = skip_mods_and_typedefs(btf, type_id)
        if isinstance(typ, (t.Struct, t.Union)):
            if idx >= len(typ.members):
                raise _Errno(ReasonCode.SPEC, f"member index {idx} out of range in {shown}")
            member = typ.members[idx]
            spec.bit_offset += member.bit_offset
            if member.name:
                spec.accessors.append(Accessor(type_id, idx, member.name))
            type_id = member.type_id
        elif isinstance(typ, t.Array):
            prev = spec.accessors[-1]
            type_id, _ = skip_mods_and_typedefs(btf, typ.type_id)
            if not _is_flex_array(btf, prev, typ) and idx >= typ.nelems:
                raise _Errno(ReasonCode.SPEC, f"array index {idx} out of range in {shown}")
            spec.accessors.append(Accessor(type_id, idx))
            spec.bit_offset += idx * resolve_size(btf, type_id) * 8
        else:
            raise _Errno(
                ReasonCode.SPEC,
                f"access string {shown} steps into [{type_id}] of kind {typ.kind.name}",
            )
    return spec


# -- matching --------------------------------------------------------------------------------


def _fields_compat(local: Btf, local_id: int, target: Btf, targ_id: int) -> bool:
    """``bpf_core_fields_are_compat``."""
    composite = (Kind.STRUCT, Kind.UNION)
    for _ in range(MAX_ARRAY_NESTING):
        local_id = _skip_to_id(local, local_id)
        targ_id = _skip_to_id(target, targ_id)
        if local.kind(local_id) in composite and target.kind(targ_id) in composite:
            return True  # decided without decoding either struct
        lt, tt = local.type(local_id), target.type(targ_id)
        if not _kinds_compat(lt, tt):
            return False
        match lt:
            case t.Pointer() | t.Float():
                return True
            case t.Fwd() | t.Enum() | t.Enum64():
                ll, tl = essential_name_len(lt.name), essential_name_len(tt.name)
                return ll == 0 or tl == 0 or (ll == tl and lt.name[:ll] == tt.name[:tl])
            case t.Int():
                return _unshifted_ints(lt, tt)
            case t.Array():
                assert isinstance(tt, t.Array)
                local_id, targ_id = lt.type_id, tt.type_id
            case _:
                return False
    raise _Errno(ReasonCode.INVALID, "array nesting too deep")


def ksym_types_compat(
    local: Btf, local_id: int, target: Btf, targ_id: int, *, skip_target_mods: bool = False
) -> bool:
    """``bpf_core_types_are_compat`` as libbpf calls it for ``__ksym`` externs: a kfunc's
    FUNC_PROTO against the kernel's, a typed variable's type against the kernel VAR's (its
    modifiers skipped first); any error counts as incompatible (libbpf refuses the extern on a
    result <= 0)."""
    try:
        if skip_target_mods:
            targ_id, _ = skip_mods_and_typedefs(target, targ_id)
        return types_are_compat(local, local_id, target, targ_id)
    except (_Errno, BtfmirrorError):
        return False


def types_are_compat(
    local: Btf, local_id: int, target: Btf, targ_id: int, level: int = COMPAT_LEVEL
) -> bool:
    """``__bpf_core_types_are_compat`` (TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE)."""
    if not _kinds_compat(local.type(local_id), target.type(targ_id)):
        return False
    for _ in range(COMPAT_DEPTH):
        local_id, lt, targ_id, tt = _skip_both(local, local_id, target, targ_id)
        if not _kinds_compat(lt, tt):
            return False
        match lt:
            case t.Void() | t.Struct() | t.Union() | t.Enum() | t.Enum64() | t.Fwd():
                return True
            case t.Int():
                return _unshifted_ints(lt, tt)
            case t.Pointer():
                assert isinstance(tt, t.Pointer)
                local_id, targ_id = lt.type_id, tt.type_id
            case t.Array():
                assert isinstance(tt, t.Array)
                local_id, targ_id = lt.type_id, tt.type_id
            case t.FuncProto():
                assert isinstance(tt, t.FuncProto)
                if len(lt.params) != len(tt.params):
                    return False
                for lp, tp in zip(lt.params, tt.params, strict=True):
                    if level <= 0:
                        raise _Errno(ReasonCode.INVALID, "function prototype nesting too deep")
                    lp_id, _ = skip_mods_and_typedefs(local, lp.type_id)
                    tp_id, _ = skip_mods_and_typedefs(target, tp.type_id)
                    if not types_are_compat(local, lp_id, target, tp_id, level - 1):
                        return False
                local_id, _ = skip_mods_and_typedefs(local, lt.return_type_id)
                targ_id, _ = skip_mods_and_typedefs(target, tt.return_type_id)
            case _:
                return False
    raise _Errno(ReasonCode.INVALID, "type compatibility check is too deep")


def _skip_both(
    local: Btf, local_id: int, target: Btf, targ_id: int
) -> tuple[int, t.Type, int, t.Type]:
    """One step of libbpf's compatibility walks: ``skip_mods_and_typedefs`` on each side."""
    local_id, lt = skip_mods_and_typedefs(local, local_id)
    targ_id, tt = skip_mods_and_typedefs(target, targ_id)
    return local_id, lt, targ_id, tt


def _names_match(local_name: str, targ_name: str) -> bool:
    """``bpf_core_names_match``: anonymous matches anonymous; else essential names equal."""
    if not targ_name:
        return not local_name
    ll, tl = essential_name_len(local_name), essential_name_len(targ_name)
    return ll == tl and local_name[:ll] == targ_name[:tl]


def types_match(
    local: Btf,
    local_id: int,
    target: Btf,
    targ_id: int,
    behind_ptr: bool = False,
    level: int = COMPAT_LEVEL,
) -> bool:
    """``__bpf_core_types_match`` (TYPE_MATCHES, kernel 6.1 / libbpf 1.0).

    libbpf compares each local member with every same-named target member, recursively: a
    target whose structs hold many anonymous members, each holding many more, costs it the
    product. The answer for one (local, target, behind pointer) triple is fixed; only whether
    the level limit is hit depends on the level it is asked at, and the levels the first
    answer needed tell that. So each triple is compared once per call, with libbpf's outcome.
    """
    return _types_match(local, local_id, target, targ_id, behind_ptr, level, {})[0]


def _types_match(
    local: Btf,
    local_id: int,
    target: Btf,
    targ_id: int,
    behind_ptr: bool,
    level: int,
    memo: dict[tuple[int, int, bool], tuple[bool, int]],
) -> tuple[bool, int]:
    """(match, levels needed): the answer holds at any level >= the levels needed."""
    if level <= 0:
        raise _Errno(ReasonCode.INVALID, "type match nesting too deep")
    key = (local_id, targ_id, behind_ptr)
    found = memo.get(key)
    if found is not None:
        if level < found[1]:  # the same walk runs out of levels on its way
            raise _Errno(ReasonCode.INVALID, "type match nesting too deep")
        return found
    need = 1

    def sub(lid: int, tid: int, behind: bool) -> bool:
        nonlocal need
        matched, below = _types_match(local, lid, target, tid, behind, level - 1, memo)
        need = max(need, below + 1)
        return matched

    result = _types_match_body(local, local_id, target, targ_id, behind_ptr, sub)
    memo[key] = (result, need)
    return result, need


def _types_match_body(
    local: Btf,
    local_id: int,
    target: Btf,
    targ_id: int,
    behind_ptr: bool,
    sub: Callable[[int, int, bool], bool],
) -> bool:
    for _ in range(COMPAT_DEPTH):
        local_id, lt, targ_id, tt = _skip_both(local, local_id, target, targ_id)
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        match lt:
            case t.Void():
                return lk == tk
            case t.Fwd():
                if behind_ptr and lk != tk:
                    return (tk == Kind.STRUCT and not lt.kind_flag) or (
                        tk == Kind.UNION and lt.kind_flag
                    )
                return lk == tk and lt.kind_flag == tt.kind_flag
            case t.Enum() | t.Enum64():
                if not isinstance(tt, (t.Enum, t.Enum64)):
                    return False
                if lt.size != tt.size or len(lt.values) > len(tt.values):
                    return False
                return all(
                    any(_names_match(lv.name, tv.name) for tv in tt.values) for lv in lt.values
                )
            case t.Struct() | t.Union():
                if behind_ptr:
                    if lk == tk:
                        return True
                    if tk != Kind.FWD:
                        return False
                    return (lk == Kind.UNION) == tt.kind_flag
                if lk != tk:
                    return False
                assert isinstance(tt, (t.Struct, t.Union))
                if len(lt.members) > len(tt.members):
                    return False
                for lm in lt.members:
                    if not any(
                        _names_match(lm.name, tm.name) and sub(lm.type_id, tm.type_id, behind_ptr)
                        for tm in tt.members
                    ):
                        return False
                return True
            case t.Int():
                if not isinstance(tt, t.Int):
                    return False
                return lt.size == tt.size and (lt.encoding & INT_SIGNED) == (
                    tt.encoding & INT_SIGNED
                )
            case t.Pointer():
                if not isinstance(tt, t.Pointer):
                    return False
                behind_ptr = True
                local_id, targ_id = lt.type_id, tt.type_id
            case t.Array():
                if not isinstance(tt, t.Array) or lt.nelems != tt.nelems:
                    return False
                local_id, targ_id = lt.type_id, tt.type_id
            case t.FuncProto():
                if not isinstance(tt, t.FuncProto) or len(lt.params) != len(tt.params):
                    return False
                for lp, tp in zip(lt.params, tt.params, strict=True):
                    if not sub(lp.type_id, tp.type_id, behind_ptr):
                        return False
                local_id, targ_id = lt.return_type_id, tt.return_type_id
            case _:
                return False
    raise _Errno(ReasonCode.INVALID, "type match is too deep")


@dataclass(frozen=True, slots=True)
class _MemberSearch:
    """What ``bpf_core_match_member`` does to the spec below one target type, relative to where
    it started: the raw indices it leaves pushed (the path on a match; on a miss, the ones
    libbpf leaks, see below), the bit offset it adds, the accessor it pushes on a match, and the
    deepest point (relative raw length) at which it checked ``BPF_CORE_SPEC_MAX_LEN``
    (-1: never, the type has no members)."""

    found: bool
    raw: tuple[int, ...] = ()
    bits: int = 0
    accessor: Accessor | None = None
    next_id: int = 0
    reach: int = -1


_NOT_COMPOSITE = _MemberSearch(False)


class _MemberSearcher:
    """``bpf_core_match_member`` for one local member, memoised per target type.

    libbpf searches anonymous members depth-first and takes the first match: a target whose
    structs hold the same anonymous struct twice, nested 20 deep (a DAG, no cycle), costs it
    2**20 visits. What the search below one target type does is fixed by that type alone (the
    local member is fixed): only whether it hits the spec length limit depends on how deep the
    spec already is, and the recorded ``reach`` answers that for any depth. So each target type
    is searched once per local member and replayed after, with exactly libbpf's outcome.
    """

    __slots__ = ("local", "local_name", "local_type_id", "memo", "target")

    def __init__(self, local: Btf, local_acc: Accessor, target: Btf):
        member = local.member(local_acc.type_id, local_acc.idx)
        self.local = local
        self.local_name = member.name
        self.local_type_id = member.type_id
        self.target = target
        self.memo: dict[int, _MemberSearch] = {}

    def search(self, targ_id: int, budget: int) -> _MemberSearch:
        """The search below ``targ_id`` with ``budget`` raw entries left before the limit."""
        target = self.target
        targ_id = _skip_to_id(target, targ_id)
        if target.kind(targ_id) not in (Kind.STRUCT, Kind.UNION):
            return _NOT_COMPOSITE
        found = self.memo.get(targ_id)
        if found is None:
            found = self.memo[targ_id] = self._search(targ_id, budget)
        elif found.reach >= budget:
            # The same walk from deeper down reaches the limit (and met no other error).
            raise _Errno(ReasonCode.INVALID, "struct/union/array nesting too deep")
        return found

    def _search(self, targ_id: int, budget: int) -> _MemberSearch:
        target = self.target
        # libbpf walks every member in order, tentatively pushing each and popping it again;
        # only anonymous members (searched depth-first) and the first member with the wanted
        # name can change the outcome, so visit just those, in the same order. Large target
        # structs (and kernels with hundreds of duplicate task_structs) are never decoded whole.
        anonymous, first_by_name, count = target.member_layout(targ_id)
        if not count:
            return _MemberSearch(False)
        # libbpf checks the limit before each member; every depth it checks after the first was
        # reached by a push that followed a check one level up, so this one check is the first
        # that could fail.
        if budget <= 0:
            raise _Errno(ReasonCode.INVALID, "struct/union/array nesting too deep")
        reach = 0
        raw: list[int] = []  # what stays pushed at this level so far
        bits = 0
        named_at = first_by_name.get(self.local_name, count)
        for i in anonymous:
            if i > named_at:
                break
            member = target.member(targ_id, i)
            depth = len(raw) + 1
            below = self.search(member.type_id, budget - depth)
            if below.reach >= 0:
                reach = max(reach, depth + below.reach)
            if below.found:
                path = (*raw, i, *below.raw)
                total = bits + member.bit_offset + below.bits
                return _MemberSearch(True, path, total, below.accessor, below.next_id, reach)
            # libbpf pops one raw entry (the last pushed, which is not ``i`` when the search
            # below leaked one) and subtracts this member's offset.
            raw = [*raw, i, *below.raw][:-1]
            bits += below.bits
        if named_at == count:
            return _MemberSearch(False, tuple(raw), bits, None, 0, reach)
        member = target.member(targ_id, named_at)
        raw.append(named_at)
        bits += member.bit_offset
        if _fields_compat(self.local, self.local_type_id, target, member.type_id):
            accessor = Accessor(targ_id, named_at, member.name)
            return _MemberSearch(True, tuple(raw), bits, accessor, member.type_id, reach)
        # Like libbpf, the pushed index and offset stay: the caller pops one level.
        return _MemberSearch(False, tuple(raw), bits, None, 0, reach)


def _match_member(
    local: Btf, local_acc: Accessor, target: Btf, targ_id: int, spec: CoreSpec
) -> tuple[bool, int]:
    """``bpf_core_match_member``: depth-first into anonymous members; (found, next id)."""
    searcher = _MemberSearcher(local, local_acc, target)
    found = searcher.search(targ_id, SPEC_MAX_LEN - len(spec.raw_spec))
    spec.raw_spec.extend(found.raw)
    spec.bit_offset += found.bits
    if found.accessor is not None:
        spec.accessors.append(found.accessor)
    return found.found, found.next_id


def _skip_to_id(btf: Btf, type_id: int) -> int:
    """``skip_mods_and_typedefs`` returning only the id, decoding nothing but modifiers."""
    if btf.kind(type_id) not in MOD_KINDS:
        return type_id
    try:
        return btf.mod_chain(type_id)[0]
    except ModifierChainError as err:
        raise _Errno(ReasonCode.INVALID, err.reason) from None


def spec_match(local_spec: CoreSpec, target: Btf, targ_id: int) -> tuple[bool, CoreSpec]:
    """``bpf_core_spec_match``: does candidate ``targ_id`` satisfy the local spec?"""
    kind = local_spec.kind
    spec = CoreSpec(target, targ_id, kind)
    local = local_spec.btf
    if kind in TYPE_KINDS:
        if kind == CoreReloKind.TYPE_MATCHES:
            return types_match(local, local_spec.root_type_id, target, targ_id), spec
        return types_are_compat(local, local_spec.root_type_id, target, targ_id), spec
    if kind in ENUMVAL_KINDS:
        enum_id, enum_type = skip_mods_and_typedefs(target, targ_id)
        if not isinstance(enum_type, (t.Enum, t.Enum64)):
            return False, spec
        local_name = local_spec.accessors[0].name or ""
        want = essential_name(local_name)
        for i, value in enumerate(enum_type.values):
            if essential_name(value.name) == want:
                spec.accessors.append(Accessor(enum_id, i, value.name))
                spec.raw_spec.append(i)
                return True, spec
        return False, spec
    cur = targ_id
    for i, local_acc in enumerate(local_spec.accessors):
        cur = _skip_to_id(target, cur)
        if local_acc.name is not None:
            found, cur = _match_member(local, local_acc, target, cur, spec)
            if not found:
                return False, spec
            continue
        if i > 0:
            targ_type = target.type(cur)
            if not isinstance(targ_type, t.Array):
                return False, spec
            if not _is_flex_array(target, spec.accessors[-1], targ_type) and (
                local_acc.idx >= targ_type.nelems
            ):
                return False, spec
            cur, _ = skip_mods_and_typedefs(target, targ_type.type_id)
        if len(spec.raw_spec) == SPEC_MAX_LEN:
            raise _Errno(ReasonCode.INVALID, "struct/union/array nesting too deep")
        spec.accessors.append(Accessor(cur, local_acc.idx))
        spec.raw_spec.append(local_acc.idx)
        spec.bit_offset += local_acc.idx * resolve_size(target, cur) * 8
    return True, spec


# -- relocation values -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FieldValue:
    value: int
    size: int = 0
    type_id: int = 0
    validate: bool = True


def _field_value(kind: CoreReloKind, spec: CoreSpec | None, little_endian: bool) -> _FieldValue:
    """``bpf_core_calc_field_relo``."""
    if kind == CoreReloKind.FIELD_EXISTS:
        return _FieldValue(1 if spec is not None else 0)
    if spec is None:
        raise _Poison
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            return _FieldValue(spec.bit_offset // 8, resolve_size(btf, acc.type_id), acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_SIZE:
            return _FieldValue(resolve_size(btf, acc.type_id))
        raise _Errno(
            ReasonCode.INVALID, f"{kind.short_name} relocation cannot be applied to array access"
        )
    member = btf.member(acc.type_id, acc.idx)
    field_type_id = _skip_to_id(btf, member.type_id)
    # Struct-typed fields are common and big: decode the field type only when it matters.
    composite = btf.kind(field_type_id) in (Kind.STRUCT, Kind.UNION)
    mt: t.Type = t.Void() if composite else btf.type(field_type_id)
    bit_off = spec.bit_offset
    bit_sz = member.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = getattr(mt, "size", 0)
        if byte_sz <= 0:
            raise _Errno(ReasonCode.INVALID, f"bitfield member {member.name} has no sized type")
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise _Errno(
                    ReasonCode.BITFIELD,
                    f"bitfield {member.name} can't be read with one 64-bit load",
                )
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = resolve_size(btf, field_type_id)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    match kind:
        case CoreReloKind.FIELD_BYTE_OFFSET:
            if bitfield:
                return _FieldValue(byte_off, validate=validate)
            return _FieldValue(byte_off, byte_sz, field_type_id, validate)
        case CoreReloKind.FIELD_BYTE_SIZE:
            return _FieldValue(byte_sz, validate=validate)
        case CoreReloKind.FIELD_SIGNED:
            signed = (_is_any_enum(mt) and mt.kind_flag) or (
                isinstance(mt, t.Int) and bool(mt.encoding & INT_SIGNED)
            )
            return _FieldValue(int(signed))
        case CoreReloKind.FIELD_LSHIFT_U64:
            # libbpf picks the formula by the byte order of the host it runs on.
            if little_endian:
                return _FieldValue(64 - (bit_off + bit_sz - byte_off * 8), validate=validate)
            return _FieldValue((8 - byte_sz) * 8 + (bit_off - byte_off * 8), validate=validate)
        case CoreReloKind.FIELD_RSHIFT_U64:
            return _FieldValue(64 - bit_sz)
    raise _Errno(ReasonCode.INVALID, f"unrecognized CO-RE relocation {kind}")


def _type_value(kind: CoreReloKind, spec: CoreSpec | None) -> int:
    """``bpf_core_calc_type_relo``: type-based kinds give 0 when the type is not found."""
    if spec is None:
        return 0
    match kind:
        case CoreReloKind.TYPE_ID_TARGET:
            return spec.root_type_id
        case CoreReloKind.TYPE_EXISTS | CoreReloKind.TYPE_MATCHES:
            return 1
        case CoreReloKind.TYPE_SIZE:
            return resolve_size(spec.btf, spec.root_type_id)
    raise _Errno(ReasonCode.INVALID, f"unrecognized CO-RE relocation {kind}")


def _enumval_value(kind: CoreReloKind, spec: CoreSpec | None) -> int:
    """``bpf_core_calc_enumval_relo``; ENUM values are sign-extended to 64 bits like libbpf."""
    if kind == CoreReloKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        raise _Poison
    acc = spec.accessors[0]
    enum = spec.btf.type(acc.type_id)
    assert isinstance(enum, (t.Enum, t.Enum64))
    value = enum.values[acc.idx].value
    if isinstance(enum, t.Enum):
        value = (value & 0xFFFFFFFF) - ((value & 0x80000000) << 1)  # as __s32
    return value & 0xFFFFFFFFFFFFFFFF


def calc_relo(
    kind: CoreReloKind,
    local_spec: CoreSpec,
    targ_spec: CoreSpec | None,
    little_endian: bool,
    local_cache: dict[str, _FieldValue] | None = None,
) -> RelocationResult:
    """``bpf_core_calc_relo``: original (local) and new (target) values.

    ``local_cache`` keeps the local field value between the candidates of one relocation
    (libbpf recomputes it for each; it cannot change).
    """
    if kind in FIELD_KINDS:
        orig = local_cache.get("orig") if local_cache is not None else None
        if orig is None:
            orig = _field_value(kind, local_spec, little_endian)
            if local_cache is not None:
                local_cache["orig"] = orig
        try:
            new = _field_value(kind, targ_spec, little_endian)
        except _Poison:
            return RelocationResult(orig.value, 0, poison=True, validate=orig.validate)
        fail_adjust = False
        if orig.size != new.size:
            # libbpf only allows resizing a load of a pointer or an unsigned integer.
            assert targ_spec is not None
            ot = local_spec.btf.type(orig.type_id)
            nt = targ_spec.btf.type(new.type_id)
            safe = (isinstance(ot, t.Pointer) and isinstance(nt, t.Pointer)) or (
                isinstance(ot, t.Int)
                and isinstance(nt, t.Int)
                and ot.encoding != INT_SIGNED
                and nt.encoding != INT_SIGNED
            )
            fail_adjust = not safe
        return RelocationResult(
            orig.value,
            new.value,
            validate=orig.validate,
            orig_sz=orig.size,
            new_sz=new.size,
            orig_type_id=orig.type_id,
            new_type_id=new.type_id,
            fail_memsz_adjust=fail_adjust,
        )
    if kind in TYPE_KINDS:
        return RelocationResult(
            _type_value(kind, local_spec),
            _type_value(kind, targ_spec),
            validate=kind != CoreReloKind.TYPE_ID_TARGET,
        )
    orig_val = _enumval_value(kind, local_spec)
    try:
        return RelocationResult(orig_val, _enumval_value(kind, targ_spec))
    except _Poison:
        return RelocationResult(orig_val, 0, poison=True)


# -- the resolver ----------------------------------------------------------------------------

#: Below this many candidates, matching each is cheaper than classing them (see shape.py).
SHAPE_MIN_CANDIDATES = 8


@dataclass(frozen=True, slots=True)
class _ReusedOutcome:
    """What the candidates of one field-layout class give for one access string."""

    matched: bool
    bit_offset: int = 0
    poison: bool = False
    new_val: int = 0


def _shape_class(shapes: FieldShapes | None, type_id: int) -> int:
    """The candidate's class, or 0 (match it for real) when unclassed or unreadable."""
    if shapes is None:
        return 0
    try:
        return shapes.class_of(type_id)
    except BtfmirrorError:
        # Unreadable somewhere the match may never look: let the match itself decide.
        return 0


class CoreResolver:
    """Resolves one object's relocations against one target BTF, as libbpf would.

    Holds the per-object candidate cache (keyed by local root id) that libbpf prunes as it
    goes, so records must be resolved in file order with one resolver per object.
    """

    def __init__(self, local: Btf, target: Btf, *, little_endian_host: bool | None = None):
        self.local = local
        self.target = target
        self.little_endian = (
            sys.byteorder == "little" if little_endian_host is None else little_endian_host
        )
        self.candidates: dict[int, list[int]] = {}
        self.shape_min_candidates = SHAPE_MIN_CANDIDATES
        self._shapes: FieldShapes | None = None
        self._reuse_broken = False  # the object's BTF cannot be read whole: never reuse
        #: (kind, local root, access string) -> field-layout class -> outcome; see _match.
        self._field_outcomes: dict[tuple[int, int, str], dict[int, _ReusedOutcome]] = {}

    def resolve(self, relo: CoreRelo, index: int) -> Resolution:
        """``bpf_core_calc_relo_insn`` for one record; failures are returned, not raised."""
        try:
            return self._resolve(relo, index)
        except BtfmirrorError as err:  # malformed object BTF (dangling ids and the like)
            return self._failed(relo, index, None, [], ReasonCode.INVALID, str(err))

    def _resolve(self, relo: CoreRelo, index: int) -> Resolution:
        local_spec: CoreSpec | None = None
        outcomes: list[CandidateOutcome] = []
        try:
            local_spec = parse_spec(self.local, relo.type_id, relo.access_str, relo.kind)
        except _Errno as err:
            return self._failed(relo, index, None, outcomes, err.code, err.reason)
        except BtfmirrorError as err:
            return self._failed(relo, index, None, outcomes, ReasonCode.SPEC, str(err))
        if relo.kind == CoreReloKind.TYPE_ID_LOCAL:
            result = RelocationResult(relo.type_id, relo.type_id, validate=False)
            return Resolution(relo, index, local_spec, (), None, result)
        if not self.local.type(relo.type_id).name:
            return self._failed(
                relo,
                index,
                local_spec,
                outcomes,
                ReasonCode.ANONYMOUS,
                f"<{relo.kind.short_name}> ({int(relo.kind)}) relocation doesn't support "
                "anonymous types",
            )
        cands = self.candidates.get(relo.type_id)
        if cands is None:
            cands = self.candidates[relo.type_id] = find_candidates(
                self.local, relo.type_id, self.target
            )
        try:
            return self._match(relo, index, local_spec, cands, outcomes)
        except _Errno as err:
            return self._failed(relo, index, local_spec, outcomes, err.code, err.reason)

    def _match(
        self,
        relo: CoreRelo,
        index: int,
        local_spec: CoreSpec,
        cands: list[int],
        outcomes: list[CandidateOutcome],
    ) -> Resolution:
        targ_spec: CoreSpec | None = None
        targ_res: RelocationResult | None = None
        kept: list[int] = []
        local_cache: dict[str, _FieldValue] = {}
        shapes, reused = self._reuse_for(relo, cands)
        for cand in cands:
            shape = _shape_class(shapes, cand)
            seen = reused.get(shape) if shape else None
            if seen is not None and (targ_spec is not None or not seen.matched):
                # Same field layout as a candidate already matched for this access string:
                # same outcome (see shape.py); only the first match needs a real spec.
                outcomes.append(CandidateOutcome(cand, seen.matched, None, local_spec, self.target))
                if not seen.matched:
                    continue
                bit_offset, poison, new_val = seen.bit_offset, seen.poison, seen.new_val
            else:
                try:
                    matched, cand_spec = spec_match(local_spec, self.target, cand)
                except _Errno as err:
                    # "error matching candidate #i": libbpf gives up on the whole relocation.
                    return self._failed(
                        relo, index, local_spec, outcomes, err.code, err.reason, targ_spec, cand
                    )
                outcomes.append(CandidateOutcome(cand, matched, cand_spec))
                if not matched:
                    if shape:
                        reused[shape] = _ReusedOutcome(False)
                    continue
                try:
                    cand_res = calc_relo(
                        relo.kind, local_spec, cand_spec, self.little_endian, local_cache
                    )
                except _Errno as err:
                    # libbpf gives up here; keep the spec so a lenient caller can still use it.
                    return self._failed(
                        relo,
                        index,
                        local_spec,
                        outcomes,
                        err.code,
                        err.reason,
                        targ_spec or cand_spec,
                        cand,
                    )
                bit_offset, poison = cand_spec.bit_offset, cand_res.poison
                new_val = cand_res.new_val
                if shape:
                    reused[shape] = _ReusedOutcome(True, bit_offset, poison, new_val)
                if targ_spec is None:
                    targ_spec, targ_res = cand_spec, cand_res
                    kept.append(cand)
                    continue
            assert targ_spec is not None and targ_res is not None
            problem: _Errno | None = None
            if bit_offset != targ_spec.bit_offset:
                problem = _Errno(
                    ReasonCode.OFFSET_AMBIGUITY,
                    f"field offset ambiguity: {bit_offset} != {targ_spec.bit_offset}",
                )
            elif poison != targ_res.poison or new_val != targ_res.new_val:
                problem = _Errno(
                    ReasonCode.DECISION_AMBIGUITY,
                    "relocation decision ambiguity: "
                    f"{'failure' if poison else 'success'} {new_val} != "
                    f"{'failure' if targ_res.poison else 'success'} {targ_res.new_val}",
                )
            if problem is not None:
                # libbpf stops at the first disagreement; the first match is what it had chosen.
                return self._failed(
                    relo,
                    index,
                    local_spec,
                    outcomes,
                    problem.code,
                    problem.reason,
                    targ_spec,
                    cand,
                )
            kept.append(cand)
        if kept:
            cands[:] = kept  # libbpf prunes the cached list to the matching candidates
            return Resolution(relo, index, local_spec, tuple(outcomes), targ_spec, targ_res)
        result = calc_relo(relo.kind, local_spec, None, self.little_endian)
        return Resolution(relo, index, local_spec, tuple(outcomes), None, result)

    def _reuse_for(
        self, relo: CoreRelo, cands: list[int]
    ) -> tuple[FieldShapes | None, dict[int, _ReusedOutcome]]:
        """Field-layout classes and the outcomes seen per class for this access string, when
        there are enough candidates for reuse to pay (field kinds only)."""
        if (
            relo.kind not in FIELD_KINDS
            or len(cands) < self.shape_min_candidates
            or self._reuse_broken
        ):
            return None, {}
        if self._shapes is None:
            try:
                names = object_names(self.local)
            except BtfmirrorError:  # a local type that cannot be decoded: match every one
                self._reuse_broken = True
                return None, {}
            self._shapes = FieldShapes(self.target, names)
        key = (int(relo.kind), relo.type_id, relo.access_str)
        return self._shapes, self._field_outcomes.setdefault(key, {})

    @staticmethod
    def _failed(
        relo: CoreRelo,
        index: int,
        local_spec: CoreSpec | None,
        outcomes: list[CandidateOutcome],
        code: ReasonCode,
        reason: str,
        chosen: CoreSpec | None = None,
        stopped_at: int | None = None,
    ) -> Resolution:
        """A relocation libbpf refuses; ``chosen`` is the first match it had found, if any,
        ``stopped_at`` the candidate it gave up on."""
        failure = CoreFailure(relo.section, index, code, reason)
        return Resolution(
            relo, index, local_spec, tuple(outcomes), chosen, None, failure, stopped_at
        )


def candidate_spec(local_spec: CoreSpec, target: Btf, targ_id: int) -> CoreSpec | None:
    """The target spec of candidate ``targ_id`` for ``local_spec`` when it matches; None when it
    does not, or when libbpf's match itself fails on it (nesting too deep, unsizable types)."""
    try:
        matched, spec = spec_match(local_spec, target, targ_id)
    except _Errno:
        return None
    return spec if matched else None


def relocation_indices(relos: Sequence[CoreRelo]) -> list[int]:
    """libbpf's ``relo #N``: the position of each record within its ELF section."""
    counts: dict[str, int] = {}
    out = []
    for relo in relos:
        n = counts.get(relo.section, 0)
        out.append(n)
        counts[relo.section] = n + 1
    return out


def resolve_all(
    local: Btf,
    relos: Iterable[CoreRelo],
    target: Btf,
    *,
    little_endian_host: bool | None = None,
) -> list[Resolution]:
    """Resolve every record of one object in file order (a fresh candidate cache)."""
    records = list(relos)
    resolver = CoreResolver(local, target, little_endian_host=little_endian_host)
    return [
        resolver.resolve(relo, index)
        for relo, index in zip(records, relocation_indices(records), strict=True)
    ]


# -- libbpf's spec text, for logs and the bpftool oracle ------------------------------------


def format_spec(spec: CoreSpec) -> str:
    """``bpf_core_format_spec``: e.g. ``<byte_off> [5] struct s.a.b[2] (0:1:0:2 @ offset 8)``."""
    return f"<{spec.kind.short_name}> [{spec.root_type_id}] {format_spec_target(spec)}"


def format_spec_target(spec: CoreSpec) -> str:
    """:func:`format_spec` after the root id, what ``relocs`` and ``check`` show as the
    target: e.g. ``struct s.a.b[2] (0:1:0:2 @ offset 8)``."""
    btf = spec.btf
    root = btf.type(spec.root_type_id)
    # libbpf's btf_kind_str(): lower-case kind names, "void" for id 0.
    kind_str = root.kind.name.lower() if root.kind != Kind.UNKN else "void"
    out = f"{kind_str} {root.name or '<anon>'}"
    if spec.kind in TYPE_KINDS:
        return out
    if spec.kind in ENUMVAL_KINDS:
        _, enum = skip_mods_and_typedefs(btf, spec.root_type_id)
        # libbpf prints raw_spec[0] even for a non-matching candidate, whose spec is zeroed.
        index = spec.raw_spec[0] if spec.raw_spec else 0
        if not isinstance(enum, (t.Enum, t.Enum64)) or index >= len(enum.values):
            return out
        value = enum.values[index]
        return f"{out}::{value.name} = {value.value}"
    for i, acc in enumerate(spec.accessors):
        if acc.name is not None:
            out += f".{acc.name}"
        elif i > 0 or acc.idx > 0:
            out += f"[{acc.idx}]"
    raw = ":".join(str(i) for i in spec.raw_spec)
    if spec.bit_offset % 8:
        return f"{out} ({raw} @ offset {spec.bit_offset // 8}.{spec.bit_offset % 8})"
    return f"{out} ({raw} @ offset {spec.bit_offset // 8})"
