"""A tar read header by header, as both kinds of package readers see it.

Loaders read a package tar in two ways (see :mod:`.consumers`): C readers (bcc's
``ensure_core_btf``, bpf-compatible's ``ensure_core_btf_with_tar_binary``) walk the raw 512-byte
headers and compare the 100-byte ustar *name field*, seeing neither PAX nor GNU long names nor
the ustar prefix; Go's ``archive/tar`` and Rust's ``tar`` crate see the *full name* those
extensions give. :func:`walk_tar` reads each header once and records both names, the type, the
link target and, for the entries a caller cares about, the size, sha256 and whether the bytes
parse as BTF. It never keeps more than one entry's data (capped) in memory.

Everything in the archive is untrusted: header checksums are checked, numbers are bounds-checked,
the number of headers, each kept entry's size, each metadata header's size and every name's
length are capped with the runtime side's :class:`~btfhub_mirror.runtime.extract.ExtractLimits`,
and the decompressed stream with its cap (:func:`~btfhub_mirror.runtime.extract.open_capped`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from ..btf.parse import parse_header
from ..errors import ArchiveError, BtfFormatError
from ..runtime.extract import MAX_META_SIZE, ExtractLimits

BLOCK = 512
NAME_FIELD = 100
_CHUNK = 1024 * 1024

REGULAR_TYPES = (b"0", b"\0", b"7")  # '7' is a contiguous file: a regular file to everyone
HARDLINK = b"1"
SYMLINK = b"2"
DIRECTORY = b"5"
PAX = b"x"
PAX_GLOBAL = b"g"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"
META_TYPES = (PAX, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK)
#: Types whose data Go's archive/tar never returns (``isHeaderOnlyType``): a reader gets 0 bytes.
HEADER_ONLY_TYPES = (HARDLINK, SYMLINK, b"3", b"4", DIRECTORY, b"6")


@dataclass(frozen=True, slots=True)
class Content:
    """An entry's bytes, summarized: size, sha256 and why they are no BTF (None: they are)."""

    size: int
    sha256: str
    btf_error: str | None


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One header of the tar, in archive order (metadata headers included)."""

    index: int
    #: The ustar name field as a C reader compares it; None when it fills all 100 bytes (no
    #: NUL: ``strcmp`` runs on into the mode field and matches nothing).
    field_name: str | None
    #: The name an extension-aware reader sees: PAX ``path``, GNU long name, or prefix/name.
    name: str
    type: bytes
    linkname: str
    #: The entry's declared bytes, for the entries the caller asked for; None otherwise.
    content: Content | None

    @property
    def is_meta(self) -> bool:
        return self.type in META_TYPES

    @property
    def is_file(self) -> bool:
        return self.type in REGULAR_TYPES

    @property
    def is_hardlink(self) -> bool:
        return self.type == HARDLINK

    @property
    def is_symlink(self) -> bool:
        return self.type == SYMLINK

    @property
    def is_dir(self) -> bool:
        return self.type == DIRECTORY

    def describe(self) -> str:
        if self.is_hardlink:
            return f"a hard link to {self.linkname!r}"
        if self.is_symlink:
            return f"a symbolic link to {self.linkname!r}"
        if self.is_dir:
            return "a directory"
        return "a file" if self.is_file else f"an entry of type {self.type!r}"


@dataclass(frozen=True, slots=True)
class TarListing:
    """Every header of a tar, and the bytes of the one entry asked for whole (the manifest)."""

    entries: tuple[TarEntry, ...]
    kept: bytes | None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def cstring(field: bytes) -> str:
    return _text(field.split(b"\0", 1)[0])


def number_field(field: bytes, what: str, where: str) -> int:
    """A numeric header field: octal digits (NUL/space padded) or GNU base-256."""
    if field[:1] == b"\x80":  # positive base-256; 0xff (negative) is refused below
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if not all(48 <= c <= 55 for c in text):
        raise ArchiveError(f"{where}: bad {what} field {field!r}")
    return int(text, 8)


def checksum_ok(block: bytes, where: str) -> bool:
    """Whether the header's checksum field matches its bytes (summed unsigned or signed)."""
    stored = number_field(block[148:156], "checksum", where)
    blanked = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(blanked)
    signed = sum(b - 256 if b > 127 else b for b in blanked)  # some old tars summed signed
    return stored in (unsigned, signed)


