"""Truncated, garbage and hostile BTF ends in BtfFormatError naming section and offset."""

from __future__ import annotations

import struct

import pytest

from btfhub_mirror.btf import load_btf_bytes, parse_btf, write_btf
from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.dump import dump_raw
from btfhub_mirror.btf.write import encode_btf
from btfhub_mirror.errors import ArchiveError, BtfFormatError

SMALL = encode_btf(
    [
        t.Int("int", 4, 1, 0, 32),
        t.Struct("s", 8, (t.Member("a", 1, 0), t.Member("b", 1, 32, 3)), kind_flag=True),
        t.Enum("e", 4, (t.Enumerator("A", -1), t.Enumerator("B", 2)), kind_flag=True),
    ]
)


def header(**fields: int) -> bytes:
    values = dict(
        magic=0xEB9F, version=1, flags=0, hdr_len=24, type_off=0, type_len=0, str_off=0, str_len=1
    )
    values.update(fields)
    return struct.pack("<HBBIIIII", *values.values())


def parse_all(data: bytes) -> None:
    btf = parse_btf(data)
    for _ in dump_raw(btf):
        pass


def test_small_btf_is_valid() -> None:
    btf = parse_btf(SMALL)
    assert [typ.name for _, typ in btf.types()] == ["int", "s", "e"]
    assert write_btf(btf) == SMALL


@pytest.mark.parametrize(
    ("data", "section", "offset", "words"),
    [
        (b"", "header", 0, "shorter"),
        (b"\x00" * 24, "header", 0, "bad magic"),
        (header(version=2) + b"\0", "header", 2, "version"),
        (header(flags=1) + b"\0", "header", 3, "flags"),
        (header(hdr_len=23) + b"\0", "header", 4, "header length"),
        (header(hdr_len=0xFFFFFFFF) + b"\0", "header", 4, "header length"),
        (header(type_off=2) + b"\0", "header", 8, "aligned"),
        (header(type_len=8, str_off=4) + b"\0" * 12, "header", 8, "overlaps"),
        (header(str_len=0xFFFFFFF0) + b"\0", "header", 16, "past the end"),
        (header(str_len=1) + b"x", "strings", 24, "start with a NUL"),
        (header(str_len=2) + b"\0x", "strings", 25, "NUL-terminated"),
    ],
)
def test_bad_headers(data: bytes, section: str, offset: int, words: str) -> None:
    with pytest.raises(BtfFormatError) as info:
        parse_btf(data)
    assert info.value.section == section
    assert info.value.offset == offset
    assert words in str(info.value)


def test_truncated_type_section_names_the_record() -> None:
    # Claim 4 bytes fewer of types than the records hold: the last record overruns.
    type_len = struct.unpack_from("<I", SMALL, 12)[0]
    data = bytearray(SMALL)
    struct.pack_into("<I", data, 12, type_len - 4)
    with pytest.raises(BtfFormatError) as info:
        parse_btf(bytes(data))
    assert info.value.section == "types"
    assert "overruns" in str(info.value)


def test_huge_vlen_is_bounded_by_the_data() -> None:
    data = bytearray(SMALL)
    # struct 's' is the second record (INT record is 16 bytes): set vlen to 0xffffff.
    info_at = 24 + 16 + 4
    (info,) = struct.unpack_from("<I", data, info_at)
    struct.pack_into("<I", data, info_at, info | 0xFFFFFF)
    with pytest.raises(BtfFormatError) as err:
        parse_btf(bytes(data))
    assert err.value.section == "types"


def test_unknown_kind() -> None:
    data = bytearray(SMALL)
    struct.pack_into("<I", data, 24 + 4, 31 << 24)
    with pytest.raises(BtfFormatError, match="unknown BTF kind 31") as err:
        parse_btf(bytes(data))
    assert err.value.offset == 24


def test_name_offset_out_of_bounds_found_on_decode() -> None:
    data = bytearray(SMALL)
    struct.pack_into("<I", data, 24, 0x7FFF0000)
    btf = parse_btf(bytes(data))
    with pytest.raises(BtfFormatError, match="outside the string section") as err:
        btf.type(1)
    assert err.value.section == "types"
    assert err.value.offset == 24


def test_error_names_its_source() -> None:
    with pytest.raises(BtfFormatError, match=r"^some/file\.btf: BTF header at byte 0"):
        load_btf_bytes(b"\0" * 30, source="some/file.btf")


def test_corrupt_xz_is_an_archive_error() -> None:
    with pytest.raises(ArchiveError, match=r"x\.btf\.tar\.xz: corrupt xz"):
        load_btf_bytes(b"\xfd7zXZ\x00" + b"\x01" * 40, source="x.btf.tar.xz")
