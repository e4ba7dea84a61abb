"""Essential names (``___flavor`` stripped) and the table CO-RE candidate search looks them up in.

libbpf finds a relocation's candidates as every target type whose *essential* name equals the
local one (``bpf_core_essential_name_len``, ``bpf_core_add_cands``), in id order. The table here
holds every named type ordered by the crc32 of its essential name, then by id: a lookup bisects
to the name's crc and keeps the ids whose essential name is the one asked for. It is built with
C-level passes over the string section (a slice and crc32 per name) and one sort, and it is
what :mod:`btfhub_mirror.btf.index` saves; :class:`~btfhub_mirror.btf.parse.Btf` owns one.

A leaf module: it knows nothing of :class:`Btf`, only of strings, name offsets and ids.
"""

from __future__ import annotations

import operator
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, count, repeat


def essential_name_len(name: str) -> int:
    """``bpf_core_essential_name_len``: the last ``X___Y`` flavor separator wins."""
    n = len(name)
    if "___" not in name:
        return n  # the common case: no flavor separator possible
    for i in range(n - 5, -1, -1):
        if name[i] != "_" and name[i + 1 : i + 4] == "___" and name[i + 4] != "_":
            return i + 1
    return n


def essential_name(name: str) -> str:
    return name[: essential_name_len(name)]


def essential_index(by_name: Mapping[str, list[int]]) -> dict[str, list[int]]:
    """Essential name -> ids, ascending, from a plain name -> ascending ids index."""
    # Almost no name carries a flavor: start from the plain index (its lists are ascending and
    # never mutated), then merge the few "x___y" names into their essential name.
    index = {name: ids for name, ids in by_name.items() if "___" not in name}
    for name in (n for n in by_name if "___" in n):
        key = essential_name(name)
        index[key] = sorted([*index.get(key, ()), *by_name[name]])
    return index


@dataclass(frozen=True, slots=True)
class EssentialTable:
    """Every named type of one blob: ``crcs`` ascending, ``ids`` ascending within one crc."""

    crcs: Sequence[int]
    ids: Sequence[int]

    @classmethod
    def from_index(cls, index: Mapping[str, Sequence[int]]) -> EssentialTable:
        """The table of an essential-name index (the general path)."""
        pairs = sorted(
            (zlib.crc32(name.encode()), type_id) for name, ids in index.items() for type_id in ids
        )
        return cls(array("I", (c for c, _ in pairs)), array("I", (i for _, i in pairs)))

    @classmethod
    def from_strings(
        cls, strings: bytes, name_offs: Sequence[int], start_id: int, name_of: Callable[[int], str]
    ) -> EssentialTable | None:
        """The table straight from a base blob's string section and per-type name offsets, in
        C-level passes (no Python loop per type); None when the blob needs the general path
        (split BTF, non-ASCII strings, a name without its NUL).

        Every named type's name is sliced out of the string section where its offset points
        (the start of a string, or its middle as ``name_of`` reads it), hashed, and packed with
        its id into one integer ``crc << 32 | id``: one plain sort orders by crc, then by id.
        """
        data = strings
        if start_id != 1 or not data.isascii() or not data.startswith(b"\0"):
            return None
        named = list(compress(name_offs, name_offs))
        try:
            ends = list(map(data.index, repeat(b"\0"), named))
        except ValueError:  # an offset past the last NUL: the general path reports it
            return None
        names = list(map(data.__getitem__, map(slice, named, ends)))
        crcs = list(map(zlib.crc32, names))
        # Rare: re-hash the few names with a flavor separator by their essential name. A name
        # holding one ends where a string holding one ends: only those few are looked at.
        flavored_ends = set()
        at = data.find(b"___")
        while at != -1:
            end = data.index(b"\0", at)
            flavored_ends.add(end)
            at = data.find(b"___", end)
        if flavored_ends:
            for i in compress(count(), map(flavored_ends.__contains__, ends)):
                if b"___" in names[i]:
                    crcs[i] = zlib.crc32(essential_name(names[i].decode("ascii")).encode())
        ids = compress(count(start_id), name_offs)
        keys = list(map(operator.or_, map(operator.lshift, crcs, repeat(32)), ids))
        keys.sort()
        if sys.byteorder == "little":  # each u64 is (id, crc) as two u32 words: split in C
            words = memoryview(array("Q", keys)).cast("B").cast("I")
            return cls(array("I", words[1::2].tobytes()), array("I", words[0::2].tobytes()))
        return cls(
            array("I", map(operator.rshift, keys, repeat(32))),
            array("I", map(operator.and_, keys, repeat(0xFFFFFFFF))),
        )

    def lookup(self, name: str, name_of: Callable[[int], str]) -> list[int]:
        """Ids whose essential name is ``name``, ascending (``name_of`` names an id)."""
        crcs, ids = self.crcs, self.ids
        crc = zlib.crc32(name.encode())
        out = []
        for i in range(bisect_left(crcs, crc), len(crcs)):
            if crcs[i] != crc:
                break
            if essential_name(name_of(ids[i])) == name:  # not just the same crc
                out.append(ids[i])
        return out
