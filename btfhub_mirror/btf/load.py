"""Open BTF from wherever it lives: raw ``.btf``, btfhub ``.btf.tar.xz``, an ELF's ``.BTF``
section, or ``/sys/kernel/btf/vmlinux``. The format is recognised from the content, not the name.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ..archive import MAX_BTF_SIZE, is_xz, read_btf_archive
from ..errors import BtfFormatError, ElfFormatError
from ..fsutil import read_capped
from .parse import Btf, parse_btf

ELF_MAGIC = b"\x7fELF"


def read_btf_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a BTF file in any container, at most :data:`MAX_BTF_SIZE` of them."""
    data = read_capped(path, MAX_BTF_SIZE)
    if len(data) > MAX_BTF_SIZE:
        raise BtfFormatError(
            f"file is larger than {MAX_BTF_SIZE} bytes", section="file", offset=0, source=str(path)
        )
    return data


def elf_btf_section(data: bytes, *, source: str) -> bytes:
    """The ``.BTF`` section of an ELF file."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        section = elf.get_section_by_name(".BTF")
        if section is None:
            raise ElfFormatError(f"{source}: ELF file has no .BTF section")
        return bytes(section.data())
    except ElfFormatError:
        raise
    except (ELFError, ValueError, IndexError, KeyError, OverflowError) as err:
        raise ElfFormatError(f"{source}: corrupt ELF: {err}") from err
    except Exception as err:  # pyelftools/construct raise assorted errors on garbage
        raise ElfFormatError(f"{source}: corrupt ELF: {err}") from err


def load_btf_bytes(data: bytes, *, source: str, base: Btf | None = None) -> Btf:
    """Parse BTF held in ``data`` in any supported container."""
    if is_xz(data):
        data = read_btf_archive(data, source=source)
    elif data[:4] == ELF_MAGIC:
        data = elf_btf_section(data, source=source)
    return parse_btf(data, base=base, source=source)


def raw_btf_of(data: bytes, *, source: str) -> bytes:
    """Raw BTF bytes of a file's contents ``data`` (decompressing or extracting from ELF)."""
    if is_xz(data):
        return read_btf_archive(data, source=source)
    if data[:4] == ELF_MAGIC:
        return elf_btf_section(data, source=source)
    return data


def read_btf_source(path: str | os.PathLike[str]) -> bytes:
    """Raw BTF bytes of ``path`` (decompressing or extracting from ELF as needed)."""
    return raw_btf_of(read_btf_file(path), source=str(Path(path)))


def load_btf(path: str | os.PathLike[str], *, base: Btf | None = None) -> Btf:
    """Open the BTF at ``path``: ``.btf``, ``.btf.tar.xz``, ELF or sysfs vmlinux."""
    p = Path(path)
    return parse_btf(read_btf_source(p), base=base, source=str(p))
