"""What a btfmirror package is, for the one writing it and those reading it.

One home for what ``pack`` (:mod:`.pack.tarball`) writes and what ``select``
(:mod:`.runtime.extract`), ``verify`` (:mod:`.pack.verify`), the consumers' rules
(:mod:`.pack.consumers`) and the deb/rpm payload reader (:mod:`.producer.packages`) read back:

- the layout names (``package.json``, ``btfhub-archive/``) and the cap on a package.json;
- the tar container formats, one :class:`Format` each in :data:`FORMATS`: the suffixes a package
  is named by, the magic bytes it is told apart by, the compressor that writes it and the
  decompressor that reads it (with the decoder's memory capped). A new format is one entry here
  (and its name in :data:`Compression`); writers, readers and messages take it from the table.
"""

from __future__ import annotations

import functools
import gzip
import io
import lzma
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, cast

import zstandard

from .errors import ArchiveError, UsageError

# -- the layout ---------------------------------------------------------------------------------

#: The program's own package.json, at the package's top (``pack -j``).
PACKAGE_JSON = "package.json"
#: The directory btfhub-archive's ``<ID>/<VERSION_ID>/<arch>/<uname -r>.btf`` tree starts in.
ARCHIVE_DIR = "btfhub-archive"
#: Largest package.json pack takes and an unpacker accepts (a real one is kilobytes).
MAX_PACKAGE_JSON = 64 * 1024 * 1024

# -- the decoders' caps -------------------------------------------------------------------------

#: Memory the xz decoder may use. xz -9 and -9e (64 MiB dictionary) need ~65 MiB to
#: decompress (xz(1), "Memory usage"); a block header asking for a bigger dictionary is
#: refused instead of allocated.
XZ_MEMLIMIT = 128 * 1024 * 1024
#: Largest zstd window a package may ask for: libzstd's own default limit (windowLog 27), named
#: here so the cap is ours; `zstd -19` uses 8 MiB, `--long` 128 MiB.
ZSTD_MAX_WINDOW = 128 * 1024 * 1024

GZIP_LEVEL = 9
XZ_PRESET = 9
ZSTD_LEVEL = 19

CHUNK = 1024 * 1024


def xz_error(err: lzma.LZMAError, source: str) -> ArchiveError:
    """A typed error for ``err``; a memory-limit refusal says the dictionary is too big."""
    if "memory" in str(err).lower():
        return ArchiveError(
            f"{source}: xz dictionary too big (needs more than the {XZ_MEMLIMIT} byte cap)"
        )
    return ArchiveError(f"{source}: corrupt xz data: {err}")


def zstd_error(err: zstandard.ZstdError, source: str) -> ArchiveError:
    """A typed error for ``err``; a window over :data:`ZSTD_MAX_WINDOW` says so."""
    if "too much memory" in str(err):
        return ArchiveError(
            f"{source}: zstd window too big (needs more than the {ZSTD_MAX_WINDOW} byte cap)"
        )
    return ArchiveError(f"{source}: corrupt zstd data: {err}")


class CappedReader(io.RawIOBase):
    """A read-only stream that raises once more than ``limit`` bytes came out of ``inner``."""

    def __init__(self, inner: IO[bytes], limit: int, source: str):
        self._inner = inner
        self._limit = limit
        self._source = source
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        # At most a chunk per call: a caller's read(n) of a big member then fills its own
        # buffer without a second n-byte copy being made here.
        data = self._inner.read(min(len(view), CHUNK))
        self.count += len(data)
        if self.count > self._limit:
            raise ArchiveError(
                f"{self._source}: decompresses to more than {self._limit} bytes; refusing"
            )
        view[: len(data)] = data
        return len(data)


class _CappedXzReader(io.RawIOBase):
    """xz decoding with the decoder's memory capped (``lzma.LZMAFile`` has no memlimit)."""

    def __init__(self, inner: BinaryIO):
        self._inner = inner
        self._decomp = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=XZ_MEMLIMIT)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            if self._decomp.eof:
                return 0
            data = b"" if self._decomp.needs_input else None
            if data is not None:
                data = self._inner.read(CHUNK)
                if not data:
                    raise EOFError("truncated xz data")
            out = self._decomp.decompress(data or b"", max_length=len(view))
            if out:
                view[: len(out)] = out
                return len(out)


# -- the formats --------------------------------------------------------------------------------

Compression = Literal["tar", "tar.gz", "tar.xz", "tar.zst"]


@dataclass(frozen=True, slots=True)
class Compressor:
    """A write-only stream compressing into the caller's file (closing it leaves that open),
    and how to end a compressed block before a member (None: the format adapts by itself)."""

    stream: BinaryIO
    new_block: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Format:
    """One container format of a package: a tar, compressed or not."""

    compression: Compression
    #: File name suffixes, the one pack writes first.
    suffixes: tuple[str, ...]
    #: What the file starts with; b"" for the plain tar every other file is read as.
    magic: bytes
    #: The compressor's name as tools and rpm's PAYLOADCOMPRESSOR say it; "" for none.
    codec: str
    #: For messages: "a gzip-compressed tar".
    description: str
    #: The stream compressing into a file, given the mtime its header records; None: plain.
    compressor: Callable[[BinaryIO, int], Compressor] | None
    #: The decompressed stream of a file (seekable, at the format's first byte); None: plain.
    decompressor: Callable[[BinaryIO], BinaryIO] | None

    @property
    def suffix(self) -> str:
        """The suffix pack names an output of this format with."""
        return self.suffixes[0]

    @property
    def reads(self) -> str:
        """What a reader of only this format decompresses, for messages: "gzip", or "an
        uncompressed tar"."""
        return self.codec or self.description