def pax_records(data: bytes, where: str) -> dict[str, str]:
    """``<len> <key>=<value>\\n`` records (POSIX pax, "pax Extended Header")."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 20)
        if space < 0 or not data[pos:space].isdigit():
            raise ArchiveError(f"{where}: malformed PAX record at byte {pos}")
        length = int(data[pos:space])
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1 : end] != b"\n":
            raise ArchiveError(f"{where}: malformed PAX record at byte {pos}")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise ArchiveError(f"{where}: PAX record without '=' at byte {pos}")
        records[_text(key)] = _text(value)
        pos = end
    return records


@dataclass(frozen=True, slots=True)
class Header:
    """The fields of one 512-byte tar header, checked (checksum, numbers)."""

    #: The ustar name field as a C reader compares it; None when it fills all 100 bytes.
    field_name: str | None
    #: The name field with the POSIX ustar prefix (PAX and GNU long names come later).
    name: str
    type: bytes
    size: int
    linkname: str


def read_header(block: bytes, where: str) -> Header:
    """The fields of the header ``block``; ArchiveError naming ``where`` for a bad checksum or
    number. Only a POSIX ``ustar\\0`` header has a prefix field (GNU tar keeps times there)."""
    if not checksum_ok(block, where):
        raise ArchiveError(f"{where}: bad header checksum (not a tar, or a corrupt one)")
    raw_name = block[:NAME_FIELD]
    field_name = _text(raw_name.split(b"\0", 1)[0]) if b"\0" in raw_name else None
    name = cstring(raw_name)
    if block[257:263] == b"ustar\0" and (prefix := cstring(block[345:500])):
        name = f"{prefix}/{name}"
    size = number_field(block[124:136], "size", where)
    return Header(field_name, name, block[156:157], size, cstring(block[157:257]))


class _Reader:
    """Exact reads from the decompressed stream; a short read is a truncated archive."""

    def __init__(self, stream: BinaryIO, source: str):
        self._stream = stream
        self._source = source

    def read(self, size: int, where: str) -> bytes:
        out = bytearray()
        while len(out) < size:
            chunk = self._stream.read(min(size - len(out), _CHUNK))
            if not chunk:
                raise ArchiveError(f"{self._source}: truncated archive in {where}")
            out += chunk
        return bytes(out)

    def skip(self, size: int, where: str) -> None:
        while size > 0:
            chunk = self._stream.read(min(size, _CHUNK))
            if not chunk:
                raise ArchiveError(f"{self._source}: truncated archive in {where}")
            size -= len(chunk)

    def head(self) -> bytes:
        """The next header block, or b"" at the end of the data."""
        block = self._stream.read(BLOCK)
        while block and len(block) < BLOCK:
            more = self._stream.read(BLOCK - len(block))
            if not more:
                raise ArchiveError(f"{self._source}: truncated archive (a partial header)")
            block += more
        return block


def _padding(size: int) -> int:
    return -size % BLOCK


def summarize(data: bytes, source: str) -> Content:
    """Size, sha256 and BTF validity (header checked by the BTF parser) of ``data``."""
    error: str | None = None
    if not data:
        error = "0 bytes"
    else:
        try:
            parse_header(data, source)
        except BtfFormatError as err:
            error = err.message
    return Content(len(data), hashlib.sha256(data).hexdigest(), error)


def walk_tar(
    stream: BinaryIO,
    *,
    limits: ExtractLimits,
    source: str,
    interesting: Callable[[str], bool],
    keep: Callable[[str], bool] | None = None,
    keep_limit: int = 0,
) -> TarListing:
    """Every header of the (decompressed) tar ``stream``.

    Entries whose field name or full name ``interesting`` accepts get their :class:`Content`;
    the first file whose full name ``keep`` accepts is returned whole (at most ``keep_limit``
    bytes). The walk stops, as the C readers do, at the first header with an empty name field.
    """
    reader = _Reader(stream, source)
    entries: list[TarEntry] = []
    kept: bytes | None = None
    pending: dict[str, str] = {}  # from PAX / GNU long-name headers, for the next entry
    total = 0
    while True:
        block = reader.head()
        if not block or block[0] == 0:
            break
        index = len(entries)
        if index >= limits.max_entries:
            raise ArchiveError(f"{source}: more than {limits.max_entries} entries; refusing")
        header = read_header(block, f"{source}: header {index}")
        field_name, name, kind, size = header.field_name, header.name, header.type, header.size
        linkname = header.linkname
        where = f"{source}: entry {name[:200]!r}"
        if kind in META_TYPES:
            if size > MAX_META_SIZE:
                raise ArchiveError(
                    f"{where}: a {size}-byte metadata (PAX or long name) header; at most "
                    f"{MAX_META_SIZE} allowed"
                )
            data = reader.read(size, where)
            reader.skip(_padding(size), where)
            if kind == PAX:
                records = pax_records(data, where)
                if "path" in records:
                    pending["path"] = records["path"]
                if "linkpath" in records:
                    pending["linkpath"] = records["linkpath"]
                if "size" in records:
                    pending["size"] = records["size"]
            elif kind == GNU_LONGNAME:
                pending["path"] = cstring(data)
            elif kind == GNU_LONGLINK:
                pending["linkpath"] = cstring(data)
            entries.append(TarEntry(index, field_name, name, kind, linkname, None))
            continue
        name = pending.pop("path", name)
        linkname = pending.pop("linkpath", linkname)
        if "size" in pending and pending.pop("size") != str(size):
            # Readers that honour PAX (Go, Rust) and raw-header ones would skip different
            # lengths: no package needs that, so refuse it rather than guess.
            raise ArchiveError(f"{where}: PAX size disagrees with the header's size field")
        if len(name) > limits.max_name_length or len(linkname) > limits.max_name_length:
            raise ArchiveError(f"{source}: entry {name[:80]!r}...: name too long")
        total += size
        if total > limits.max_total_size:  # as unpacking would count it
            raise ArchiveError(f"{where}: archive holds more than {limits.max_total_size} bytes")
        content: Content | None = None
        want_content = interesting(name) or (field_name is not None and interesting(field_name))
        want_whole = kept is None and keep is not None and kind in REGULAR_TYPES and keep(name)
        if want_content or want_whole:
            cap = limits.max_file_size if want_content else 0
            cap = max(cap, keep_limit) if want_whole else cap
            if size > cap:
                raise ArchiveError(f"{where}: {size} bytes, more than the {cap} allowed")
            data = reader.read(size, where)
            if want_content:
                content = summarize(data, where)
            if want_whole:
                kept = data
        else:
            reader.skip(size, where)
        reader.skip(_padding(size), where)
        entries.append(TarEntry(index, field_name, name, kind, linkname, content))
    return TarListing(tuple(entries), kept)
