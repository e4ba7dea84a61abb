"""Kernel BTF out of what a kernel build or a vendor ships: raw ``.btf``, an ELF vmlinux, an x86
bzImage, an arm64 ``Image``/``Image.gz``, s390x and ppc64 images, or a DWARF-only vmlinux.

How each is read, and why:

- raw BTF starts with the BTF magic (``eb9f`` in its byte order) and is taken whole;
- an ELF vmlinux carries the kernel's BTF in its ``.BTF`` section (``CONFIG_DEBUG_INFO_BTF``:
  scripts/link-vmlinux.sh runs ``pahole -J`` and copies the section in); without one, but with
  DWARF (``.debug_info``), ``pahole -J`` makes it, as the kernel build does (:mod:`.pahole`);
- an x86 bzImage holds the compressed vmlinux ELF at ``payload_offset`` (bytes
  ``0x248``-``0x24f`` of the setup header, Documentation/arch/x86/boot.rst, boot protocol 2.08+),
  counted from the protected-mode code, which starts after the ``setup_sects`` 512-byte sectors
  (0 means 4) and the boot sector;
- a compressed file (``Image.gz``, a vmlinux.xz) is decompressed first;
- anything else (arm64 ``Image``, whose loaded data contains ``.BTF`` raw; s390x and ppc64
  images, which carry compressed payloads behind their own decompressors) is scanned: first
  for BTF headers that parse in full, then, as the kernel's scripts/extract-vmlinux does, for
  compressed streams at every offset where a known magic sits.

Every size read from the input is bounds-checked and decompression is capped
(:data:`MAX_IMAGE_SIZE`, and :data:`~btfhub_mirror.archive.MAX_BTF_SIZE` for the BTF itself).
"""

from __future__ import annotations

import bz2
import io
import lzma
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import zstandard

from ..archive import MAX_BTF_SIZE
from ..btf.parse import parse_btf, parse_header
from ..btf.wire import ByteOrder
from ..errors import BtfFormatError, BtfmirrorError, KernelImageError
from ..package import XZ_MEMLIMIT, ZSTD_MAX_WINDOW

#: Largest kernel image or decompressed vmlinux read: a vmlinux with full DWARF is 300-900 MB
#: (Debian's linux-image-*-dbg); the BTF-carrying images are 10-80 MB.
MAX_IMAGE_SIZE = 1024 * 1024 * 1024
#: How deep images nest (a bzImage holds a compressed ELF; an ``Image.gz`` a raw Image).
MAX_NESTING = 3
#: Candidate offsets tried per magic in a scan, so a hostile file of magics costs little.
MAX_SCAN_CANDIDATES = 64

ELF_MAGIC = b"\x7fELF"
#: The BTF magic 0xeb9f, version 1, flags 0, in each byte order.
BTF_PREFIXES: dict[ByteOrder, bytes] = {"little": b"\x9f\xeb\x01\x00", "big": b"\xeb\x9f\x01\x00"}

# Setup header fields (Documentation/arch/x86/boot.rst, "THE REAL-MODE KERNEL HEADER").
SETUP_SECTS_AT = 0x1F1
BOOT_FLAG_AT = 0x1FE
BOOT_FLAG = 0xAA55
HEADER_MAGIC_AT = 0x202
HEADER_MAGIC = b"HdrS"
VERSION_AT = 0x206
PAYLOAD_AT = 0x248  # payload_offset, then payload_length (u32 each), protocol 2.08+
MIN_PAYLOAD_PROTOCOL = 0x0208
SECTOR = 512

#: Compressed-stream magics of the kernel's compressors (scripts/extract-vmlinux's list).
COMPRESSION_MAGICS: dict[str, bytes] = {
    "gzip": b"\x1f\x8b\x08",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
    "bzip2": b"BZh",
    "lzma": b"\x5d\x00\x00",
    "lz4": b"\x02\x21\x4c\x18",
    "lzo": b"\x89\x4c\x5a\x4f",
}
#: Compressions no well-kept Python library reads (lzop's format).
UNSUPPORTED_COMPRESSIONS = ("lzo",)
#: The kernel's lz4 is the legacy format ``lz4 -l`` writes (lib/decompress_unlz4.c): the magic,
#: then chunks, each a little-endian u32 size and one LZ4 block of at most 8 MiB out.
LZ4_LEGACY_MAGIC = 0x184C2102
LZ4_LEGACY_CHUNK = 8 << 20

_BANNER_RE = re.compile(rb"Linux version (\S{1,200}) \(")


@dataclass(frozen=True, slots=True)
class FoundBtf:
    """Kernel BTF found in a source, and what the source says about its kernel."""

    data: bytes
    how: str  # "raw BTF", ".BTF section", "bzImage gzip payload > .BTF section", ...
    release: str | None  # from a linux_banner, when the source has one
    arch: str | None  # from the ELF machine, when the source is an ELF
    dwarf_elf: bytes | None = None  # an ELF with DWARF and no .BTF: pahole must convert it


