"""The ELF header and section table reader of BpfObject agrees with pyelftools."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from btfhub_mirror.elf import BpfObject
from btfhub_mirror.errors import ElfFormatError
from tests.helpers import REPO

OBJECTS = sorted((REPO / "tests/bpf/build").glob("*.o"))


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_sections_and_data_equal_pyelftools(path: Path) -> None:
    data = path.read_bytes()
    obj = BpfObject(data, str(path))
    elf = ELFFile(io.BytesIO(data))
    expected = [
        (i, str(s.name), str(s["sh_type"]), int(s["sh_size"]), int(s["sh_flags"]))
        for i, s in enumerate(elf.iter_sections())
    ]
    assert [(s.index, s.name, s.type, s.size, s.flags) for s in obj.sections] == expected
    assert obj.byte_order == ("little" if elf.little_endian else "big")
    for info in obj.sections:
        if info.type != "SHT_NOBITS":
            assert obj.section_data(info.name) == bytes(
                next(s for s in elf.iter_sections() if s.name == info.name).data()
            )
    assert OBJECTS and any(s.type == "SHT_PROGBITS" for s in obj.sections)


def test_a_non_bpf_machine_is_named_as_pyelftools_names_it() -> None:
    data = bytearray(OBJECTS[0].read_bytes())
    little = data[5] == 1
    data[18:20] = struct.pack("<H" if little else ">H", 62)  # EM_X86_64
    with pytest.raises(ElfFormatError, match=r"not a BPF object \(machine EM_X86_64;"):
        BpfObject(bytes(data), "x.o")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d[:10], "bad.o: reading ELF header: file too short"),
        (lambda d: d[:4] + b"\x07" + d[5:], "bad.o: reading ELF header: invalid EI_CLASS 7"),
        (lambda d: d[:5] + b"\x09" + d[6:], "invalid EI_DATA 9"),
        (lambda d: d[:58] + b"\0\0" + d[60:], "reading section headers: section header size 0 is"),
        (lambda d: d[:60] + b"\xff\xff" + d[62:], "65535 section headers do not fit"),
        (lambda d: d[:62] + b"\xfe\xff" + d[64:], "section name table index 65534"),
        (lambda d: d[:40] + b"\xff" * 8 + d[48:], "reading section headers"),
    ],
)
def test_hostile_headers_are_one_typed_error(edit: object, message: str) -> None:
    data = next(p for p in OBJECTS if p.name.endswith(".el.o")).read_bytes()
    assert callable(edit)
    with pytest.raises(ElfFormatError, match=message):
        BpfObject(edit(data), "bad.o")
