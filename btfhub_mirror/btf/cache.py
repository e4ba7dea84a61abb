"""A content-keyed cache of decompressed kernel BTF, for one-off commands on loose files.

``minimize``, ``relocs --btf`` and ``check --btf`` on a ``K.btf.tar.xz`` outside the mirror
spend most of their time in xz. The first time a file is read its raw BTF is saved under
``<cache>/btf-cache/<sha256 of the file>.btf``, so the next run on the same content (whatever
its name or place) reads that instead; a changed file has another hash and misses.

What is saved is the raw BTF itself behind a 64-byte header, not a derived index: on a hit it
is parsed again by the ordinary bounds-checked parser, so a damaged or hostile entry is no more
trusted than a ``.btf`` the user names (a bad one is a :class:`BtfFormatError`, which makes the
cache drop the entry and rebuild it from the source). The header carries the key and a crc32 of
the body, so a truncated, bit-flipped or misnamed entry is rebuilt without being parsed. The
walk this costs is small next to xz; the expensive CO-RE name table is not built at all (see
:func:`attach_search_lookup`).

    header: magic "BTFMRAW\\x01", u64 body length, sha256 of the source (32 bytes),
            u32 crc32 of the body, zero padding to 64 bytes; then the raw BTF

The cache is bounded: after each new entry the oldest-used entries go until the directory
holds at most :data:`DEFAULT_MAX_BYTES` (512 MiB, about a hundred typical kernels; a hit
touches its entry's mtime). Entries are written with :func:`~btfhub_mirror.fsutil.write_atomic`
(a temporary file renamed into place), so two processes racing on one kernel each see a whole
entry or none; a cache that cannot be written (read-only, full) only makes the next run slower.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import time
import zlib
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from ..errors import BtfFormatError, FileWriteError
from ..fsutil import write_atomic_with
from ..paths import cache_dir
from .core import essential_name
from .index import attach_essential_lookup
from .load import raw_btf_of, read_btf_file
from .parse import Btf, parse_btf

MAGIC = b"BTFMRAW\x01"
_HEADER = struct.Struct("<8sQ32sI")  # little-endian on every host
HEADER_SIZE = 64
SUFFIX = ".btf"
#: The cache's documented size cap: entries beyond it are removed, least recently used first.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: Each search costs about 1 ms on a 100k-type kernel, the table about 80 ms: past this many
#: names a BTF switches to the table.
SEARCH_LOOKUPS = 48
#: A temporary file this old was left by a killed writer: eviction removes it.
_STALE_TMP_SECONDS = 3600


class BtfCache:
    """Decompressed BTF of files seen before, under ``root``, keyed by content hash."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes

    @classmethod
    def default(cls) -> BtfCache:
        """``<cache>/btf-cache``, beside the mirror (``$BTFHUB_CACHE`` or the user cache)."""
        return cls(cache_dir() / "btf-cache")

    def entry_path(self, digest: bytes) -> Path:
        return self.root / (digest.hex() + SUFFIX)

    def open(self, path: str | os.PathLike[str]) -> tuple[Btf, bool]:
        """The BTF of the file at ``path`` (any format :func:`load_btf` reads); (btf, whether
        the cache had it). The file is read and hashed each time: the hash is the key."""
        source = str(path)
        data = read_btf_file(path)
        digest = hashlib.sha256(data).digest()
        entry = self.entry_path(digest)
        raw = self._read(entry, digest)
        if raw is not None:
            try:
                btf = parse_btf(raw, source=source)
            except BtfFormatError:
                btf = None  # a damaged entry that passed the crc: rebuilt below
            if btf is not None:
                with contextlib.suppress(OSError):  # LRU order; a read-only cache keeps its own
                    os.utime(entry)
                attach_search_lookup(btf)
                return btf, True
        raw = raw_btf_of(data, source=source)
        del data  # the compressed bytes are not needed any more (memory: 27 MB kernels)
        btf = parse_btf(raw, source=source)  # a bad source fails here, before anything is saved
        attach_search_lookup(btf)
        self._write(entry, digest, raw)
        return btf, False

    def _read(self, entry: Path, digest: bytes) -> bytes | None:
        """The body of ``entry`` if it is whole and is the one for ``digest``; else None."""
        try:
            with open(entry, "rb") as handle:
                header = handle.read(HEADER_SIZE)
                if len(header) != HEADER_SIZE:
                    return None
                magic, length, key, crc = _HEADER.unpack_from(header)
                if magic != MAGIC or key != digest or length > self.max_bytes:
                    return None
                body = handle.read(length + 1)  # one more: a longer file is not this entry
        except OSError:
            return None  # missing, removed by another process's eviction, unreadable
        if len(body) != length or zlib.crc32(body) != crc:
            return None
        return body

    def _write(self, entry: Path, digest: bytes, raw: bytes) -> None:
        if HEADER_SIZE + len(raw) > self.max_bytes:
            return  # larger than the whole cache: never kept
        header = _HEADER.pack(MAGIC, len(raw), digest, zlib.crc32(raw)).ljust(HEADER_SIZE, b"\0")

        def fill(out: BinaryIO) -> None:
            out.write(header)
            out.write(raw)  # no joined copy of a 27 MB body

        try:
            write_atomic_with(entry, fill)
        except FileWriteError:
            return  # a read-only or full cache: just slower next time
        self.evict(keep=entry)

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used entries until the cache fits :attr:`max_bytes`
        (never ``keep``, the entry just written), and temporary files a killed writer left.
        Returns what was removed. Races with other processes are harmless: a file another one
        removed first is skipped."""
        entries: list[tuple[float, int, Path]] = []
        removed: list[Path] = []
        now = time.time()
        try:
            scan = list(os.scandir(self.root))
        except OSError:
            return removed
        for item in scan:
            try:
                stat = item.stat(follow_symlinks=False)
            except OSError:
                continue
            path = Path(item.path)
            if item.name.startswith(".") and item.name.endswith(".tmp"):
                if now - stat.st_mtime > _STALE_TMP_SECONDS and _unlink(path):
                    removed.append(path)
            elif item.name.endswith(SUFFIX) and item.is_file(follow_symlinks=False):
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            if _unlink(path):
                removed.append(path)
            total -= size
        return removed


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True


def attach_search_lookup(btf: Btf) -> bool:
    """Give ``btf`` an essential-name lookup that searches its string section, for a BTF
    opened once: building the sorted table of :mod:`.index` costs more than the xz of a
    kernel, while a one-off ``minimize`` asks for a few dozen names. False (nothing attached:
    the table is built as before) where the search could not be exact: split BTF, non-ASCII
    strings, or a name offset outside the string section, which the table reports as the
    error it is."""
    if "essential_lookup" in btf.derived or btf.base is not None or btf.start_id != 1:
        return False
    strings = btf.strings.data
    name_offs = btf.type_index().name_offs
    if not strings.isascii() or (len(name_offs) and max(name_offs) >= len(strings)):
        return False
    btf.derived["essential_lookup"] = _search_lookup(btf, strings, _host_u32(name_offs))
    return True


def _host_u32(values: Sequence[int]) -> bytes:
    """The name offsets as host-order u32 bytes (what they already are when parsed)."""
    if isinstance(values, array | memoryview) and values.itemsize == 4:
        return values.tobytes()
    return array("I", values).tobytes()


def _search_lookup(btf: Btf, strings: bytes, names: bytes) -> Callable[[str], list[int]]:
    """Ids whose essential name is ``name``, ascending (libbpf's candidate order).

    Every place the string section holds ``name`` followed by NUL or a ``___`` flavor is a
    possible name (at a string's start or, as libbpf allows, inside one); those some type
    names are found in the set of name offsets, and the types naming them by a byte search
    over the name offsets kept 4-aligned. Each hit is confirmed with libbpf's own rule on the
    decoded name, so the result equals the table's.
    """
    pack = struct.Struct("=I").pack
    find_string, find_name = strings.find, names.find
    used: set[int] = set()  # the name offsets in use, made on the first lookup
    asked = 0

    def lookup(name: str) -> list[int]:
        nonlocal asked
        asked += 1
        if asked > SEARCH_LOOKUPS:  # a big program: the table is cheaper from here on
            return attach_essential_lookup(btf)(name)
        if not name or not name.isascii():
            return []  # the section is ASCII: no type is named so (an empty name: none)
        if not used:
            used.update(array("I", names))
        key = name.encode()
        ids: list[int] = []
        pos = find_string(key)
        while pos != -1:
            after = pos + len(key)
            if pos in used and (
                strings[after : after + 1] == b"\0" or strings[after : after + 3] == b"___"
            ):
                word = pack(pos)
                hit = find_name(word)
                while hit != -1:
                    if hit % 4 == 0:
                        ids.append(hit // 4 + 1)
                    hit = find_name(word, hit + 1)
            pos = find_string(key, pos + 1)
        ids.sort()
        return [i for i in ids if essential_name(btf.name_of(i)) == name]

    return lookup
