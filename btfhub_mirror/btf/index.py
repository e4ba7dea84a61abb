"""A saved per-kernel index: open a kernel's BTF seen before without xz, without the walk.

Minimizing or checking against many kernels repeats two costs per kernel: decompressing the
``.btf.tar.xz`` and indexing every type; CO-RE candidate search adds building an index of
essential names (``___flavor`` stripped). The index file keeps all three, next to the raw BTF,
in one little file read in a single call:

    header (64 bytes, little-endian)
    raw BTF                                   (padded to 8)
    u32 offsets[n], u32 name_offs[n], u8 kinds[n] (padded to 4)
    u32 entry_crc[entries], u32 entry_id[entries]

The last two arrays hold every named type, ordered by the crc32 of its essential name and then
by id: a lookup bisects to the name's crc and keeps the ids whose essential name is the one
asked for, in id order, which is libbpf's candidate order. Building them takes C-level passes
over the string section (split, crc32 of each string) and one sort, so the first run over a
kernel pays little more than the parse.

The header records the size and mtime of the source it was made from and a crc32 of the rest,
so a changed source or a damaged file is noticed and the index rebuilt.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import os
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import compress, repeat
from pathlib import Path
from typing import cast

from ..errors import BtfmirrorError, FileWriteError
from ..fsutil import write_atomic
from .core import essential_name, essential_name_index, ids_by_essential_name, pointer_size
from .load import read_btf_source
from .parse import Btf, TypeIndex, parse_btf, parse_header

MAGIC = b"BTFMIDX\x02"
_HEADER = struct.Struct("<8sQqQIIIII")  # magic, src size, src mtime_ns, raw len, n, ptr size,
#                                         entries, crc32, reserved
HEADER_SIZE = 64
INDEX_SUFFIX = ".btfmidx"


def _pad(n: int, align: int) -> int:
    return (align - n % align) % align


def _u32(values: Sequence[int]) -> bytes:
    arr = array("I", values)
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tobytes()


def _essential_table_fast(btf: Btf) -> tuple[array[int], array[int]] | None:
    """:func:`_essential_table` in C-level passes (no Python loop per type), or None when this
    BTF needs the general path (split BTF, non-ASCII strings, a name without its NUL).

    Every named type's name is sliced out of the string section where its offset points (the
    start of a string, or its middle as ``name_of`` reads it), hashed, and packed with its id
    into one integer ``crc << 32 | id``: one plain sort of those orders by crc, then by id.
    """
    data = btf.strings.data
    if btf.start_id != 1 or not data.isascii() or not data.startswith(b"\0"):
        return None
    name_offs = btf.type_index().name_offs
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
        for i in compress(itertools.count(), map(flavored_ends.__contains__, ends)):
            if b"___" in names[i]:
                crcs[i] = zlib.crc32(essential_name(names[i].decode("ascii")).encode())
    ids = compress(itertools.count(btf.start_id), name_offs)
    keys = list(map(operator.or_, map(operator.lshift, crcs, repeat(32)), ids))
    keys.sort()
    if sys.byteorder == "little":  # each u64 is (id, crc) as two u32 words: split in C
        words = memoryview(array("Q", keys)).cast("B").cast("I")
        return array("I", words[1::2].tobytes()), array("I", words[0::2].tobytes())
    return (
        array("I", map(operator.rshift, keys, repeat(32))),
        array("I", map(operator.and_, keys, repeat(0xFFFFFFFF))),
    )


def _essential_table(btf: Btf) -> tuple[array[int], array[int]]:
    """Entry crcs (ascending) and entry ids (ascending within a crc) of every named type."""
    fast = _essential_table_fast(btf)
    if fast is not None:
        return fast
    index = essential_name_index(btf)
    pairs = sorted(
        (zlib.crc32(name.encode()), type_id) for name, ids in index.items() for type_id in ids
    )
    return array("I", (c for c, _ in pairs)), array("I", (i for _, i in pairs))


def attach_essential_lookup(btf: Btf) -> Callable[[str], list[int]]:
    """Build the essential-name table of ``btf`` in memory and make it its lookup."""
    crcs, ids = _table_of(btf)
    lookup = _essential_lookup(btf, crcs, ids)
    btf.derived["essential_lookup"] = lookup
    return lookup


def _table_of(btf: Btf) -> tuple[array[int], array[int]]:
    """The essential-name table of ``btf``, built once per parsed BTF.

    A BTF that cannot be indexed (a name offset outside the string section, which libbpf's
    ``btf__parse`` refuses outright) fails the same way every time: the first error is kept and
    raised again, so each relocation does not rebuild the table only to fail once more.
    """
    failed = btf.derived.get("essential_table_error")
    if isinstance(failed, BtfmirrorError):
        raise failed
    table = btf.derived.get("essential_table")
    if table is None:
        try:
            table = _essential_table(btf)
        except BtfmirrorError as err:
            btf.derived["essential_table_error"] = err
            raise
        btf.derived["essential_table"] = table
    return cast("tuple[array[int], array[int]]", table)


def build_index(raw: bytes, btf: Btf, source_size: int, source_mtime_ns: int) -> bytes:
    """The index file's bytes for ``btf`` (parsed from ``raw``); also gives ``btf`` the
    essential-name lookup it describes, so the caller's own lookups skip the name index."""
    ti = btf.type_index()
    n = len(ti.offsets)
    kinds = bytes(ti.kinds)
    crcs, ids = _table_of(btf)
    if "essential_lookup" not in btf.derived:
        attach_essential_lookup(btf)
    body = b"".join(
        [
            raw,
            b"\0" * _pad(len(raw), 8),
            _u32(ti.offsets),
            _u32(ti.name_offs),
            kinds,
            b"\0" * _pad(n, 4),
            _u32(crcs),
            _u32(ids),
        ]
    )
    header = _HEADER.pack(
        MAGIC,
        source_size,
        source_mtime_ns,
        len(raw),
        n,
        pointer_size(btf),
        len(ids),
        zlib.crc32(body),
        0,
    )
    return header.ljust(HEADER_SIZE, b"\0") + body


