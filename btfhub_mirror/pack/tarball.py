"""Reproducible tar archives: the same entries give the same bytes, on any machine, any day.

What varies between two ``tar -czf`` runs of the same tree is removed here, as hatchling does
for sdists and https://reproducible-builds.org/docs/archives/ describes:

- entries are written in the order given (the caller sorts them), never in directory order;
- every mtime is one fixed value, ``SOURCE_DATE_EPOCH`` or 0, and so is the gzip header's;
- owner and group are 0 with empty names, modes are 0644 for files and 0755 for directories;
- no gzip file name, no xz or zstd timestamps, single-threaded compressors.

Names are written as ``tar -czf out.tar.gz .`` writes them, directories with a trailing slash,
and ``./`` first where the archive's reader expects it (``dot_slash``: a property of the whole
archive, chosen by its consumer, see :mod:`.consumers`), because C readers of these packages
compare names literally. Names of up to 100 bytes sit in the ustar name field; longer ones need
a PAX header that such readers skip.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, cast

from ..errors import UsageError
from ..package import FORMATS, Compression

#: The ustar name field: longer names need a PAX header, which literal-name readers miss.
USTAR_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class Member:
    """One tar entry. ``name`` is relative (``btfhub-archive/x.btf``); the archive spells it
    (:func:`tar_name`).

    ``kind`` is ``file`` (with ``data``), ``dir``, or ``hardlink`` to the earlier file
    ``link_to`` (a relative name too). ``new_block`` ends the gzip stream's deflate block before
    this entry (:func:`write_archive`).
    """

    name: str
    kind: Literal["file", "dir", "hardlink"] = "file"
    data: bytes = b""
    link_to: str = ""
    new_block: bool = False

    def tar_name(self, *, dot_slash: bool = True) -> str:
        return tar_name(self.name, directory=self.kind == "dir", dot_slash=dot_slash)


def tar_name(name: str, *, directory: bool = False, dot_slash: bool = True) -> str:
    """The name as ``tar -czf out .`` writes it: ``./`` + name (+ ``/`` for a directory);
    without ``dot_slash`` as ``tar -czf out *`` does (the root itself is then ``""``)."""
    clean = name.strip("/")
    if not dot_slash:
        return f"{clean}/" if directory and clean else clean
    full = f"./{clean}" if clean else "."
    return f"{full}/" if directory else full


def source_date_epoch(environ: Mapping[str, str] = os.environ) -> int:
    """The fixed mtime of every entry: ``$SOURCE_DATE_EPOCH`` when set, else 0."""
    text = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) >= 8**11:  # ustar mtime is 11 octal digits
        raise UsageError(f"SOURCE_DATE_EPOCH={text!r} is not a Unix time in seconds")
    return int(text)


def _info(member: Member, mtime: int, dot_slash: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(member.tar_name(dot_slash=dot_slash))
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if member.kind == "dir":
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif member.kind == "hardlink":
        info.type, info.mode = tarfile.LNKTYPE, 0o644
        info.linkname = tar_name(member.link_to, dot_slash=dot_slash)
    else:
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o644, len(member.data)
    return info


class _NoRecordPadding(io.RawIOBase):
    """Passes writes through to ``out`` until :meth:`end`; from then on only the two zero
    blocks that end a tar.

    tarfile (like ``tar -b20``) pads an archive to a 10 KiB record, a tape-drive rule: no reader
    of these packages needs it (GNU tar, Python's tarfile, Go's archive/tar, Rust's tar crate
    and the C walkers all stop at the zero blocks or the end of the data), and it costs ~40
    bytes under gzip and up to 9.5 KiB in an uncompressed ``.tar``.
    """

    def __init__(self, out: BinaryIO):
        self._out = out
        self._rest: int | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        if self._rest is not None:
            view = view[: self._rest]
            self._rest -= len(view)
        self._out.write(view)
        return size

    def tell(self) -> int:
        return self._out.tell()

    def end(self) -> None:
        self._rest = 2 * tarfile.BLOCKSIZE


def write_tar(
    out: BinaryIO,
    members: Iterable[Member],
    *,
    mtime: int = 0,
    dot_slash: bool = True,
    new_block: Callable[[], None] | None = None,
) -> None:
    """Write ``members`` in order as an uncompressed PAX tar to ``out``; ``new_block`` is called
    before each member that asks for one (tarfile writes each entry through at once). The
    archive ends after its two zero blocks (:class:`_NoRecordPadding`)."""
    sink = _NoRecordPadding(out)
    with tarfile.open(fileobj=cast(BinaryIO, sink), mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            if member.new_block and new_block is not None:
                new_block()
            info = _info(member, mtime, dot_slash)
            tar.addfile(info, io.BytesIO(member.data) if member.kind == "file" else None)
        sink.end()


def write_archive(
    out: BinaryIO,
    members: Iterable[Member],
    compression: Compression,
    *,
    mtime: int = 0,
    dot_slash: bool = True,
) -> None:
    """Write ``members`` as a tar compressed per ``compression`` (its
    :data:`~btfhub_mirror.package.FORMATS` entry) to ``out`` (left open), their names with a
    leading ``./`` or not per ``dot_slash``.

    Under gzip, a member with ``new_block`` starts a new deflate block (``Z_BLOCK``: no bytes
    added, the window kept): zlib cuts blocks by count, not content, and one block's Huffman
    codes fitted to JSON text and raw BTF at once cost ~4 % of a small package (measured on
    tests/data/btfhub-sample). xz and zstd adapt by themselves.
    """
    compressor = FORMATS[compression].compressor
    if compressor is None:
        write_tar(out, members, mtime=mtime, dot_slash=dot_slash)
        return
    writer = compressor(out, mtime)
    try:
        write_tar(
            writer.stream, members, mtime=mtime, dot_slash=dot_slash, new_block=writer.new_block
        )
    finally:
        writer.stream.close()
