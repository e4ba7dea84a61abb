"""BTF with libbpf 1.8's 32-byte header and a layout section parses, and dumps as bpftool does.

A kernel BTF built with libbpf 1.8 (``btf__new_empty_opts`` with ``add_layout``) carries the
header of ``include/uapi/linux/btf.h`` with ``layout_off``/``layout_len`` after ``str_len``
and, between the type and the string sections, one ``struct btf_layout`` (``__u8 info_sz;
__u8 elem_sz; __u16 flags``) per kind it knows. The files here are built by this test from
sample kernels with ``struct`` alone (not btfmirror's writer), as libbpf lays them out.

bpftool 7.8 prints nothing for the layout section: its ``dump_btf_raw``/``dump_btf_type``
(bpftool src/btf.c) never read ``hdr.layout_*``; only types are printed. bpftool 7.1 (libbpf
1.1) reads a little-endian 32-byte header too (its ``btf_parse_hdr`` looks no further than
``str_len``), so both bpftools are the reference for the little-endian file; bpftool 7.8 alone
for the big-endian one (libbpf <= 1.7 refuses a non-native header that is not 24 bytes).
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest

from btfhub_mirror.btf import parse_btf, write_btf
from btfhub_mirror.btf.dump import dump_json, dump_raw
from btfhub_mirror.errors import BtfFormatError
from tests.cache import raw_btf
from tests.helpers import SAMPLE, need_bpftool78, need_tool

#: libbpf 1.8 src/btf.c ``layouts[NR_BTF_KINDS]``: (info_sz, elem_sz, flags) per kind 0..19.
LIBBPF_LAYOUTS = [
    (0, 0, 0),
    (4, 0, 0),
    (0, 0, 0),
    (12, 0, 0),
    (0, 12, 0),
    (0, 12, 0),
    (0, 8, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 8, 0),
    (4, 0, 0),
    (0, 12, 0),
    (0, 0, 0),
    (4, 0, 0),
    (0, 0, 0),
    (0, 12, 0),
]

LE_KERNEL = SAMPLE / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"
BE_KERNEL = SAMPLE / "debian/12/s390x/6.12.95+deb12-s390x.btf.tar.xz"


def prefix_of(data: bytes) -> str:
    return "<" if data[:2] == b"\x9f\xeb" else ">"


def layout_bytes(p: str, entries: list[tuple[int, int, int]] = LIBBPF_LAYOUTS) -> bytes:
    return b"".join(struct.pack(p + "BBH", *entry) for entry in entries)


def with_layout(raw: bytes, layout: bytes | None = None) -> bytes:
    """A 24-byte-header BTF rewritten as libbpf 1.8 with ``add_layout`` writes it:
    32-byte header, types, layout (at ``type_off + type_len``), strings."""
    p = prefix_of(raw)
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        p + "HBBIIIII", raw
    )
    assert (hdr_len, type_off, str_off) == (24, 0, type_len)
    layout = layout_bytes(p) if layout is None else layout
    header = struct.pack(
        p + "HBBIIIIIII",
        magic,
        version,
        flags,
        32,
        0,
        type_len,
        type_len + len(layout),
        str_len,
        type_len,
        len(layout),
    )
    types = raw[24 : 24 + type_len]
    strings = raw[24 + str_off : 24 + str_off + str_len]
    return header + types + layout + strings


def header32(
    *,
    type_len: int = 0,
    str_off: int = 0,
    str_len: int = 1,
    layout_off: int = 0,
    layout_len: int = 0,
    hdr_len: int = 32,
) -> bytes:
    return struct.pack(
        "<HBBIIIIIII", 0xEB9F, 1, 0, hdr_len, 0, type_len, str_off, str_len, layout_off, layout_len
    )


def bpftool_dump(bpftool: str, path: Path, *extra: str) -> str:
    return subprocess.run(
        [bpftool, *extra, "btf", "dump", "file", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def assert_same_dump(bpftool: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "layout.btf"
    path.write_bytes(data)
    btf = parse_btf(data)
    ours = "\n".join(dump_raw(btf)).splitlines()
    theirs = bpftool_dump(bpftool, path).splitlines()
    for lineno, (a, b) in enumerate(zip(ours, theirs, strict=False), 1):
        assert a == b, f"line {lineno} differs"
    assert len(ours) == len(theirs)
    expected = json.loads(bpftool_dump(bpftool, path, "-j"))
    # bpftool (7.1 and 7.8 alike) passes ENUM's __s32 `val` to jsonw_uint_field, sign-extending
    # unsigned values >= 2**31; btfmirror prints the real value (see test_bpftool_dump.py).
    for typ in expected["types"]:
        if typ["kind"] == "ENUM" and typ["encoding"] == "UNSIGNED":
            for value in typ["values"]:
                value["val"] &= 0xFFFFFFFF
    assert dump_json(btf) == expected


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", [LE_KERNEL, BE_KERNEL], ids=["le", "be"])
def test_kernel_with_layout_section_parses_to_the_same_types(kernel: Path) -> None:
    raw = raw_btf(kernel)
    data = with_layout(raw)
    btf, plain = parse_btf(data), parse_btf(raw)
    assert btf.header.hdr_len == 32
    assert btf.layout == layout_bytes(prefix_of(raw))
    assert btf.type_count == plain.type_count
    assert list(dump_raw(btf)) == list(dump_raw(plain))
    # libbpf's btf_get_raw_data order (types, layout, strings) and offsets: re-encoding is exact.
    assert write_btf(btf) == data


def test_header_shorter_than_32_reads_the_fields_it_holds() -> None:
    # libbpf copies min(hdr_len, sizeof(struct btf_header)) bytes into a zeroed header: with
    # hdr_len 28 the u32 at 24 is layout_off, and with layout_len absent (0) it is ignored.
    data = header32(hdr_len=28, layout_off=0x1234)[:28] + b"\0"
    btf = parse_btf(data)
    assert (btf.header.layout_off, btf.header.layout_len, btf.layout) == (0x1234, 0, b"")


def test_layout_off_is_ignored_without_layout_len() -> None:
    btf = parse_btf(header32(layout_off=0xFFFFFFF0) + b"\0")
    assert btf.layout == b""


@pytest.mark.parametrize(
    ("data", "words"),
    [
        # btf_parse_hdr: "BTF layout section is not aligned to 4 bytes"
        (header32(str_off=8, layout_off=2, layout_len=4) + bytes(9), "aligned"),
        # ... "type data at .., layout data at .." (layout inside the type section)
        (
            header32(type_len=12, str_off=16, layout_off=8, layout_len=4)
            + struct.pack("<III", 0, 2 << 24, 0)
            + bytes(5),
            "overlaps the type section",
        ),
        # ... "layout data at .., strings data at .." (layout runs into the strings)
        (header32(str_off=4, str_len=1, layout_off=0, layout_len=8) + bytes(9), "string section"),
        # btf_parse_layout_sec: "Invalid BTF kind layout section" (not whole struct btf_layout)
        (header32(str_off=8, layout_off=0, layout_len=6) + bytes(9), "4-byte kind entries"),
    ],
    ids=["misaligned", "in-types", "into-strings", "partial-entry"],
)
def test_bad_layout_sections_are_refused(data: bytes, words: str) -> None:
    with pytest.raises(BtfFormatError) as info:
        parse_btf(data)
    assert info.value.section == "header"
    assert words in str(info.value)


def test_unknown_kind_sized_by_the_layout_is_refused_by_name() -> None:
    # libbpf 1.8 would step over kind 20 using the layout's sizes; btfmirror models only the
    # kinds it knows, and says that this one is described but unsupported.
    record = struct.pack("<III", 0, 20 << 24, 0) + bytes(4)
    layout = layout_bytes("<", [*LIBBPF_LAYOUTS, (4, 0, 0)])
    data = (
        header32(type_len=16, str_off=16 + len(layout), layout_off=16, layout_len=len(layout))
        + record
        + layout
        + b"\0"
    )
    with pytest.raises(BtfFormatError) as info:
        parse_btf(data)
    assert "kind 20" in str(info.value) and "layout section" in str(info.value)


# -- dumps, against bpftool --------------------------------------------------------------------


@pytest.mark.needs_bpftool
def test_dump_with_layout_matches_bpftool_71(tmp_path: Path) -> None:
    assert_same_dump(need_tool("bpftool"), with_layout(raw_btf(LE_KERNEL)), tmp_path)


@pytest.mark.needs_bpftool78
@pytest.mark.parametrize("kernel", [LE_KERNEL, BE_KERNEL], ids=["le", "be"])
def test_dump_with_layout_matches_bpftool_78(kernel: Path, tmp_path: Path) -> None:
    assert_same_dump(need_bpftool78(), with_layout(raw_btf(kernel)), tmp_path)
