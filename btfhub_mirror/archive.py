"""Reading btfhub-archive's ``<release>.btf.tar.xz`` files in memory, safely.

Each archive holds one regular member, ``<release>.btf``. Decompression is capped so a
decompression bomb costs at most :data:`MAX_BTF_SIZE` bytes, and only regular-file members are
ever read (never extracted), so a hostile archive cannot write anywhere.
"""

from __future__ import annotations

import io
import lzma
import tarfile

from .errors import ArchiveError
from .package import FORMATS, XZ_MEMLIMIT, xz_error

#: Largest raw BTF accepted from any source: the biggest real kernel BTF we know (CentOS 8
#: arm64 4.18.0-147, un-deduplicated) is 27 MB, so 64 MiB leaves more than twice that.
MAX_BTF_SIZE = 64 * 1024 * 1024
#: What a one-member tar adds around its member: headers (PAX or GNU long names included)
#: and the zero blocks that end it, padded to tar's 10 KiB record.
TAR_OVERHEAD = 64 * 1024
#: The suffix of btfhub-archive's files: ``<distro>/<version>/<arch>/<release>.btf.tar.xz``.
ARCHIVE_SUFFIX = ".btf.tar.xz"
XZ_MAGIC = FORMATS["tar.xz"].magic


def is_xz(data: bytes) -> bool:
    return data[:6] == XZ_MAGIC


def decompress_xz(data: bytes, *, source: str, limit: int = MAX_BTF_SIZE) -> bytes:
    """xz-decompress ``data``, refusing output larger than ``limit``."""
    decomp = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=XZ_MEMLIMIT)
    try:
        out = decomp.decompress(data, max_length=limit + 1)
    except lzma.LZMAError as err:
        raise xz_error(err, source) from err
    if len(out) > limit:
        raise ArchiveError(f"{source}: decompresses to more than {limit} bytes")
    if not decomp.eof:
        raise ArchiveError(f"{source}: truncated xz data")
    return out


def read_btf_member(tar_bytes: bytes, *, source: str, limit: int = MAX_BTF_SIZE) -> bytes:
    """The single ``*.btf`` regular member of an uncompressed tar."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            members = tar.getmembers()
            btf_members = [m for m in members if m.name.endswith(".btf")]
            if len(btf_members) != 1:
                names = ", ".join(m.name for m in members[:5]) or "nothing"
                raise ArchiveError(
                    f"{source}: expected exactly one .btf member, found {len(btf_members)} "
                    f"(archive holds {names})"
                )
            member = btf_members[0]
            if not member.isreg():
                raise ArchiveError(f"{source}: member {member.name} is not a regular file")
            if member.size > limit:
                raise ArchiveError(f"{source}: member {member.name} is larger than {limit} bytes")
            handle = tar.extractfile(member)
            assert handle is not None  # regular files always have data
            data = handle.read()
    except tarfile.TarError as err:
        raise ArchiveError(f"{source}: corrupt tar: {err}") from err
    if len(data) != member.size:
        raise ArchiveError(f"{source}: member {member.name} is truncated")
    return data


def read_btf_archive(data: bytes, *, source: str) -> bytes:
    """Raw BTF bytes from the contents of a btfhub ``.btf.tar.xz`` file.

    Peak memory is bounded: the decoder's :data:`XZ_MEMLIMIT`, the tar (at most
    :data:`MAX_BTF_SIZE` plus :data:`TAR_OVERHEAD`) and one copy of its member.
    """
    tar_bytes = decompress_xz(data, source=source, limit=MAX_BTF_SIZE + TAR_OVERHEAD)
    return read_btf_member(tar_bytes, source=source)
