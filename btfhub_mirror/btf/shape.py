"""Field-layout classes: which target types a field relocation cannot tell apart.

Kernels whose BTF was never deduplicated (CentOS 8's 4.18 has 476 ``task_struct``s, one per
compilation unit) give libbpf hundreds of candidates per relocation. Most are identical in
everything ``bpf_core_spec_match`` and ``bpf_core_calc_field_relo`` look at and differ only in
type ids (each copy points at its own copies) or in names no access string can ask for (RHEL's
``__UNIQUE_ID_rh_kabi_hide<N>`` members, numbered per compilation unit). libbpf still matches
each one; so do we for the first of each class, then reuse that outcome for the others.

Two types get the same class only if a field relocation, whatever its access string, reaches the
same outcome (match or not, bit offset, relocated value) on both:

- modifiers and typedefs are skipped, as every step of the field match does, but how many
  were skipped is part of the class (``btf__resolve_size`` counts them against its depth
  limit, and a chain longer than :data:`~btfhub_mirror.btf.parse.MAX_MOD_CHAIN` allows is an
  error: no class at all);
- a pointer is just "a pointer": the field match never looks through one
  (``bpf_core_fields_are_compat`` stops at PTR/PTR, and access strings cannot dereference);
- INT, ENUM, ENUM64, FWD and FLOAT are their whole record;
- an array is its record with the element's class in place of the element id (the index type
  is never looked at);
- a struct or union is its record with each name the object never spells replaced by one
  placeholder and each member's type id replaced by that member type's class (0 for a member
  under such a name). Access strings only ever look up names from the object's own BTF, and
  only compare names for equality, so a member under an unknown name is never the one found and
  never descended into (only anonymous members are); keeping the empty name and every known
  name by offset keeps the search order exact. A name offset holding the empty string is
  anonymous, as it is to the match;
- anything else (FUNC_PROTO, VAR, ...) is a class of its own.

Cycles (a struct containing itself, only in hostile BTF) and nesting deeper than
:data:`MAX_DEPTH` get a class of their own too: a class that is too fine only costs speed.
Pure: works on a parsed :class:`Btf`.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Set

from .parse import Btf
from .wire import Kind

MAX_DEPTH = 32
#: Stands for every member name the object never spells; no real name offset is this large.
_UNKNOWN_NAME = 0xFFFFFFFF
_LEAF_KINDS = frozenset({Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FWD, Kind.FLOAT})
_POINTER_KEY = b"P"


class FieldShapes:
    """Memoised field-layout classes of one target BTF, for one object's set of names."""

    def __init__(self, btf: Btf, names: Set[str]):
        self.btf = btf
        self.names = names
        self._classes: dict[int, int] = {}
        self._interned: dict[bytes, int] = {}
        self._names_kept: dict[int, int] = {}
        self._in_progress: set[int] = set()
        self._swap = btf.byte_order != sys.byteorder

    def class_of(self, type_id: int) -> int:
        """The class of ``type_id``; raises what reading the BTF raises (BtfFormatError...)."""
        found = self._classes.get(type_id)
        if found is None:
            found = self._compute(type_id, 0)
        return found

    def _compute(self, type_id: int, depth: int) -> int:
        found = self._classes.get(type_id)
        if found is not None:
            return found
        # The match fails on too long a chain (or a cycle): ModifierChainError, no class, so
        # the type is matched for real.
        target, skipped = self.btf.mod_chain(type_id)
        found = self._classes.get(target)
        if found is None:
            if target in self._in_progress or depth > MAX_DEPTH:
                return self._intern(b"X" + target.to_bytes(4, "little"))  # not memoised
            self._in_progress.add(target)
            try:
                found = self._intern(self._key(target, depth))
            finally:
                self._in_progress.discard(target)
            self._classes[target] = found
        if skipped:
            found = self._intern(b"M" + skipped.to_bytes(4, "little") + found.to_bytes(4, "little"))
        self._classes[type_id] = found
        return found

    def _key(self, type_id: int, depth: int) -> bytes:
        btf = self.btf
        if type_id == 0:
            return b"V"
        kind = btf.kind(type_id)
        if kind == Kind.PTR:
            return _POINTER_KEY
        if kind in _LEAF_KINDS:
            return b"L" + btf.record(type_id)
        if kind in (Kind.STRUCT, Kind.UNION):
            words = self._words(type_id)
            kept, keep = self._names_kept, self._keep_name
            names = [kept.get(n) or keep(n) for n in words[3::3]]
            words[3::3] = array("I", names)
            classes, compute = self._classes, self._compute
            # A member under an unknown name is never found nor descended into: its type
            # cannot matter, so it is not classed (which keeps this walk shallow).
            words[4::3] = array(
                "I",
                [
                    0 if n == _UNKNOWN_NAME else classes.get(m) or compute(m, depth + 1)
                    for n, m in zip(names, words[4::3], strict=True)
                ],
            )
            words[0] = keep(words[0])
            return b"S" + words.tobytes()
        if kind == Kind.ARRAY:
            words = self._words(type_id)
            words[3] = self._compute(words[3], depth + 1)
            words[4] = 0
            return b"A" + words.tobytes()
        return b"X" + type_id.to_bytes(4, "little")

    def _words(self, type_id: int) -> array[int]:
        words = array("I")
        words.frombytes(self.btf.record(type_id))
        if self._swap:
            words.byteswap()
        return words

    def _keep_name(self, name_off: int) -> int:
        """The name offset itself if the object spells that name (or it is empty), else the
        placeholder. Never 0 for a non-empty name, so ``kept.get(n) or ...`` only misses once."""
        kept = self._names_kept.get(name_off)
        if kept is None:
            name = self.btf.strings.get(name_off) if name_off else ""
            if not name:
                kept = 0  # anonymous: the match descends into it
            elif name in self.names:
                kept = name_off
            else:
                kept = _UNKNOWN_NAME
            self._names_kept[name_off] = kept
        return kept

    def _intern(self, key: bytes) -> int:
        found = self._interned.get(key)
        if found is None:
            found = self._interned[key] = len(self._interned) + 1  # never 0: see class_of
        return found


def object_names(btf: Btf) -> frozenset[str]:
    """Every type, member and enumerator name of an object's BTF: all an access string or a
    field-compatibility check can compare against a target name."""
    names: set[str] = set()
    for _, typ in btf.types():
        names.add(typ.name)
        for member in getattr(typ, "members", ()):
            names.add(member.name)
        for value in getattr(typ, "values", ()):
            names.add(value.name)
    names.discard("")
    return frozenset(names)