def _gzip_writer(raw: BinaryIO, mtime: int) -> Compressor:
    # filename="": no FNAME field (GzipFile would take the temp file's name).
    stream = gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=mtime
    )
    # Z_BLOCK ends the deflate block: no bytes added, the window kept (see tarball).
    return Compressor(cast(BinaryIO, stream), functools.partial(stream.flush, zlib.Z_BLOCK))


def _xz_writer(raw: BinaryIO, mtime: int) -> Compressor:
    del mtime  # xz records none
    return Compressor(
        cast(
            BinaryIO,
            lzma.LZMAFile(
                raw, mode="wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=XZ_PRESET
            ),
        )
    )


def _zstd_writer(raw: BinaryIO, mtime: int) -> Compressor:
    del mtime  # zstd records none
    stream: BinaryIO = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(raw, closefd=False)
    return Compressor(stream)


def _gzip_reader(raw: BinaryIO) -> BinaryIO:
    return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))


def _xz_reader(raw: BinaryIO) -> BinaryIO:
    return cast(BinaryIO, io.BufferedReader(_CappedXzReader(raw)))


def _zstd_reader(raw: BinaryIO) -> BinaryIO:
    decoder = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    stream: BinaryIO = decoder.stream_reader(raw, read_across_frames=True)
    return stream


#: Every format, by compression; the first is pack's default, plain tar (no magic) is last.
FORMATS: dict[Compression, Format] = {
    f.compression: f
    for f in (
        Format(
            "tar.gz",
            (".tar.gz", ".tgz"),
            b"\x1f\x8b",
            "gzip",
            "a gzip-compressed tar",
            _gzip_writer,
            _gzip_reader,
        ),
        Format(
            "tar.xz",
            (".tar.xz",),
            b"\xfd7zXZ\x00",
            "xz",
            "an xz-compressed tar",
            _xz_writer,
            _xz_reader,
        ),
        Format(
            "tar.zst",
            (".tar.zst",),
            b"\x28\xb5\x2f\xfd",
            "zstd",
            "a zstd-compressed tar",
            _zstd_writer,
            _zstd_reader,
        ),
        Format("tar", (".tar",), b"", "", "an uncompressed tar", None, None),
    )
}
#: Bytes to read to tell every format apart.
MAGIC_LEN = max(len(f.magic) for f in FORMATS.values())
#: Archive suffixes and their compression, in the order they are matched (".tar" last).
SUFFIXES: dict[str, Compression] = {s: f.compression for f in FORMATS.values() for s in f.suffixes}
#: Tar suffixes of formats no package has, still taken off a name (``out.tar.bz2`` → ``out``).
FOREIGN_SUFFIXES = (".tar.bz2", ".tar.lz4", ".tar.lz")


def format_of(head: bytes) -> Format:
    """The format a file's first bytes (:data:`MAGIC_LEN` of them) announce; anything else is
    a plain tar."""
    return next(f for f in FORMATS.values() if head.startswith(f.magic))


def compression_of(head: bytes) -> Compression:
    """The compression a package's first bytes announce; anything else is a plain tar."""
    return format_of(head).compression


def compression_for(path: str | os.PathLike[str]) -> Compression:
    """The compression named by an output file's suffix; UsageError for anything else."""
    name = Path(path).name
    for suffix, compression in SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return compression
    names = ", ".join(f.suffix for f in FORMATS.values())
    raise UsageError(f"{path}: unknown archive format; name it {_or(names)}")


def _or(names: str) -> str:
    head, _, last = names.rpartition(", ")
    return f"{head} or {last}" if head else last


def strip_suffix(path: str | os.PathLike[str]) -> str:
    """``path`` without its archive suffix (``out.tar.gz`` → ``out``, ``out.zip`` → ``out``)."""
    text = os.fspath(path)
    name = Path(text).name
    for suffix in (*SUFFIXES, *FOREIGN_SUFFIXES):
        if name.endswith(suffix) and len(name) > len(suffix):
            return text.removesuffix(suffix)
    return text.removesuffix(Path(text).suffix) if Path(text).suffix else text


def open_decompressed(data: bytes | BinaryIO) -> BinaryIO:
    """A stream of ``data`` (bytes or a seekable binary file) decompressed per its magic bytes.

    Anything that is no other format is read as a plain tar.
    """
    raw: BinaryIO = io.BytesIO(data) if isinstance(data, bytes) else data
    start = raw.tell()
    fmt = format_of(raw.read(MAGIC_LEN))
    raw.seek(start)
    return raw if fmt.decompressor is None else fmt.decompressor(raw)