def _essential_lookup(
    btf: Btf, crcs: Sequence[int], ids: Sequence[int]
) -> Callable[[str], list[int]]:
    """Ids whose essential name is ``name``, ascending: the base's first for split BTF (the
    table holds this blob's own types)."""
    base = btf.base

    def lookup(name: str) -> list[int]:
        crc = zlib.crc32(name.encode())
        out = [] if base is None else list(ids_by_essential_name(base, name))
        for i in range(bisect_left(crcs, crc), len(crcs)):
            if crcs[i] != crc:
                break
            if essential_name(btf.name_of(ids[i])) == name:  # not just the same crc
                out.append(ids[i])
        return out

    return lookup


def load_index(data: bytes, source_size: int, source_mtime_ns: int, source: str) -> Btf | None:
    """The BTF held in index file ``data``, or None if it is stale, damaged or foreign."""
    if len(data) < HEADER_SIZE:
        return None
    magic, size, mtime, raw_len, n, ptr_size, entries, crc, _ = _HEADER.unpack_from(data)
    if magic != MAGIC or size != source_size or mtime != source_mtime_ns:
        return None
    view = memoryview(data)
    body = view[HEADER_SIZE:]
    if zlib.crc32(body) != crc:
        return None
    pos = raw_len + _pad(raw_len, 8)
    need = pos + 8 * n + n + _pad(n, 4) + 8 * entries
    if len(body) != need or sys.byteorder != "little":
        return None

    def take_u32(count: int) -> memoryview:
        nonlocal pos
        out = body[pos : pos + 4 * count].cast("I")
        pos += 4 * count
        return out

    raw = body[:raw_len]
    offsets = take_u32(n)
    name_offs = take_u32(n)
    kinds = body[pos : pos + n]
    pos += n + _pad(n, 4)
    crcs = take_u32(entries)
    ids = take_u32(entries)
    header, order = parse_header(raw, source)
    btf = Btf(raw, header, order, source=source, type_index=TypeIndex(offsets, kinds, name_offs))
    btf.derived["ptr_size"] = ptr_size
    btf.derived["essential_lookup"] = _essential_lookup(btf, crcs, ids)
    return btf


def index_path_for(source: Path, index_dir: Path | None = None) -> Path:
    """Where the index of ``source`` lives: beside it, or under ``index_dir``."""
    name = source.name.removesuffix(".tar.xz").removesuffix(".btf") + ".btf" + INDEX_SUFFIX
    return (index_dir or source.parent) / name


def open_indexed(
    source: str | os.PathLike[str], *, index_dir: Path | None = None, save: bool = True
) -> tuple[Btf, bool]:
    """Open the kernel BTF at ``source`` through its saved index; (btf, index was reused).

    Without a valid index the source is read and parsed as usual, and (``save``) the index
    written for next time. An index that cannot be written (read-only mirror) is not an error.
    """
    src = Path(source)
    stat = src.stat()
    idx = index_path_for(src, index_dir)
    try:
        cached = load_index(idx.read_bytes(), stat.st_size, stat.st_mtime_ns, str(src))
    except OSError:
        cached = None
    if cached is not None:
        return cached, True
    raw = read_btf_source(src)
    btf = parse_btf(raw, source=str(src))
    if save:
        with contextlib.suppress(FileWriteError):  # a read-only mirror: just slower next time
            write_atomic(idx, build_index(raw, btf, stat.st_size, stat.st_mtime_ns))
    return btf, False


def has_current_index(source: str | os.PathLike[str], *, index_dir: Path | None = None) -> bool:
    """Whether ``source`` has a saved index made from it as it is now (its size and mtime),
    judged from the header alone: a cheap check for "needs indexing", not a validation (the
    checksum is verified by :func:`open_indexed` when the index is used)."""
    src = Path(source)
    try:
        stat = src.stat()
        with open(index_path_for(src, index_dir), "rb") as handle:
            head = handle.read(_HEADER.size)
    except OSError:
        return False
    if len(head) < _HEADER.size:
        return False
    magic, size, mtime, *_ = _HEADER.unpack(head)
    return bool(magic == MAGIC and size == stat.st_size and mtime == stat.st_mtime_ns)
