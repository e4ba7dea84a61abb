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
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from pathlib import Path

from ..errors import FileWriteError
from ..fsutil import write_atomic
from .load import read_btf_source
from .names import EssentialTable
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


def build_index(raw: bytes, btf: Btf, source_size: int, source_mtime_ns: int) -> bytes:
    """The index file's bytes for ``btf`` (parsed from ``raw``); the essential-name table it
    saves stays with ``btf``, so the caller's own lookups use it too."""
    ti = btf.type_index()
    n = len(ti.offsets)
    kinds = bytes(ti.kinds)
    table = btf.essential_table()
    crcs, ids = table.crcs, table.ids
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
        btf.pointer_size(),
        len(ids),
        zlib.crc32(body),
        0,
    )
    return header.ljust(HEADER_SIZE, b"\0") + body


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
    return Btf(
        raw,
        header,
        order,
        source=source,
        type_index=TypeIndex(offsets, kinds, name_offs),
        ptr_size=ptr_size,
        essential_table=EssentialTable(crcs, ids),
    )


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
