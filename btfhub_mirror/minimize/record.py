"""Phase 1 of minimizing: mark the target types and members each relocation needs.

Follows bpftool's ``btfgen_record_reloc`` and its helpers (``src/gen.c``, bpftool 7.1;
``shared/docs/btfgen-spec.md`` §4.3-4.4), given the *target* spec of the first matching
candidate (or nothing when no candidate matched):

- field kinds mark the root's typedef/modifier chain, every struct or union on the target raw
  spec (anonymous containers included) with only the member traversed, and each traversed
  member's type without following pointers;
- TYPE_ID_TARGET, TYPE_EXISTS and TYPE_SIZE mark the root following pointers, typedefs and
  function prototypes but never adding members;
- TYPE_MATCHES marks every member of composites reached by value, nothing behind pointers;
- enum kinds mark the whole enum; TYPE_ID_LOCAL marks nothing.

Where bpftool aborts ("unsupported kind" for a FWD or TYPE_TAG reached by a type walk), strict
mode raises the same failure; lenient mode keeps the type, records a warning and goes on.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..btf import types as t
from ..btf.core import CoreSpec
from ..btf.ext import CoreReloKind
from ..btf.parse import Btf
from ..errors import BtfmirrorError


class MinimizeError(BtfmirrorError):
    """Minimizing cannot go on the way bpftool would (strict mode), or the input is unusable."""


@dataclass
class Marks:
    """The union of everything recorded so far: type ids and, per composite, member indices."""

    types: set[int] = field(default_factory=set)
    members: dict[int, set[int]] = field(default_factory=dict)

    def mark_member(self, type_id: int, index: int) -> None:
        self.members.setdefault(type_id, set()).add(index)


class Recorder:
    """Marks types in ``source`` for target specs, as bpftool's btfgen does."""

    def __init__(self, source: Btf, *, strict: bool = False):
        self.source = source
        self.strict = strict
        self.marks = Marks()
        self.warnings: list[str] = []
        self._walked: set[tuple[int, bool]] = set()
        self._matched: set[tuple[int, bool]] = set()

    def _unsupported(self, type_id: int, typ: t.Type, context: str) -> None:
        message = f"unsupported kind: {typ.kind.name.lower()} ({type_id})"
        if self.strict:
            raise MinimizeError(f"{context}: {message} (bpftool aborts here)")
        self.warnings.append(f"{context}: {message}; kept it where bpftool would abort")

    def _unvisited(
        self, stack: list[tuple[int, bool]], seen: set[tuple[int, bool]]
    ) -> Iterator[tuple[int, bool, t.Type]]:
        """Pop ``stack`` (which the caller pushes onto meanwhile) until it is empty: each
        (id, flag) not in ``seen`` and not void is added to it, marked, and given with its
        type."""
        while stack:
            item = stack.pop()
            if item[0] == 0 or item in seen:
                continue
            seen.add(item)
            self.marks.types.add(item[0])
            yield item[0], item[1], self.source.type(item[0])

    def mark_type(self, type_id: int, follow_pointers: bool, context: str) -> None:
        """``btfgen_mark_type``: the type and what it refers to, members never."""
        stack = [(type_id, follow_pointers)]
        for current, _, typ in self._unvisited(stack, self._walked):
            match typ:
                case t.Int() | t.Float() | t.Enum() | t.Enum64() | t.Struct() | t.Union():
                    pass
                case t.Pointer():
                    if follow_pointers:
                        stack.append((typ.type_id, follow_pointers))
                case (
                    t.Const()
                    | t.Restrict()
                    | t.Volatile()
                    | t.Typedef()
                    | t.Array()
                    | t.FuncProto()
                ):
                    # Reversed, so the first reference (bpftool's first) is walked first.
                    stack.extend((i, follow_pointers) for i in reversed(t.type_ids(typ)))
                case t.Fwd() | t.Datasec() | t.Void():
                    self._unsupported(current, typ, context)
                case t.TypeTag() | t.Func() | t.Var() | t.DeclTag():
                    self._unsupported(current, typ, context)
                    stack.append((typ.type_id, follow_pointers))
                case _:
                    t.assert_never(typ)

    def mark_type_match(self, type_id: int, behind_ptr: bool, context: str) -> None:
        """``btfgen_mark_type_match``: all members of by-value composites (TYPE_MATCHES)."""
        stack = [(type_id, behind_ptr)]
        for current, behind, typ in self._unvisited(stack, self._matched):
            match typ:
                case t.Int() | t.Float() | t.Enum() | t.Enum64():
                    pass
                case t.Struct() | t.Union():
                    if not behind:
                        for index, member in enumerate(typ.members):
                            self.marks.mark_member(current, index)
                            stack.append((member.type_id, False))
                case t.Const() | t.Restrict() | t.Typedef() | t.Volatile():
                    stack.append((typ.type_id, behind))
                case t.Fwd():
                    pass  # allowed here, and kept (bpftool follows its zero type field)
                case t.Pointer():
                    stack.append((typ.type_id, True))
                case t.Array():
                    stack.extend(((typ.index_type_id, False), (typ.type_id, False)))
                case t.FuncProto():
                    stack.extend((p.type_id, False) for p in typ.params)
                    stack.append((typ.return_type_id, False))
                case t.TypeTag() | t.Func() | t.Var() | t.DeclTag():
                    self._unsupported(current, typ, context)
                    stack.append((typ.type_id, behind))
                case t.Datasec() | t.Void():
                    self._unsupported(current, typ, context)
                case _:
                    t.assert_never(typ)

    def record_field(self, spec: CoreSpec, context: str) -> None:
        """``btfgen_record_field_relo``: the path of the target raw spec, member by member."""
        src = self.source
        type_id = spec.root_type_id
        typ = src.type(type_id)
        self.mark_type(type_id, False, context)
        for index in spec.raw_spec[1:]:
            if isinstance(typ, t.ModOrTypedef):
                type_id = src.skip_mods(type_id)
                typ = src.type(type_id)
            if isinstance(typ, (t.Struct, t.Union)):
                self.marks.mark_member(type_id, index)
                type_id = typ.members[index].type_id
                typ = src.type(type_id)
                self.mark_type(type_id, False, context)
            elif isinstance(typ, t.Array):
                type_id = typ.type_id
                typ = src.type(type_id)
            else:
                raise MinimizeError(
                    f"{context}: unsupported kind on the access path: {typ.kind.name}"
                )

    def keep_by_value(self, type_id: int, context: str) -> None:
        """Every member of ``type_id`` and of each composite it holds by value (through
        members, arrays, typedefs and modifiers), each member's type walked as a field
        relocation walks it (pointers not followed).

        For a candidate on which libbpf's match itself fails (the member search runs past
        BPF_CORE_SPEC_MAX_LEN, a type cannot be sized): that search only looks at what is
        reachable by value, so keeping all of it makes libbpf fail on the minimized BTF at the
        same point. Not a bpftool behaviour (bpftool aborts there).
        """
        src = self.source
        stack = [type_id]
        seen: set[int] = set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            self.mark_type(current, False, context)
            current = src.skip_mods(current)
            typ = src.type(current)
            if isinstance(typ, t.Array):
                stack.append(typ.type_id)
            elif isinstance(typ, (t.Struct, t.Union)):
                for index, member in enumerate(typ.members):
                    self.marks.mark_member(current, index)
                    stack.append(member.type_id)

    def record(self, kind: CoreReloKind, spec: CoreSpec | None, context: str) -> None:
        """``btfgen_record_reloc`` for one relocation's target spec (None: no match)."""
        if spec is None or kind == CoreReloKind.TYPE_ID_LOCAL:
            return
        if kind.is_field_based:
            self.record_field(spec, context)
        elif kind == CoreReloKind.TYPE_MATCHES:
            self.mark_type_match(spec.root_type_id, False, context)
        elif kind.is_type_based:
            self.mark_type(spec.root_type_id, True, context)
        else:
            self.mark_type(spec.root_type_id, False, context)
