"""``--btf-header 32`` writes what bpftool 7.8 (libbpf 1.8) writes; 24 stays bpftool 7.1's.

libbpf 1.8's ``btf_new_empty()`` (bpftool's ``btf__new_empty()`` in ``btfgen_get_btf``) sets
``hdr_len = sizeof(struct btf_header)`` = 32 and, with no ``add_layout``, leaves ``layout_off``
and ``layout_len`` 0 (``btf_hdr_update_type_len`` moves ``layout_off`` only while a layout is
set); the sections after the header are laid out as before. So bpftool 7.8's output is bpftool
7.1's with the header widened by two zero words. Checked against bpftool 7.8 itself where
``$BTFMIRROR_BPFTOOL_78`` names one (``scripts/fetch_bpftool78.sh``), and, everywhere, against
that documented layout built here with ``struct`` from bpftool 7.1's own output.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.btf import load_btf
from btfhub_mirror.btf.write import with_header_len
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import MinimizeError, minimize
from cli.app import app
from tests.cache import kernel_btf
from tests.helpers import REPO, SAMPLE, need_bpftool78, need_tool, sample_archives, sample_id
from tests.oracle import raw_kernel_btf, run_min_core_btf

BUILD = REPO / "tests" / "bpf" / "build"
#: The objects bpftool minimizes on every sample kernel (ambiguous and fwd_typetag abort on some).
EVERYWHERE = [
    BUILD / f"{name}.bpf.el.o"
    for name in (
        "core_fields",
        "core_types",
        "kfunc_mismatch",
        "kfuncs",
        "loadable",
        "newfield",
        "ringbuf",
    )
]
ABORTING = [BUILD / "ambiguous.bpf.el.o", BUILD / "fwd_typetag.bpf.el.o"]
OBJECT_SETS = [EVERYWHERE, *([o] for o in ABORTING)]
S390X = SAMPLE / "debian/12/s390x/6.12.95+deb12-s390x.btf.tar.xz"
DEBIAN11 = SAMPLE / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"
runner = CliRunner()


def set_id(objs: list[Path]) -> str:
    return "most" if len(objs) > 1 else objs[0].name.removesuffix(".bpf.el.o")


def ours(path: Path, objs: list[Path], header_len: int) -> bytes:
    return with_header_len(
        minimize(kernel_btf(path), [BpfObject.open(o) for o in objs]).data, header_len
    )


def widened(bpftool_71_output: bytes) -> bytes:
    """bpftool 7.1's BTF with the 32-byte header of include/uapi/linux/btf.h (libbpf 1.8):
    the same magic ... str_len, hdr_len 32, then layout_off = layout_len = 0, then the same
    sections (offsets are relative to the header's end, so none of them changes)."""
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        "<HBBIIIII", bpftool_71_output
    )
    assert magic == 0xEB9F and hdr_len == 24
    header = struct.pack(
        "<HBBIIIIIII", magic, version, flags, 32, type_off, type_len, str_off, str_len, 0, 0
    )
    return header + bpftool_71_output[24:]


@pytest.mark.needs_bpftool78
@pytest.mark.parametrize("objs", OBJECT_SETS, ids=set_id)
@pytest.mark.parametrize("path", sample_archives(), ids=sample_id)
def test_same_bytes_as_bpftool_78(path: Path, objs: list[Path]) -> None:
    run = run_min_core_btf(path, objs, bpftool=need_bpftool78())
    if not run.ok:  # bpftool 7.8 aborts where 7.1 does: strict mode fails the same way
        with pytest.raises(MinimizeError):
            minimize(kernel_btf(path), [BpfObject.open(o) for o in objs], strict=True)
        return
    assert run.output is not None
    fields = struct.unpack_from("<7I", run.output, 4)  # hdr_len ... layout_len
    assert fields[0] == 32 and fields[5:] == (0, 0), fields
    assert ours(path, objs, 32) == run.output


@pytest.mark.needs_bpftool78
def test_big_endian_objects_on_the_big_endian_kernel_match_bpftool_78(tmp_path: Path) -> None:
    """libbpf 1.8 byte-swaps .BTF.ext (libbpf 1.1 cannot): the s390x kernel with -target bpfeb
    objects, written in host order by both."""
    objs = [o.with_name(o.name.replace(".el.", ".eb.")) for o in EVERYWHERE]
    raw = raw_kernel_btf(S390X, tmp_path)
    out = tmp_path / "min.btf"
    subprocess.run(
        [need_bpftool78(), "gen", "min_core_btf", str(raw), str(out), *map(str, objs)],
        check=True,
        capture_output=True,
    )
    expected = out.read_bytes()
    assert ours(S390X, objs, 32) == expected


@pytest.mark.needs_bpftool
@pytest.mark.parametrize("path", sample_archives(), ids=sample_id)
def test_header_32_is_bpftool_71_widened_as_documented(path: Path) -> None:
    run = run_min_core_btf(path, EVERYWHERE, bpftool=need_tool("bpftool"))
    assert run.ok and run.output is not None, run.errors
    assert ours(path, EVERYWHERE, 24) == run.output
    assert ours(path, EVERYWHERE, 32) == widened(run.output)


def test_cli_btf_header(tmp_path: Path) -> None:
    obj = str(EVERYWHERE[0])
    default, wide = tmp_path / "24.btf", tmp_path / "32.btf"
    for out, extra in ((default, []), (wide, ["--btf-header", "32"])):
        result = runner.invoke(app, ["minimize", str(DEBIAN11), obj, "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
    assert struct.unpack_from("<I", default.read_bytes(), 4) == (24,)
    assert wide.read_bytes() == widened(default.read_bytes())
    assert load_btf(wide).type_count == load_btf(default).type_count
    refused = runner.invoke(
        app, ["minimize", str(DEBIAN11), obj, "-o", str(tmp_path / "x"), "--btf-header", "28"]
    )
    assert refused.exit_code == 2 and not (tmp_path / "x").exists()
