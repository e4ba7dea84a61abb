"""select and unpack_tar read every consumer's layout (issue #13), built by hand with tarfile.

``./btfhub-archive/<ID>/...`` (bpf-compatible, ecli), bcc's ``./<ID>/...`` with os-release's
quotes kept in ``ID`` (``"centos"``) and ``uname -m`` for the arch (``aarch64``), Inspektor
Gadget's ``<ID>/...`` without ``./``, and a ``dir`` package (a directory with btfmirror.json).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.btf import parse_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.errors import NoBtfFoundError
from btfhub_mirror.minimize import minimize
from btfhub_mirror.runtime import SystemIdentity, select_btf, unpack_tar
from tests.helpers import REPO
from tests.runtime.packages import Entry, file, package, sample_btf, write_package

CENTOS = "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64"
DEB_ARM = "debian/12/arm64/6.1.0-50-arm64"
DEB_X86 = "debian/12/x86_64/6.1.0-50-amd64"

#: os-release / uname of each kernel's system: ID unquoted, as SystemIdentity holds it.
IDENTITIES = {
    CENTOS: SystemIdentity("centos", "8", "aarch64", "4.18.0-147.5.1.el8_1.aarch64"),
    DEB_ARM: SystemIdentity("debian", "12", "aarch64", "6.1.0-50-arm64", "bookworm"),
    DEB_X86: SystemIdentity("debian", "12", "x86_64", "6.1.0-50-amd64", "bookworm"),
}

#: Each layout's name for a kernel, spelled as that consumer's reader computes it.
LAYOUTS = {
    "btfhub-archive": lambda d, v, m, r: f"./btfhub-archive/{d}/{v}/{m}/{r}.btf",
    "btfhub-archive-quoted": lambda d, v, m, r: (
        f'./btfhub-archive/"{d}"/{v}/{m}/{r}.btf'
        if d == "centos"
        else f"./btfhub-archive/{d}/{v}/{m}/{r}.btf"
    ),
    "bcc": lambda d, v, m, r: (
        f'./"{d}"/{v}/{m}/{r}.btf' if d == "centos" else f"./{d}/{v}/{m}/{r}.btf"
    ),
    "inspektor-gadget": lambda d, v, m, r: (
        f'"{d}"/{v}/{m}/{r}.btf' if d == "centos" else f"{d}/{v}/{m}/{r}.btf"
    ),
    "bare-arm64": lambda d, v, m, r: f"{d}/{v}/{'arm64' if m == 'aarch64' else m}/{r}.btf",
}


@pytest.fixture(scope="module")
def btfs() -> dict[str, bytes]:
    """Each kernel's BTF minimized for core_fields.bpf.c: real BTF, a few KiB."""
    obj = BpfObject.open(REPO / "tests/bpf/build/core_fields.bpf.el.o")
    # CentOS 8's own BTF is 27 MB to parse: its name carries another real kernel's BTF.
    sources = {DEB_ARM: DEB_ARM, DEB_X86: DEB_X86, CENTOS: "debian/11/x86_64/5.10.0-30-amd64"}
    found = {k: minimize(parse_btf(sample_btf(src)), [obj]).data for k, src in sources.items()}
    assert len(set(found.values())) == len(found)
    return found


def entries(layout: str, btfs: dict[str, bytes]) -> list[Entry]:
    name = LAYOUTS[layout]
    out = [file("./btfmirror.json", b'{"format": 2}'), file("./package.json", b'{"p": 1}')]
    for key, raw in btfs.items():
        ident = IDENTITIES[key]
        out.append(file(name(ident.os_id, ident.version_id, ident.machine, ident.release), raw))
    return out


@pytest.mark.parametrize(("layout", "fmt"), [(lay, "tar.gz") for lay in LAYOUTS] + [("bcc", "tar")])
def test_select_reads_every_layout(
    layout: str, fmt: str, btfs: dict[str, bytes], tmp_path: Path
) -> None:
    pkg = write_package(tmp_path, entries(layout, btfs), fmt)
    for key, ident in IDENTITIES.items():
        out = tmp_path / key.replace("/", "_")
        result = select_btf(pkg, identity=ident, extract_to=out)
        assert result.path is not None and result.path.read_bytes() == btfs[key], (layout, key)
        assert result.package_json is not None and result.package_json.read_bytes() == b'{"p": 1}'
        listed = select_btf(pkg, identity=ident)  # no extraction: the entry's name
        assert listed.member is not None and listed.member.endswith(f"/{ident.release}.btf")
        assert listed.member.removeprefix("./") in {
            e.name.removeprefix("./") for e in entries(layout, btfs)
        }


@pytest.mark.parametrize("layout", ["bcc", "inspektor-gadget"])
def test_unpack_tar_gives_the_tree_of_a_layout_without_btfhub_archive(
    layout: str, btfs: dict[str, bytes], tmp_path: Path
) -> None:
    unpacked = unpack_tar(package(entries(layout, btfs), "tar.gz"), tmp_dir=tmp_path)
    assert unpacked.package_json == b'{"p": 1}'
    assert unpacked.archive is not None
    with unpacked.archive as extracted:
        assert extracted.path == extracted.root
        raw = (extracted.path / '"centos"/8/aarch64/4.18.0-147.5.1.el8_1.aarch64.btf').read_bytes()
        assert raw == btfs[CENTOS]


def test_select_reads_a_dir_package(btfs: dict[str, bytes], tmp_path: Path) -> None:
    """tracee's go:embed tree: <ID>/<VERSION_ID>/<uname -m>/<release>.btf, quotes stripped."""
    root = tmp_path / "dist"
    root.mkdir()
    (root / "btfmirror.json").write_text('{"format": 2, "consumer": "dir"}')
    for key, raw in btfs.items():
        ident = IDENTITIES[key]
        path = root / ident.os_id / ident.version_id / ident.machine / f"{ident.release}.btf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    for key, ident in IDENTITIES.items():
        result = select_btf(root, identity=ident)
        assert result.path is not None and result.path.read_bytes() == btfs[key]
    quoted = tmp_path / "quoted"
    (quoted / '"centos"/8/aarch64').mkdir(parents=True)
    (quoted / f'"centos"/8/aarch64/{IDENTITIES[CENTOS].release}.btf').write_bytes(btfs[CENTOS])
    result = select_btf(quoted, identity=IDENTITIES[CENTOS])
    assert result.path is not None and result.path.read_bytes() == btfs[CENTOS]


def test_a_package_with_no_tree_at_all_still_says_so(tmp_path: Path) -> None:
    pkg = write_package(tmp_path, [file("./package.json", b"{}"), file("./README", b"x")])
    with pytest.raises(NoBtfFoundError, match="no btfhub-archive directory"):
        select_btf(pkg, identity=IDENTITIES[DEB_X86])
