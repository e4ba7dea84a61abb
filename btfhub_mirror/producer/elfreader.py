"""The parts of a kernel vmlinux ELF ``add`` needs: its ``.BTF``, whether it has DWARF, its arch.

pyelftools reads the container; as in :mod:`btfhub_mirror.elf`, any failure of the backend on a
hostile file becomes a typed error naming the file (:class:`KernelImageError`), and section
sizes are checked against the file and the caps before any data is read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from ..archive import MAX_BTF_SIZE
from ..errors import BtfmirrorError, KernelImageError

#: e_machine → btfhub-archive's arch directory; ppc64 is named by its byte order.
MACHINE_ARCHES = {
    "EM_X86_64": "x86_64",
    "EM_AARCH64": "arm64",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv64",
    "EM_LOONGARCH": "loongarch64",
}
SHF_COMPRESSED = 0x800


@dataclass(frozen=True, slots=True)
class Vmlinux:
    btf: bytes | None
    has_dwarf: bool
    arch: str | None


def read_vmlinux(data: bytes, source: str) -> Vmlinux:
    """The ``.BTF`` section (None if absent), DWARF presence and arch of an ELF vmlinux."""
    try:
        from elftools.elf.elffile import ELFFile

        elf = ELFFile(io.BytesIO(data))
        machine = str(elf["e_machine"])
        little = bool(elf.little_endian)
        btf: bytes | None = None
        has_dwarf = False
        for section in elf.iter_sections():
            name = str(section.name)
            if name == ".debug_info":
                has_dwarf = True
            if name != ".BTF" or btf is not None:
                continue
            size, offset = int(section["sh_size"]), int(section["sh_offset"])
            if int(section["sh_flags"]) & SHF_COMPRESSED:
                raise KernelImageError(f"{source}: section .BTF is compressed")
            if size > MAX_BTF_SIZE:
                raise KernelImageError(
                    f"{source}: section .BTF is {size} bytes, over the {MAX_BTF_SIZE} cap"
                )
            if offset + size > len(data):
                raise KernelImageError(
                    f"{source}: section .BTF [{offset}, +{size}) runs past the end of the "
                    f"{len(data)}-byte file (truncated?)"
                )
            btf = data[offset : offset + size]
    except BtfmirrorError:
        raise
    except Exception as err:  # pyelftools/construct raise assorted errors on garbage
        raise KernelImageError(f"{source}: reading the ELF: {err or type(err).__name__}") from err
    if machine == "EM_PPC64":
        arch: str | None = "ppc64le" if little else "ppc64"
    else:
        arch = MACHINE_ARCHES.get(machine)
    return Vmlinux(btf, has_dwarf, arch)
