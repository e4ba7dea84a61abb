"""Essential names (``___flavor`` stripped) and the table CO-RE candidate search looks them up in.

libbpf finds a relocation's candidates as every target type whose *essential* name equals the
local one (``bpf_core_essential_name_len``, ``bpf_core_add_cands``), in id order. The table here
holds every named type ordered by the crc32 of its essential name, then by id: a lookup bisects
to the name's crc and keeps the ids whose essential name is the one asked for. It is built with
C-level passes over the string section (split, crc32 of each string) and one sort, and it is
what :mod:`btfhub_mirror.btf.index` saves; :class:`~btfhub_mirror.btf.parse.Btf` owns one.

A leaf module: it knows nothing of :class:`Btf`, only of strings, name offsets and ids.
"""

from __future__ import annotations

import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress
from typing import cast


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
        """The table straight from a base blob's string section and per-type name offsets;
        None when the blob needs the general path (split BTF, non-ASCII strings)."""
        crcs = _essential_crcs(strings, name_offs, start_id, name_of)
        if crcs is None:
            return None
        # Named types in id order, stably sorted by crc: ids stay ascending within one crc.
        order = sorted(compress(range(len(crcs)), name_offs), key=crcs.__getitem__)
        ids = array("I", map(start_id.__add__, order))
        return cls(array("I", map(crcs.__getitem__, order)), ids)

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


def _essential_crcs(
    data: bytes, name_offs: Sequence[int], start_id: int, name_of: Callable[[int], str]
) -> list[int] | None:
    """crc32 of each type's essential name (that of "" where unnamed), or None when the blob
    needs the general path (split BTF, non-ASCII strings)."""
    if start_id != 1 or not data.isascii() or not data.startswith(b"\0"):
        return None
    # Every NUL-terminated string (not what follows the last NUL: no string starts there).
    parts = data.split(b"\0")[:-1]
    # Offsets of the strings: running sums of len + 1, all in C.
    offsets = accumulate(map((1).__add__, map(len, parts[:-1])), initial=0)
    crc_at = dict(zip(offsets, map(zlib.crc32, parts), strict=True))
    flavored = data.find(b"___")
    while flavored != -1:  # rare: re-hash the few names with a flavor separator
        off = data.rfind(b"\0", 0, flavored) + 1
        end = data.index(b"\0", flavored)
        name = data[off:end].decode("ascii")
        crc_at[off] = zlib.crc32(essential_name(name).encode())
        flavored = data.find(b"___", end)
    crcs: list[int | None] = list(map(crc_at.get, name_offs))
    if crcs.count(None):  # a name offset into the middle of a string: hash it the long way
        for i, crc in enumerate(crcs):
            if crc is None:
                crcs[i] = zlib.crc32(essential_name(name_of(start_id + i)).encode())
    return cast(list[int], crcs)  # no None left
