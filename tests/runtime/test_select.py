"""Choosing the BTF: exact lookups, arch and codename aliases, built-in BTF, --nearest."""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from btfhub_mirror.errors import ArchiveError, NoBtfFoundError, NotFoundError, UsageError
from btfhub_mirror.runtime import (
    SystemIdentity,
    current_identity,
    find_btf,
    get_current_system_btf_file,
    select_btf,
    unpack_tar,
)
from tests.helpers import VMLINUX, require
from tests.runtime.packages import Entry, file, pack_layout, package, sample_btf, write_package

DEBIAN = "debian/12/x86_64"
REAL = ("6.1.0-47-amd64", "6.1.0-50-amd64", "6.1.0-50-cloud-amd64")
CENTOS = "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64"


class Notes:
    """A Progress that keeps the notes (warnings) it is given."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def phase(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.fixture(scope="module")
def btfs() -> dict[str, bytes]:
    """Real BTF of the sample under pack paths, plus a copy named as a kernel it is not."""
    found = {f"{DEBIAN}/{r}": sample_btf(f"{DEBIAN}/{r}") for r in REAL}
    found[CENTOS] = sample_btf(CENTOS)
    found[f"{DEBIAN}/6.1.0-53-amd64"] = found[f"{DEBIAN}/6.1.0-47-amd64"]
    return found


@pytest.fixture(scope="module")
def archive_dir(btfs: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    unpacked = unpack_tar(package(pack_layout(btfs)), tmp_dir=tmp_path_factory.mktemp("pkg"))
    assert unpacked.archive is not None
    with unpacked.archive as extracted:  # the handle owns the directory: keep it open
        yield extracted.path


def debian(release: str, **kw: str) -> SystemIdentity:
    return SystemIdentity("debian", "12", kw.pop("machine", "x86_64"), release, **kw)


@pytest.mark.parametrize("release", REAL)
def test_exact_match(release: str, archive_dir: Path, btfs: dict[str, bytes]) -> None:
    match = find_btf(archive_dir, debian(release))
    assert match.exact and match.release == release
    assert match.path.read_bytes() == btfs[f"{DEBIAN}/{release}"]


def test_aarch64_is_looked_up_as_arm64(archive_dir: Path, btfs: dict[str, bytes]) -> None:
    release = CENTOS.rsplit("/", 1)[1]
    match = find_btf(archive_dir, SystemIdentity("centos", "8", "aarch64", release))
    assert match.member == f"{CENTOS}.btf"
    assert match.path.read_bytes() == btfs[CENTOS]


def test_raw_machine_and_codename_directories_as_fallbacks(
    btfs: dict[str, bytes], tmp_path: Path
) -> None:
    raw = btfs[CENTOS]
    entries = pack_layout(
        {"amzn/2/aarch64/4.14.1-1.amzn2.aarch64": raw, "debian/bookworm/x86_64/6.1.0-9-amd64": raw}
    )
    unpacked = unpack_tar(package(entries), tmp_dir=tmp_path)
    assert unpacked.archive is not None
    with unpacked.archive as pkg:
        amzn = SystemIdentity("amzn", "2", "aarch64", "4.14.1-1.amzn2.aarch64")
        assert find_btf(pkg.path, amzn).member == "amzn/2/aarch64/4.14.1-1.amzn2.aarch64.btf"
        with pytest.raises(NoBtfFoundError):
            find_btf(pkg.path, debian("6.1.0-9-amd64"))
        match = find_btf(pkg.path, debian("6.1.0-9-amd64", version_codename="bookworm"))
        assert match.member == "debian/bookworm/x86_64/6.1.0-9-amd64.btf"


def test_no_match_without_nearest_says_so(archive_dir: Path) -> None:
    with pytest.raises(
        NoBtfFoundError, match=r"6\.1\.0-49-amd64\.btf does not exist.*nearest=True"
    ):
        find_btf(archive_dir, debian("6.1.0-49-amd64"))
    with pytest.raises(NoBtfFoundError) as info:
        find_btf(archive_dir, SystemIdentity("ubuntu", "20.04", "x86_64", "5.4.0-42-generic"))
    assert info.value.exit_code == 5


@pytest.mark.parametrize(
    ("running", "picked"),
    [
        ("6.1.0-49-amd64", "6.1.0-50-amd64"),  # 1 build away beats 2
        ("6.1.0-48-amd64", "6.1.0-47-amd64"),
        ("6.1.0-51-amd64", "6.1.0-50-amd64"),
        ("6.1.0-52-amd64", "6.1.0-53-amd64"),
        ("6.1.0-99-amd64", "6.1.0-53-amd64"),
        ("6.1.0-49-cloud-amd64", "6.1.0-50-cloud-amd64"),  # flavour first, whatever the gap
        ("6.1.0-10-cloud-amd64", "6.1.0-50-cloud-amd64"),
        ("6.1.7-50-amd64", "6.1.0-50-amd64"),
    ],
)
def test_nearest_picks_the_closest_kernel_of_the_same_flavour(
    running: str, picked: str, archive_dir: Path, btfs: dict[str, bytes]
) -> None:
    notes = Notes()
    match = find_btf(archive_dir, debian(running), nearest=True, progress=notes)
    assert (match.release, match.exact) == (picked, False)
    assert match.path.read_bytes() == btfs[f"{DEBIAN}/{picked}"]
    assert len(notes.notes) == 1 and running in notes.notes[0] and picked in notes.notes[0]


def test_nearest_tie_takes_the_older_kernel(btfs: dict[str, bytes], tmp_path: Path) -> None:
    raw = btfs[CENTOS]
    entries = pack_layout({f"{DEBIAN}/6.1.0-10-amd64": raw, f"{DEBIAN}/6.1.0-14-amd64": raw})
    unpacked = unpack_tar(package(entries), tmp_dir=tmp_path)
    assert unpacked.archive is not None
    with unpacked.archive as pkg:
        assert (
            find_btf(pkg.path, debian("6.1.0-12-amd64"), nearest=True).release == "6.1.0-10-amd64"
        )


@pytest.mark.parametrize(
    ("running", "message"),
    [
        ("6.1.0-49-rt-amd64", r"flavour 'rt-amd64'.*flavours there: amd64, cloud-amd64"),
        ("6.2.0-50-amd64", r"no kernel 6\.2 with flavour 'amd64'"),
        ("5.10.0-50-amd64", r"no kernel 5\.10"),
        ("not-a-version", "not a kernel version"),
    ],
)
def test_nearest_refuses_across_flavours_and_versions(
    running: str, message: str, archive_dir: Path
) -> None:
    notes = Notes()
    with pytest.raises(NoBtfFoundError, match=message):
        find_btf(archive_dir, debian(running), nearest=True, progress=notes)
    assert notes.notes == []


def test_kernel_with_builtin_btf_needs_no_custom_btf(archive_dir: Path, tmp_path: Path) -> None:
    require(VMLINUX.is_file(), "this kernel has no /sys/kernel/btf/vmlinux")
    assert get_current_system_btf_file(archive_dir) is None
    result = select_btf(archive_dir)
    assert not result.custom_btf_needed and result.path is None and result.identity is None
    # A stand-in vmlinux proves the decision follows the file, not a constant.
    fake = tmp_path / "vmlinux"
    fake.write_bytes(b"\x9f\xeb")
    assert get_current_system_btf_file(archive_dir, vmlinux=fake) is None


def test_kernel_without_btf_selects_for_the_running_identity(
    btfs: dict[str, bytes], tmp_path: Path
) -> None:
    me = current_identity()
    raw = btfs[CENTOS]
    pkg = write_package(
        tmp_path, pack_layout({me.archive_path.removesuffix(".btf"): raw}), "tar.gz"
    )
    unpacked = unpack_tar(pkg.read_bytes(), tmp_dir=tmp_path)
    assert unpacked.archive is not None
    absent = tmp_path / "no-vmlinux"
    with unpacked.archive as extracted:
        path = get_current_system_btf_file(extracted.path, vmlinux=absent)
        assert path is not None and path.read_bytes() == raw
    result = select_btf(pkg, vmlinux=absent, extract_to=tmp_path / "out")
    assert result.custom_btf_needed and not result.explicit_identity
    assert result.identity == me
    assert result.path == tmp_path / "out" / f"{me.release}.btf"
    assert result.path.read_bytes() == raw


def test_explicit_identity_always_selects_from_the_archive(
    archive_dir: Path, btfs: dict[str, bytes], tmp_path: Path
) -> None:
    # Even with a vmlinux present (a stand-in, so this runs on any kernel).
    fake = tmp_path / "vmlinux"
    fake.write_bytes(b"\x9f\xeb")
    ident = debian("6.1.0-50-amd64")
    path = get_current_system_btf_file(archive_dir, ident, vmlinux=fake)
    assert path is not None and path.read_bytes() == btfs[f"{DEBIAN}/6.1.0-50-amd64"]
    osr = tmp_path / "os-release"
    osr.write_text('ID="debian"\nVERSION_ID="12"\n')
    result = select_btf(
        archive_dir, os_release=osr, machine="x86_64", release="6.1.0-47-amd64", vmlinux=fake
    )
    assert result.explicit_identity and result.custom_btf_needed
    assert result.path is not None
    assert result.path.read_bytes() == btfs[f"{DEBIAN}/6.1.0-47-amd64"]
    with pytest.raises(UsageError):
        select_btf(archive_dir, identity=ident, release="x")


@pytest.mark.parametrize("fmt", ["tar", "tar.xz", "tar.zst"])
def test_select_from_a_package_file(
    fmt: str, btfs: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    two = {k: v for k, v in btfs.items() if k.endswith(("-50-cloud-amd64", "aarch64"))}
    pkg = write_package(tmp_path, pack_layout(two, package_json=b'{"p": 1}'), fmt)
    ident = debian("6.1.0-50-cloud-amd64")
    listed = select_btf(pkg, identity=ident)
    assert listed.path is None
    assert listed.member == f"./btfhub-archive/{DEBIAN}/6.1.0-50-cloud-amd64.btf"
    out = tmp_path / "out" / "deeper"
    result = select_btf(pkg, identity=ident, extract_to=out)
    assert result.path == out / "6.1.0-50-cloud-amd64.btf"
    assert result.path.read_bytes() == btfs[f"{DEBIAN}/6.1.0-50-cloud-amd64"]
    assert result.package_json == out / "package.json"
    assert result.package_json.read_bytes() == b'{"p": 1}'
    assert sorted(p.name for p in out.iterdir()) == ["6.1.0-50-cloud-amd64.btf", "package.json"]
    assert list(scratch.iterdir()) == []  # the unpacked package is gone


def test_select_from_a_directory_refuses_links_out_and_non_btf(tmp_path: Path) -> None:
    base = tmp_path / "pkg" / "btfhub-archive" / DEBIAN
    base.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_bytes(b"\x9f\xeb not for you")
    (base / "6.1.0-1-amd64.btf").symlink_to(secret)
    (base / "6.1.0-2-amd64.btf").write_bytes(b"<html>not btf</html>")
    with pytest.raises(ArchiveError, match="leads outside"):
        select_btf(tmp_path / "pkg", identity=debian("6.1.0-1-amd64"))
    with pytest.raises(ArchiveError, match="not raw BTF"):
        select_btf(tmp_path / "pkg", identity=debian("6.1.0-2-amd64"))


def test_package_without_btfhub_archive(tmp_path: Path) -> None:
    pkg = write_package(tmp_path, pack_layout({}, package_json=b"{}"))
    with pytest.raises(NoBtfFoundError, match="no btfhub-archive directory"):
        select_btf(pkg, identity=debian("6.1.0-50-amd64"))


def test_package_entries_reached_through_links(btfs: dict[str, bytes], tmp_path: Path) -> None:
    """select writes only the entries that can match, and still finds a kernel whose entry is
    a hard link to a file elsewhere (pack --hardlinks) or sits under a codename link."""
    centos = f"./btfhub-archive/{CENTOS}.btf"
    deb50 = f"{DEBIAN}/6.1.0-50-amd64"
    entries = [
        *pack_layout({CENTOS: btfs[CENTOS], deb50: btfs[deb50]}),
        Entry(
            f"./btfhub-archive/{DEBIAN}/6.1.0-99-amd64.btf", type=tarfile.LNKTYPE, linkname=centos
        ),
        Entry("./btfhub-archive/debian/bookworm", type=tarfile.SYMTYPE, linkname="12"),
    ]
    pkg = write_package(tmp_path, entries, "tar.gz")
    linked = select_btf(pkg, identity=debian("6.1.0-99-amd64"), extract_to=tmp_path / "a")
    assert linked.path is not None and linked.path.read_bytes() == btfs[CENTOS]
    by_codename = SystemIdentity("debian", "13", "x86_64", "6.1.0-50-amd64", "bookworm")
    found = select_btf(pkg, identity=by_codename, extract_to=tmp_path / "b")
    assert found.member == "./btfhub-archive/debian/bookworm/x86_64/6.1.0-50-amd64.btf"
    assert found.path is not None
    assert found.path.read_bytes() == btfs[deb50]
    notes = Notes()
    near = select_btf(pkg, identity=debian("6.1.0-52-amd64"), nearest=True, progress=notes)
    assert near.release == "6.1.0-50-amd64" and not near.exact
    assert notes.notes == ["no BTF for kernel 6.1.0-52-amd64; using the nearest, 6.1.0-50-amd64"]


# Packages where writing only the wanted entries once gave another answer than a full unpack
# (found in review): links into directories that were not written, names of directories that
# only unwritten files would have created.
_U = SystemIdentity("ubuntu", "20.04", "x86_64", "5.4.0-12-generic", version_codename="focal")
_H = "./btfhub-archive/ubuntu"
_LINK_CASES: dict[str, tuple[list[Entry], SystemIdentity, bool]] = {
    "implicit-dir-then-file": (
        [
            file(f"{_H}/22.04/x86_64/x.btf", b"B"),
            file(f"{_H}/22.04", b"x"),
            file(f"{_H}/20.04/x86_64/5.4.0-12-generic.btf", b"A"),
        ],
        _U,
        False,
    ),
    "implicit-dir-then-symlink": (
        [
            file(f"{_H}/focal/x86_64/README", b"x"),
            file(f"{_H}/20.04/x86_64/5.4.0-12-generic.btf", b"A"),
            Entry(f"{_H}/focal", type=tarfile.SYMTYPE, linkname="20.04"),
        ],
        _U,
        False,
    ),
    "exact-is-a-link-elsewhere": (
        [
            file(f"{_H}/other/x86_64/5.4.0-12-generic.btf", b"A"),
            Entry(
                f"{_H}/20.04/x86_64/5.4.0-12-generic.btf",
                type=tarfile.SYMTYPE,
                linkname="../../other/x86_64/5.4.0-12-generic.btf",
            ),
            file(f"{_H}/focal/x86_64/5.4.0-12-generic.btf", b"B"),
        ],
        _U,
        False,
    ),
    "nearest-is-a-link-elsewhere": (
        [
            file(f"{_H}/other/x86_64/5.4.0-11-generic.btf", b"A"),
            Entry(
                f"{_H}/20.04/x86_64/5.4.0-11-generic.btf",
                type=tarfile.SYMTYPE,
                linkname="../../other/x86_64/5.4.0-11-generic.btf",
            ),
            file(f"{_H}/20.04/x86_64/5.4.0-30-generic.btf", b"B"),
        ],
        _U,
        True,
    ),
    "nearest-in-a-linked-codename-dir": (
        [
            Entry(f"{_H}/focal-real/x86_64", type=tarfile.DIRTYPE),
            file(f"{_H}/focal-real/x86_64/5.4.0-13-generic.btf", b"A"),
            file(f"{_H}/20.04/x86_64/5.4.0-40-generic.btf", b"B"),
            Entry(f"{_H}/focal", type=tarfile.SYMTYPE, linkname="focal-real"),
        ],
        _U,
        True,
    ),
    # Misses: the message counts the other kernels where the exact file would be.
    "miss-with-others-there": (
        [
            file(f"{_H}/20.04/x86_64/5.4.0-11-generic.btf", b"A"),
            file(f"{_H}/focal/x86_64/5.4.0-13-generic.btf", b"B"),
            file(f"{_H}/22.04/x86_64/5.15.0-1-generic.btf", b"A"),
        ],
        _U,
        False,
    ),
    "miss-nothing-there": (
        [file(f"{_H}/22.04/x86_64/5.15.0-1-generic.btf", b"A")],
        _U,
        False,
    ),
    "miss-other-distro-only": (
        [file("./btfhub-archive/debian/12/x86_64/6.1.0-1-amd64.btf", b"A")],
        _U,
        False,
    ),
    "miss-nearest-other-flavour": (
        [file(f"{_H}/20.04/x86_64/5.4.0-11-aws.btf", b"A")],
        _U,
        True,
    ),
}


def _outcome(pkg: Path, ident: SystemIdentity, nearest: bool, out: Path) -> tuple[object, ...]:
    notes = Notes()
    try:
        r = select_btf(pkg, identity=ident, nearest=nearest, extract_to=out, progress=notes)
    except (ArchiveError, NoBtfFoundError) as err:
        return ("error", type(err).__name__, str(err), notes.notes)
    assert r.path is not None
    return (r.member, r.release, r.exact, r.path.read_bytes()[1:], notes.notes)


@pytest.mark.parametrize("case", sorted(_LINK_CASES))
def test_selective_unpack_answers_like_a_full_one(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries, ident, nearest = _LINK_CASES[case]
    entries = [file(e.name, b"\x9f\xeb" + e.data) if e.data in (b"A", b"B") else e for e in entries]
    pkg = write_package(tmp_path, entries)
    selective = _outcome(pkg, ident, nearest, tmp_path / "a")
    import btfhub_mirror.runtime.select as select_module

    monkeypatch.setattr(select_module, "_wanted", lambda ident, nearest: None)  # full unpack
    assert _outcome(pkg, ident, nearest, tmp_path / "b") == selective


class Phases(Notes):
    def __init__(self) -> None:
        super().__init__()
        self.phases: list[str] = []

    def phase(self, label: str, total: int | None = None) -> None:
        self.phases.append(label)


def test_a_miss_never_unpacks_the_whole_package(tmp_path: Path) -> None:
    # 300 kernels elsewhere in the package: a miss writes only the candidate directory's files.
    entries = [file(f"{_H}/22.04/x86_64/5.15.0-{i}-generic.btf", b"\x9f\xebA") for i in range(300)]
    entries.append(file(f"{_H}/20.04/x86_64/5.4.0-11-generic.btf", b"\x9f\xebB"))
    pkg = write_package(tmp_path, entries)
    progress = Phases()
    with pytest.raises(NoBtfFoundError, match="1 other kernel"):
        select_btf(pkg, identity=_U, progress=progress)
    assert progress.phases and all(p.startswith("reading ") for p in progress.phases)


def test_a_missing_package_is_an_error_even_where_the_kernel_has_btf(
    btfs: dict[str, bytes], tmp_path: Path
) -> None:
    # The kernel's own BTF, as /sys/kernel/btf/vmlinux would hold it (a real sample kernel's).
    vmlinux = tmp_path / "vmlinux"
    vmlinux.write_bytes(btfs[f"{DEBIAN}/6.1.0-50-amd64"])
    pkg = write_package(tmp_path, pack_layout(btfs))
    assert select_btf(pkg, vmlinux=vmlinux).custom_btf_needed is False
    with pytest.raises(NotFoundError, match=r"nosuch\.tar\.gz does not exist"):
        select_btf(tmp_path / "nosuch.tar.gz", vmlinux=vmlinux)
    (tmp_path / "unreadable.tar").symlink_to(tmp_path / "unreadable.tar")  # ELOOP
    with pytest.raises(ArchiveError, match="cannot read"):
        select_btf(tmp_path / "unreadable.tar", vmlinux=vmlinux)
    with pytest.raises(NotFoundError, match="not a directory"):
        get_current_system_btf_file(tmp_path / "no-archive", vmlinux=vmlinux)
