"""A content-keyed cache of decompressed kernel BTF, for one-off commands on loose files.

``minimize``, ``relocs --btf`` and ``check --btf`` on a ``K.btf.tar.xz`` outside the mirror
spend most of their time in xz. The first time a file is read, its raw BTF and the type index
the parser made of it are saved under ``<cache>/btf-cache/<sha256 of the file>.btf``, so the
next run on the same content (whatever its name or place) reads one file instead: no xz, no
walk over every type. A changed file has another hash and misses. The expensive CO-RE name
table is not built at all, on either run (see :func:`attach_search_lookup`).

    header (64 bytes): magic "BTFMRAW\\x02", u64 raw length, u32 type count, byte order of
                       the arrays, sha256 of the source file, zero padding
    raw BTF (padded to 4), u32 offsets[n], u32 name_offs[n], u8 kinds[n] (padded to 4)
    HMAC-SHA256 of all the above, under this cache's own key

A saved index is trusted only because it is authentic: the HMAC key is a random secret in
``btf-cache/.key``, made on the first write, readable by its owner alone (a key file of
another user, or open to others, disables the cache: anyone could forge entries then). An
entry that is truncated, bit-flipped, written by another cache, misnamed or for another byte
order fails the checks and is rebuilt from the source, never parsed; the check costs about as
much as a crc (HMAC-SHA256 runs at over 1.5 GB/s here).

The cache is bounded: after each new entry the oldest-used entries go until the directory
holds at most :data:`DEFAULT_MAX_BYTES` (512 MiB, about a hundred typical kernels; a hit
touches its entry's mtime). Entries are written with :func:`~btfhub_mirror.fsutil.write_atomic`
(a temporary file renamed into place), so two processes racing on one kernel each see a whole
entry or none; a cache that cannot be written (read-only, full) only makes the next run slower.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from ..errors import BtfFormatError, FileWriteError
from ..fsutil import write_atomic_with
from ..paths import cache_dir
from .load import raw_btf_of, read_btf_file
from .names import essential_name
from .parse import Btf, TypeIndex, parse_btf, parse_header

MAGIC = b"BTFMRAW\x02"
#: magic, raw BTF length, type count, byte order of the arrays (b"<" or b">"), source sha256
_HEADER = struct.Struct("<8sQIc32s")
HEADER_SIZE = 64
MAC_SIZE = 32
KEY_NAME = ".key"
KEY_SIZE = 32
_HOST_ORDER = b"<" if sys.byteorder == "little" else b">"
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
        key = self._key(create=False)
        btf = None if key is None else self._read(entry, digest, key, source)
        if btf is not None:
            with contextlib.suppress(OSError):  # LRU order; a read-only cache keeps its order
                os.utime(entry)
            attach_search_lookup(btf)
            return btf, True
        raw = raw_btf_of(data, source=source)
        del data  # the compressed bytes are not needed any more (memory: 27 MB kernels)
        btf = parse_btf(raw, source=source)  # a bad source fails here, before anything is saved
        attach_search_lookup(btf)
        self._write(entry, digest, raw, btf)
        return btf, False

    def _key(self, *, create: bool) -> bytes | None:
        """This cache's secret, made on first write; None where it cannot be trusted (another
        owner, readable or writable by others: anyone could forge entries) or made."""
        path = self.root / KEY_NAME
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            if not create:
                return None
            return self._make_key(path)
        except OSError:
            return None
        try:
            stat = os.fstat(fd)
            secret = os.read(fd, KEY_SIZE + 1)
        finally:
            os.close(fd)
        if stat.st_uid != os.geteuid() or stat.st_mode & 0o077 or len(secret) != KEY_SIZE:
            return None
        return secret

    def _make_key(self, path: Path) -> bytes | None:
        secret = os.urandom(KEY_SIZE)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # O_EXCL: of two processes making it at once one wins; the other's entry is
            # written with a key nobody holds, which only makes it miss and be rebuilt.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._key(create=False)
        except OSError:
            return None  # a read-only cache
        try:
            os.write(fd, secret)
        finally:
            os.close(fd)
        return secret

    def _read(self, entry: Path, digest: bytes, key: bytes, source: str) -> Btf | None:
        """The BTF saved in ``entry`` if it is whole, this cache's and the one for ``digest``;
        else None (rebuilt by the caller)."""
        try:
            with open(entry, "rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except OSError:
            return None  # missing, removed by another process's eviction, unreadable
        if len(data) < HEADER_SIZE + MAC_SIZE or len(data) > self.max_bytes:
            return None
        magic, raw_len, count, order, got = _HEADER.unpack_from(data)
        if magic != MAGIC or got != digest or order != _HOST_ORDER:
            return None
        raw_end = HEADER_SIZE + raw_len
        arrays = raw_end + _pad4(raw_len)
        if len(data) != arrays + 9 * count + _pad4(count) + MAC_SIZE:
            return None
        view = memoryview(data)
        mac = hmac.new(key, view[:-MAC_SIZE], "sha256").digest()
        if not hmac.compare_digest(mac, view[-MAC_SIZE:]):
            return None  # damaged, truncated, or not written by this cache
        offsets = view[arrays : arrays + 4 * count].cast("I")
        name_offs = view[arrays + 4 * count : arrays + 8 * count].cast("I")
        kinds = view[arrays + 8 * count : arrays + 9 * count]
        raw = view[HEADER_SIZE:raw_end]
        # Authentic: this index is what the parser made of these very bytes when the entry
        # was written, so the walk over every type is not repeated.
        try:
            header, byte_order = parse_header(raw, source)
            return Btf(
                raw,
                header,
                byte_order,
                source=source,
                type_index=TypeIndex(offsets, kinds, name_offs),
            )
        except BtfFormatError:
            return None  # cannot happen for an authentic entry: rebuilt all the same

    def _write(self, entry: Path, digest: bytes, raw: bytes, btf: Btf) -> None:
        index = btf.type_index()
        count = len(index.offsets)
        size = HEADER_SIZE + len(raw) + _pad4(len(raw)) + 9 * count + _pad4(count) + MAC_SIZE
        if size > self.max_bytes:
            return  # larger than the whole cache: never kept
        key = self._key(create=True)
        if key is None:
            return
        header = _HEADER.pack(MAGIC, len(raw), count, _HOST_ORDER, digest)
        parts = [
            header.ljust(HEADER_SIZE, b"\0"),
            raw,
            b"\0" * _pad4(len(raw)),
            _host_u32(index.offsets),
            _host_u32(index.name_offs),
            bytes(index.kinds),
            b"\0" * _pad4(count),
        ]
        mac = hmac.new(key, digestmod="sha256")
        for part in parts:
            mac.update(part)

        def fill(out: BinaryIO) -> None:
            for part in parts:  # no joined copy of a 27 MB body
                out.write(part)
            out.write(mac.digest())

        try:
            write_atomic_with(entry, fill, mode=0o600)
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


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


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
    if btf.has_essential_lookup() or btf.has_essential_table():
        return False
    if btf.base is not None or btf.start_id != 1:
        return False
    strings = btf.strings.data
    name_offs = btf.type_index().name_offs
    if not strings.isascii() or (len(name_offs) and max(name_offs) >= len(strings)):
        return False
    btf.set_essential_lookup(_search_lookup(btf, strings, _host_u32(name_offs)))
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
            btf.set_essential_lookup(None)
            return btf.essential_table().lookup(name, btf.name_of)
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
