""".BTF.ext parsing of hand-built sections: layout rules, both byte orders, precise errors."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from btfhub_mirror.btf import encode_btf, parse_btf
from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.ext import (
    CoreRelo,
    CoreReloKind,
    describe_access,
    parse_access_str,
    parse_btf_ext,
)
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.errors import BtfFormatError, CoreReloError, ElfFormatError, NotFoundError

from .conftest import bpf_object, object_path

NATIVE = "<" if sys.byteorder == "little" else ">"
FOREIGN = ">" if NATIVE == "<" else "<"


def small_btf() -> bytes:
    """A local BTF with a struct, an array member, an anonymous union and an enum."""
    int_t = t.Int("int", 4, 1, 0, 32)
    types: list[t.Type] = [
        int_t,  # 1
        t.Array(1, 1, 4),  # 2: int[4]
        t.Union("", 4, (t.Member("u1", 1, 0), t.Member("u2", 1, 0))),  # 3
        t.Struct("s", 24, (t.Member("a", 1, 0), t.Member("arr", 2, 32), t.Member("", 3, 160))),
        t.Enum("e", 4, (t.Enumerator("E0", 0), t.Enumerator("E1", -5)), True),  # 5
        t.Typedef("s_t", 4),  # 6
    ]
    return encode_btf(types)


def add_strings(btf_data: bytes, extra: list[str]) -> tuple[bytes, dict[str, int]]:
    """``btf_data`` with ``extra`` strings appended to its string section."""
    hdr = struct.unpack_from("<HBBIIIII", btf_data, 0)
    hdr_len, type_off, type_len, str_off, str_len = hdr[3:8]
    strings = bytearray(btf_data[hdr_len + str_off : hdr_len + str_off + str_len])
    where = {}
    for text in extra:
        where[text] = len(strings)
        strings += text.encode() + b"\0"
    header = struct.pack("<HBBIIIII", *hdr[:7], len(strings))
    body = btf_data[hdr_len : hdr_len + type_off + type_len]
    return header + btf_data[24:hdr_len] + body + bytes(strings), where


def ext_blob(
    p: str,
    sections: dict[str, list[tuple[str, list[tuple[int, ...]], int]]],
    hdr_len: int = 32,
) -> bytes:
    """Build a .BTF.ext: ``{subsection: [(sec_name_off, records, rec_size)]}``; offsets raw."""
    bodies = []
    for name in ("func_info", "line_info", "core_relo"):
        chunks = sections.get(name, [])
        if not chunks:
            bodies.append(b"")
            continue
        rec_size = chunks[0][2]
        out = struct.pack(p + "I", rec_size)
        for sec_off, records, _ in chunks:
            out += struct.pack(p + "II", int(sec_off), len(records))
            for rec in records:
                raw = struct.pack(p + "I" * len(rec), *rec)
                out += raw + b"\0" * (rec_size - len(raw))
        bodies.append(out)
    offs, pos = [], 0
    for body in bodies:
        offs += [pos if body else 0, len(body)]
        pos += len(body)
    header = struct.pack(p + "HBBI", 0xEB9F, 1, 0, hdr_len) + struct.pack(p + "IIII", *offs[:4])
    if hdr_len >= 32:
        header += struct.pack(p + "II", *offs[4:])
    header += b"\0" * (hdr_len - len(header))
    return header + b"".join(bodies)


@pytest.fixture(scope="module")
def local() -> tuple[bytes, dict[str, int]]:
    return add_strings(
        small_btf(), ["kprobe/x", "0:1:2", "0:2:1", "0", "0:3", "1", "file.c", "x = 1;"]
    )


def relos_blob(p: str, s: dict[str, int], rec_size: int = 16) -> bytes:
    return ext_blob(
        p,
        {
            "func_info": [(str(s["kprobe/x"]), [(0, 1)], 8)],
            "line_info": [(str(s["kprobe/x"]), [(0, s["file.c"], s["x = 1;"], 7 << 10 | 3)], 16)],
            "core_relo": [
                (
                    str(s["kprobe/x"]),
                    [
                        (8, 4, s["0:1:2"], CoreReloKind.FIELD_BYTE_OFFSET),
                        (16, 4, s["0:2:1"], CoreReloKind.FIELD_EXISTS),
                        (24, 6, s["0"], CoreReloKind.TYPE_SIZE),
                        (32, 5, s["1"], CoreReloKind.ENUMVAL_VALUE),
                    ],
                    rec_size,
                )
            ],
        },
    )


@pytest.mark.parametrize("p", [NATIVE, FOREIGN], ids=["native", "foreign"])
def test_records_in_both_byte_orders(p: str, local: tuple[bytes, dict[str, int]]) -> None:
    data, s = local
    btf = parse_btf(data)
    ext = parse_btf_ext(relos_blob(p, s), btf)
    assert ext.byte_order == ("little" if p == "<" else "big")
    (func,) = ext.func_infos
    assert (func.section, func.insn_off, func.type_id) == ("kprobe/x", 0, 1)
    (line,) = ext.line_infos
    assert (line.file_name, line.line, line.line_num, line.column) == ("file.c", "x = 1;", 7, 3)
    assert [r.insn_index for r in ext.core_relos] == [1, 2, 3, 4]
    assert [describe_access(btf, r) for r in ext.core_relos] == [
        "struct s.arr[2]",
        "struct s.u2",  # 0:2:1 = member 2 (the anonymous union), its member 1
        "typedef s_t",
        "enum e::E1 = -5",
    ]


def test_larger_native_records_are_skipped_over(local: tuple[bytes, dict[str, int]]) -> None:
    data, s = local
    btf = parse_btf(data)
    ext = parse_btf_ext(relos_blob(NATIVE, s, rec_size=24), btf)
    assert [r.insn_off for r in ext.core_relos] == [8, 16, 24, 32]


@pytest.mark.parametrize(
    ("mutate", "subsection", "message"),
    [
        (lambda b: b[:10], "header", "shorter than"),
        (lambda b: b"\x00\x00" + b[2:], "header", "bad magic"),
        (lambda b: b[:2] + b"\x02" + b[3:], "header", "version"),
        (lambda b: b[:3] + b"\x01" + b[4:], "header", "flags"),
        (lambda b: b[:4] + struct.pack("<I", 9999) + b[8:], "header", "header length"),
        (lambda b: b[:24] + struct.pack("<I", 2) + b[28:], "core_relo", "aligned"),
        (lambda b: b[:28] + struct.pack("<I", 9999) + b[32:], "core_relo", "past the end"),
    ],
)
def test_header_errors_name_the_place(
    local: tuple[bytes, dict[str, int]], mutate: object, subsection: str, message: str
) -> None:
    data, s = local
    blob = relos_blob("<", s)
    with pytest.raises(BtfFormatError) as info:
        parse_btf_ext(mutate(blob), parse_btf(data), source="x.o")  # type: ignore[operator]
    assert info.value.section == f".BTF.ext {subsection}"
    assert message in info.value.message and "x.o" in str(info.value)


def core_only(s: dict[str, int], records: list[tuple[int, ...]], rec_size: int = 16) -> bytes:
    return ext_blob("<", {"core_relo": [(str(s["kprobe/x"]), records, rec_size)]})


def with_num_info(blob: bytes, count: int) -> bytes:
    at = 32 + 4 + 4  # header, rec_size, sec_name_off
    return blob[:at] + struct.pack("<I", count) + blob[at + 4 :]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda s: core_only(s, [(0, 4, s["0:3"], 0)], rec_size=12), "record size 12"),
        (lambda s: core_only(s, [(0, 4, s["0:3"], 0)], rec_size=18), "record size 18"),
        (lambda s: core_only(s, [(0, 4, s["0:3"], 0)], rec_size=1024), "record size 1024"),
        (lambda s: core_only(s, []), "zero records"),
        (lambda s: core_only(s, [(0, 4, 999_999, 0)]), "string offset 999999"),
        (lambda s: core_only(s, [(0, 4, s["0:3"], 13)]), "unknown relocation kind 13"),
        (lambda s: core_only(s, [(0, 4, s["0:3"], 0)])[:-4], "runs past the end"),
        (lambda s: with_num_info(core_only(s, [(0, 4, s["0:3"], 0)]), 2), "overrun"),
        (lambda s: with_num_info(core_only(s, [(0, 4, s["0:3"], 0)]), 1 << 31), "overrun"),
    ],
)
def test_subsection_errors(
    local: tuple[bytes, dict[str, int]], build: object, message: str
) -> None:
    data, s = local
    blob = build(s)  # type: ignore[operator]
    with pytest.raises(BtfFormatError) as info:
        parse_btf_ext(blob, parse_btf(data))
    assert info.value.section == ".BTF.ext core_relo"
    assert message in info.value.message
    assert 32 <= info.value.offset < len(blob)


def test_foreign_records_must_have_the_minimum_size(local: tuple[bytes, dict[str, int]]) -> None:
    data, s = local
    with pytest.raises(BtfFormatError, match="non-native"):
        parse_btf_ext(relos_blob(FOREIGN, s, rec_size=20), parse_btf(data))


def test_header_without_core_relos(local: tuple[bytes, dict[str, int]]) -> None:
    data, s = local
    blob = ext_blob("<", {"func_info": [(str(s["kprobe/x"]), [(0, 1)], 8)]}, hdr_len=24)
    ext = parse_btf_ext(blob, parse_btf(data))
    assert len(ext.func_infos) == 1 and ext.core_relos == ()


@pytest.mark.parametrize(
    ("type_id", "access", "kind", "message"),
    [
        (4, "0:9", CoreReloKind.FIELD_BYTE_OFFSET, "member 9"),
        (4, "0:1:4", CoreReloKind.FIELD_BYTE_OFFSET, "index 4 of a 4-element array"),
        (4, "0:0:1", CoreReloKind.FIELD_BYTE_OFFSET, "access 1 into a int"),
        (4, ":1", CoreReloKind.FIELD_BYTE_OFFSET, "malformed"),
        (4, "0:x", CoreReloKind.FIELD_BYTE_OFFSET, "malformed"),
        (4, "1", CoreReloKind.TYPE_EXISTS, "must be '0'"),
        (5, "2", CoreReloKind.ENUMVAL_EXISTS, "enumerator 2"),
        (4, "0", CoreReloKind.ENUMVAL_EXISTS, "non-enum"),
        (99, "0", CoreReloKind.TYPE_EXISTS, "type id 99"),
    ],
)
def test_describe_access_rejects_what_libbpf_rejects(
    local: tuple[bytes, dict[str, int]], type_id: int, access: str, kind: CoreReloKind, message: str
) -> None:
    btf = parse_btf(local[0])
    relo = CoreRelo("kprobe/x", 16, type_id, access, kind)
    with pytest.raises(CoreReloError, match=message) as info:
        describe_access(btf, relo)
    assert "kprobe/x insn 2" in str(info.value)


def test_access_string_limit() -> None:
    relo = CoreRelo("s", 0, 1, ":".join(["0"] * 65), CoreReloKind.FIELD_BYTE_OFFSET)
    with pytest.raises(CoreReloError):
        parse_access_str(relo)
    assert parse_access_str(CoreRelo("s", 0, 1, "0:12:3", CoreReloKind.FIELD_EXISTS)) == [0, 12, 3]


def test_short_names_round_trip() -> None:
    for kind in CoreReloKind:
        assert CoreReloKind.from_short_name(kind.short_name) is kind
    assert CoreReloKind.FIELD_LSHIFT_U64.short_name == "lshift_u64"
    assert CoreReloKind.TYPE_MATCHES.is_type_based and not CoreReloKind.TYPE_SIZE.is_field_based


# -- ELF-level errors -----------------------------------------------------------------------------


def test_not_a_bpf_object() -> None:
    with pytest.raises(ElfFormatError, match="not a BPF object"):
        BpfObject.open(sys.executable)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        BpfObject.open(tmp_path / "nope.o")


def renamed_section(name: str, old: bytes, new: bytes) -> bytes:
    data = object_path(name).read_bytes()
    obj = bpf_object(name)
    shstrtab = obj.section_data(".strtab")
    assert shstrtab is not None and old in shstrtab
    start = data.index(shstrtab)
    patched = shstrtab.replace(old, new)
    return data[:start] + patched + data[start + len(shstrtab) :]


def test_object_without_btf_ext_has_no_records() -> None:
    obj = BpfObject.from_bytes(renamed_section("ambiguous", b".BTF.ext\0", b".BTF.xxx\0"), "a.o")
    assert obj.btf_ext_bytes is None and obj.ext is None and obj.core_relos == []
    assert obj.btf.type_count > 1


def test_every_consumer_refuses_an_object_without_btf_ext_alike(tmp_path: Path) -> None:
    """minimize, relocs, resolve and pack once said it two ways with two error types."""
    from btfhub_mirror.elf import list_relocations
    from btfhub_mirror.minimize import minimize
    from btfhub_mirror.pack.pack import _read_objects
    from btfhub_mirror.resolve import resolve_objects

    path = tmp_path / "a.o"
    path.write_bytes(renamed_section("ambiguous", b".BTF.ext\0", b".BTF.xxx\0"))
    kernel = parse_btf(small_btf())
    refusals = [
        lambda: minimize(kernel, [BpfObject.open(path)]),
        lambda: resolve_objects([BpfObject.open(path)], kernel),
        lambda: list_relocations([path]),
        lambda: _read_objects([path]),
    ]
    messages = set()
    for refuse in refusals:
        with pytest.raises(ElfFormatError, match=r"a\.o: no \.BTF\.ext section") as info:
            refuse()
        messages.add(str(info.value))
    assert messages == {
        f"{path}: no .BTF.ext section, so no CO-RE relocations (was it built with -g?)"
    }


def test_object_without_btf_is_an_elf_error() -> None:
    data = renamed_section("ambiguous", b".BTF\0", b".XTF\0")
    obj = BpfObject.from_bytes(data, "a.o")
    with pytest.raises(ElfFormatError, match=r"a\.o: no \.BTF section"):
        obj.btf  # noqa: B018


def test_truncated_object_is_an_elf_error() -> None:
    data = object_path("core_types").read_bytes()
    with pytest.raises(ElfFormatError, match=r"t\.o"):
        obj = BpfObject.from_bytes(data[: len(data) // 2], "t.o")
        obj.core_relos  # noqa: B018
        obj.programs  # noqa: B018