def btf_length(data: bytes | memoryview, at: int = 0) -> int | None:
    """Length of the BTF blob starting at ``at`` when its header is valid, else None."""
    view = memoryview(data)[at:]
    try:
        header, _ = parse_header(view)
    except BtfFormatError:
        return None
    end = header.hdr_len + max(header.type_off + header.type_len, header.str_off + header.str_len)
    return end if end <= len(view) else None


def banner_release(data: bytes) -> str | None:
    """The ``uname -r`` in the kernel's ``linux_banner`` ("Linux version X (...") if present."""
    match = _BANNER_RE.search(data)
    if match is None:
        return None
    try:
        return match.group(1).decode("ascii")
    except UnicodeDecodeError:
        return None


def detect_compression(data: bytes | memoryview) -> str | None:
    head = bytes(data[:8])
    for name, magic in COMPRESSION_MAGICS.items():
        if name == "lzma":
            # An lzma-alone header: properties byte 0x5d and a dictionary size; too weak a
            # magic for whole files (only at an offset found by a scan), see _scan_compressed.
            continue
        if head.startswith(magic):
            return name
    return None


def decompress(data: bytes | memoryview, kind: str, source: str, limit: int) -> bytes:
    """Decompress one ``kind`` stream from the start of ``data``, at most ``limit`` bytes out;
    bytes after the stream's end are ignored (a bzImage pads its payload)."""
    if kind in UNSUPPORTED_COMPRESSIONS:
        raise KernelImageError(
            f"{source}: the kernel is {kind}-compressed, which btfmirror cannot read (no "
            f"well-kept Python library for the kernel's {kind} format): decompress it first "
            f"({'lz4 -d' if kind == 'lz4' else 'lzop -d'}) and add the vmlinux"
        )
    raw = bytes(data)
    try:
        if kind == "gzip":
            gz = zlib.decompressobj(wbits=31)
            out = gz.decompress(raw, limit + 1)
            complete = gz.eof
        elif kind in ("xz", "lzma"):
            fmt = lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE
            xz = lzma.LZMADecompressor(format=fmt, memlimit=XZ_MEMLIMIT)
            out = xz.decompress(raw, max_length=limit + 1)
            complete = xz.eof
        elif kind == "bzip2":
            bz = bz2.BZ2Decompressor()
            out = bz.decompress(raw, max_length=limit + 1)
            complete = bz.eof
        elif kind == "lz4":
            out, complete = _unlz4_legacy(raw, source, limit)
        elif kind == "zstd":
            reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
                io.BytesIO(raw), read_across_frames=False
            )
            chunks, total = [], 0
            while total <= limit:
                chunk = reader.read(min(1 << 22, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            out = b"".join(chunks)
            complete = True
        else:
            raise KernelImageError(f"{source}: unknown compression {kind}")
    except (zlib.error, lzma.LZMAError, OSError, EOFError, zstandard.ZstdError) as err:
        raise KernelImageError(f"{source}: corrupt {kind} data: {err}") from err
    if len(out) > limit:
        raise KernelImageError(f"{source}: {kind} data decompresses to more than {limit} bytes")
    if not complete or not out:
        raise KernelImageError(f"{source}: truncated {kind} data")
    return out


def _unlz4_legacy(raw: bytes, source: str, limit: int) -> tuple[bytes, bool]:
    """Decode the kernel's legacy lz4 stream as lib/decompress_unlz4.c does; trailing bytes
    too short for the next chunk (a bzImage appends the 4-byte decompressed size) end it."""
    import lz4.block

    pos, total, chunks = 4, 0, []
    while pos + 4 <= len(raw):
        size = struct.unpack_from("<I", raw, pos)[0]
        if size == LZ4_LEGACY_MAGIC:  # concatenated streams repeat the magic
            pos += 4
            continue
        if size == 0 or pos + 4 + size > len(raw):
            break
        try:
            chunk = lz4.block.decompress(
                raw[pos + 4 : pos + 4 + size], uncompressed_size=LZ4_LEGACY_CHUNK
            )
        except lz4.block.LZ4BlockError as err:
            raise KernelImageError(f"{source}: corrupt lz4 chunk at byte {pos}: {err}") from err
        total += len(chunk)
        if total > limit:
            raise KernelImageError(f"{source}: lz4 data decompresses to more than {limit} bytes")
        chunks.append(chunk)
        pos += 4 + size
    return b"".join(chunks), bool(chunks)


def bzimage_payload(data: bytes, source: str) -> tuple[str, bytes] | None:
    """``(compression, payload)`` of an x86 bzImage, None if ``data`` is not one."""
    if len(data) < PAYLOAD_AT + 8:
        return None
    boot_flag = struct.unpack_from("<H", data, BOOT_FLAG_AT)[0]
    if boot_flag != BOOT_FLAG or data[HEADER_MAGIC_AT : HEADER_MAGIC_AT + 4] != HEADER_MAGIC:
        return None
    version = struct.unpack_from("<H", data, VERSION_AT)[0]
    if version < MIN_PAYLOAD_PROTOCOL:
        raise KernelImageError(
            f"{source}: x86 boot protocol {version >> 8}.{version & 0xFF:02d} has no payload "
            "fields (2.08+ needed): add the kernel's vmlinux instead"
        )
    setup_sects = data[SETUP_SECTS_AT] or 4  # boot.rst: "if this field is 0, the real value is 4"
    offset, length = struct.unpack_from("<II", data, PAYLOAD_AT)
    start = (setup_sects + 1) * SECTOR + offset
    if length == 0 or start + length > len(data):
        raise KernelImageError(
            f"{source}: bzImage payload [{start}, +{length}) runs past the end of the "
            f"{len(data)}-byte file (truncated?)"
        )
    payload = data[start : start + length]
    kind = detect_compression(payload)
    if kind is None and payload[:3] == COMPRESSION_MAGICS["lzma"]:
        kind = "lzma"
    if kind is None:
        raise KernelImageError(
            f"{source}: bzImage payload at byte {start} is in no known compression "
            f"(starts {payload[:6].hex()})"
        )
    return kind, payload


def _elf_btf(data: bytes, source: str) -> FoundBtf:
    from .elfreader import read_vmlinux

    vmlinux = read_vmlinux(data, source)
    release = banner_release(data)
    if vmlinux.btf is None:
        if not vmlinux.has_dwarf:
            raise KernelImageError(
                f"{source}: ELF without a .BTF section or DWARF (.debug_info): build the kernel "
                "with CONFIG_DEBUG_INFO_BTF=y or add its debug vmlinux"
            )
        return FoundBtf(b"", ".debug_info (DWARF)", release, vmlinux.arch, dwarf_elf=data)
    return FoundBtf(vmlinux.btf, ".BTF section", release, vmlinux.arch)


def _scan_btf(data: bytes) -> tuple[bytes, ByteOrder] | None:
    """The largest BTF blob in ``data`` that parses in full, found by its magic."""
    best: tuple[bytes, ByteOrder] | None = None
    for order, prefix in BTF_PREFIXES.items():
        tried = 0
        at = data.find(prefix)
        while at >= 0 and tried < MAX_SCAN_CANDIDATES:
            length = btf_length(data, at)
            if length is not None and (best is None or length > len(best[0])):
                tried += 1
                blob = data[at : at + length]
                try:
                    parse_btf(blob)
                except BtfFormatError:
                    pass
                else:
                    best = (blob, order)
            at = data.find(prefix, at + 4)
    return best


def _compressed_offsets(data: bytes) -> Iterator[tuple[int, str]]:
    for kind, magic in COMPRESSION_MAGICS.items():
        at, tried = data.find(magic), 0
        while at >= 0 and tried < MAX_SCAN_CANDIDATES:
            tried += 1
            yield at, kind
            at = data.find(magic, at + 1)


def find_btf(data: bytes, source: str, depth: int = 0) -> FoundBtf:
    """The kernel BTF in ``data`` (a kernel image, vmlinux or raw BTF), see the module doc."""
    if depth > MAX_NESTING:
        raise KernelImageError(f"{source}: images nested more than {MAX_NESTING} deep")
    if btf_length(data) is not None:
        return FoundBtf(data, "raw BTF", None, None)
    if data[:4] == ELF_MAGIC:
        return _elf_btf(data, source)
    payload = bzimage_payload(data, source)
    if payload is not None:
        kind, packed = payload
        inner = find_btf(decompress(packed, kind, source, MAX_IMAGE_SIZE), source, depth + 1)
        return _within(inner, f"bzImage {kind} payload", banner_release(data))
    compression = detect_compression(data)
    if compression is not None:
        out = decompress(data, compression, source, MAX_IMAGE_SIZE)
        return _within(find_btf(out, source, depth + 1), f"{compression} data", None)
    scanned = _scan_btf(data)
    if scanned is not None:
        return FoundBtf(scanned[0], "BTF found in the image's data", banner_release(data), None)
    seen_unsupported = None
    for at, kind in _compressed_offsets(data):
        if kind in UNSUPPORTED_COMPRESSIONS:
            seen_unsupported = kind
            continue
        try:
            out = decompress(memoryview(data)[at:], kind, source, MAX_IMAGE_SIZE)
            inner = find_btf(out, f"{source} ({kind} data at byte {at})", depth + 1)
        except BtfmirrorError:
            continue
        return _within(inner, f"{kind} data at byte {at}", banner_release(data))
    if seen_unsupported is not None:
        decompress(b"", seen_unsupported, source, 0)  # raises: says what to do instead
    raise KernelImageError(
        f"{source}: not a kernel image, vmlinux or BTF file (no BTF header, ELF, bzImage or "
        "compressed kernel found)"
    )


def _within(inner: FoundBtf, outer: str, release: str | None) -> FoundBtf:
    return FoundBtf(
        inner.data,
        f"{outer} > {inner.how}",
        inner.release or release,
        inner.arch,
        inner.dwarf_elf,
    )


def check_size(data: bytes, source: str) -> None:
    if len(data) > MAX_BTF_SIZE:
        raise KernelImageError(f"{source}: BTF of {len(data)} bytes is over the {MAX_BTF_SIZE} cap")
