"""``verify`` against packages built by hand (Python tarfile, GNU tar), one fault at a time.

Each package holds real minimized BTF (sample kernels minimized for core_fields.bpf.c). The
names are spelled here, from the readers' rules as the issue states them, not computed by
btfmirror, and each injected fault must be reported for the consumers whose reader it breaks,
and for no other.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.btf import parse_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.errors import ArchiveError, UsageError
from btfhub_mirror.minimize import minimize
from btfhub_mirror.pack.verify import VerifyReport, verify_package
from btfhub_mirror.runtime import ExtractLimits
from cli._errors import ExitCode
from cli.app import app
from tests.helpers import need_tool
from tests.runtime.packages import sample_btf

from .conftest import OBJECTS

runner = CliRunner()
CONSUMERS = ("bpf-compatible", "ecli", "bcc", "inspektor-gadget", "dir")
LINKS_UNFOLLOWED = ("bpf-compatible", "bcc", "inspektor-gadget")


@dataclass(frozen=True)
class K:
    """A sample kernel: btfhub directory names, and how its os-release writes ID."""

    distro: str
    version: str
    arch: str
    release: str
    id_quoted: bool = False
    big_endian: bool = False

    @property
    def sample(self) -> str:
        return f"{self.distro}/{self.version}/{self.arch}/{self.release}"

    @property
    def machine(self) -> str:  # uname -m
        return "aarch64" if self.arch == "arm64" else self.arch


X86 = K("debian", "12", "x86_64", "6.1.0-50-amd64")
ARM = K("debian", "12", "arm64", "6.1.0-50-arm64")
S390 = K("debian", "12", "s390x", "6.12.95+deb12-s390x", big_endian=True)
CENTOS = K("centos", "8", "arm64", "4.18.0-147.5.1.el8_1.aarch64", id_quoted=True)
KERNELS = (X86, ARM, S390, CENTOS)


@pytest.fixture(scope="module")
def btfs() -> dict[K, bytes]:
    """Each kernel's BTF minimized for core_fields (of its byte order)."""
    out = {}
    for k in KERNELS:
        obj = BpfObject.open(OBJECTS / f"core_fields.bpf.{'eb' if k.big_endian else 'el'}.o")
        out[k] = minimize(parse_btf(sample_btf(k.sample)), [obj]).data
    assert len(set(out.values())) == len(KERNELS)  # a swapped file would show
    return out


def reader_name(consumer: str, k: K) -> str:
    """The name each reader computes on ``k``'s system (the issue's rules, spelled out)."""
    quoted = f'"{k.distro}"' if k.id_quoted else k.distro
    tail = f"{k.version}/{k.machine}/{k.release}.btf"
    return {
        # bpf-compatible-rs reads os-release with the os_release crate, which strips quotes
        "bpf-compatible": f"./btfhub-archive/{k.distro}/{tail}",
        "ecli": f"btfhub-archive/{k.distro}/{tail}",  # a path in the unpacked tree
        "bcc": f"./{quoted}/{tail}",
        "inspektor-gadget": f"{quoted}/{tail}",
        "dir": f"{k.distro}/{tail}",
    }[consumer]


def btfhub_name(consumer: str, k: K) -> str:
    base = f"{k.distro}/{k.version}/{k.arch}/{k.release}.btf"
    return f"./btfhub-archive/{base}" if consumer in ("bpf-compatible", "ecli") else base


def names_for(consumer: str, k: K) -> list[str]:
    """btfhub's own name (kept where the layout is btfhub's), then the reader's."""
    names = [reader_name(consumer, k)]
    if consumer == "ecli":  # written as `tar -cf out .` writes it
        names = [f"./{names[0]}"]
    if consumer in ("bpf-compatible", "ecli"):
        names.insert(0, btfhub_name(consumer, k))
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class E:
    """One tar entry: a file, a hard link (``link``) or a symbolic link (``symlink``), with an
    optional PAX path."""

    name: str
    data: bytes = b""
    link: str = ""
    pax_path: str = ""
    symlink: str = ""


def manifest(
    btfs: dict[K, bytes], consumer: str, *, fmt: int = 2, kernels: tuple[K, ...] = KERNELS
) -> bytes:
    """A btfmirror.json as the contract has it (format 2), or as pack wrote it (format 1)."""
    entries = []
    for k in kernels:
        names = names_for(consumer, k)
        digest = hashlib.sha256(btfs[k]).hexdigest()
        if fmt == 1:
            entries.append({"file": btfhub_name("bpf-compatible", k), "sha256": digest})
            continue
        entry = {
            "file": names[0],
            "distro": k.distro,
            "version": k.version,
            "arch": k.arch,
            "release": k.release,
            "sha256": digest,
            "size": len(btfs[k]),
        }
        if names[1:]:
            entry["aliases"] = [{"file": n, "reasons": []} for n in names[1:]]
        entries.append(entry)
    doc: dict[str, object] = {"format": fmt, "kernels": entries, "hardlinks": False}
    if fmt == 2:
        doc["consumer"] = consumer
    return json.dumps(doc, sort_keys=True).encode()


def entries_for(
    btfs: dict[K, bytes],
    consumer: str,
    *,
    kernels: tuple[K, ...] = KERNELS,
    with_manifest: bool = True,
) -> list[E]:
    prefix = "" if consumer == "inspektor-gadget" else "./"
    out = [E(f"{prefix}btfmirror.json", manifest(btfs, consumer, kernels=kernels))]
    if not with_manifest:
        out = []
    for k in kernels:
        out += [E(n, btfs[k]) for n in names_for(consumer, k)]
    return out


def tar_of(entries: list[E]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            if e.pax_path:
                info.pax_headers = {"path": e.pax_path}  # has priority over the name field
            if e.link or e.symlink:
                info.type = tarfile.LNKTYPE if e.link else tarfile.SYMTYPE
                info.linkname = e.link or e.symlink
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def write(tmp_path: Path, entries: list[E], suffix: str) -> Path:
    raw = tar_of(entries)
    data = {".tar": raw, ".tar.gz": gzip.compress(raw), ".tar.xz": lzma.compress(raw)}[suffix]
    path = tmp_path / f"pkg{suffix}"
    path.write_bytes(data)
    return path


SUFFIX = {
    "bpf-compatible": ".tar.gz",
    "ecli": ".tar",
    "bcc": ".tar.gz",
    "inspektor-gadget": ".tar.gz",
}


def misses(report: VerifyReport) -> dict[tuple[str, K], str]:
    """(consumer, kernel) -> why, for every miss."""
    by_sample = {k.sample: k for k in KERNELS}
    return {
        (c.consumer, by_sample[check.kernel.btfhub_name.removesuffix(".btf")]): check.miss or ""
        for c in report.consumers
        for check in c.kernels
        if not check.ok
    }


def write_dir(root: Path, btfs: dict[K, bytes], kernels: tuple[K, ...] = KERNELS) -> Path:
    root.mkdir()
    (root / "btfmirror.json").write_bytes(manifest(btfs, "dir", kernels=kernels))
    for k in kernels:
        path = root / reader_name("dir", k)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(btfs[k])
    return root


# -- good packages -------------------------------------------------------------------------------


@pytest.mark.parametrize("consumer", list(SUFFIX))
def test_a_good_package_passes_for_its_consumer(
    consumer: str, btfs: dict[K, bytes], tmp_path: Path
) -> None:
    pkg = write(tmp_path, entries_for(btfs, consumer), SUFFIX[consumer])
    report = verify_package(pkg, consumer)
    assert report.passed, report.verdict()
    (only,) = report.consumers
    assert [c.name for c in only.kernels] == [reader_name(consumer, k) for k in KERNELS]
    assert all(c.found and c.nonempty and c.valid_btf and c.equal for c in only.kernels)
    assert report.manifest_format == 2 and report.own_consumer == consumer


def test_a_good_dir_package_passes(btfs: dict[K, bytes], tmp_path: Path) -> None:
    root = write_dir(tmp_path / "dist", btfs)
    report = verify_package(root)
    assert report.kind == "dir" and report.passed
    assert report.report_for("dir").ok
    # Every archive reader is told the package is a directory, not an archive it can open.
    assert all("reads only" in (c.problem or "") for c in report.consumers if c.consumer != "dir")


def test_the_matrix_of_the_default_layout(btfs: dict[K, bytes], tmp_path: Path) -> None:
    """bpf-compatible's layout in gzip serves bpf-compatible only: ecli wants a plain tar, bcc
    and inspektor-gadget other names."""
    report = verify_package(write(tmp_path, entries_for(btfs, "bpf-compatible"), ".tar.gz"))
    assert report.passed
    assert {c.consumer for c in report.consumers if c.ok} == {"bpf-compatible"}
    assert report.report_for("ecli").problem is not None
    assert report.report_for("bcc").missed == len(KERNELS)


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("consumer", ["bpf-compatible", "ecli", "bcc", "inspektor-gadget"])
def test_a_hard_link_where_the_reader_copies_bytes(
    consumer: str, btfs: dict[K, bytes], tmp_path: Path
) -> None:
    """The reader's own name for the arm64 kernel is a hard link to another entry with the
    same bytes (what --hardlinks writes for an alias): a 0-byte BTF for all but ecli."""
    entries = entries_for(btfs, consumer)
    target = reader_name(consumer, ARM)
    other = target.replace("/aarch64/", "/arm64/")
    if other not in [e.name for e in entries]:
        entries.append(E(other, btfs[ARM]))
    entries = [e for e in entries if e.name != target] + [E(target, link=other)]
    report = verify_package(write(tmp_path, entries, SUFFIX[consumer]), consumer)
    found = misses(report)
    if consumer in LINKS_UNFOLLOWED:
        assert set(found) == {(consumer, ARM)}
        assert found[consumer, ARM].startswith("0 bytes") and "hard link" in found[consumer, ARM]
        (check,) = [
            c
            for c in report.consumers[0].kernels
            if c.kernel.arch == "arm64" and c.kernel.distro == "debian"
        ]
        assert check.found and not check.nonempty and not check.valid_btf
        assert not report.passed
    else:
        assert found == {} and report.passed


def test_a_pax_only_name_is_invisible_to_raw_header_readers(
    btfs: dict[K, bytes], tmp_path: Path
) -> None:
    """Where the name is only in a PAX header (the ustar field says something else), the C
    readers miss it; Go's and Rust's readers use the PAX path."""
    results = {}
    for consumer in ("bpf-compatible", "bcc", "inspektor-gadget", "ecli"):
        target = reader_name(consumer, X86)
        entries = [
            E("./PaxHeaders/placeholder", b"", pax_path=e.name) if e.name == target else e
            for e in entries_for(btfs, consumer)
        ]
        entries = [E(e.name, btfs[X86], pax_path=e.pax_path) if e.pax_path else e for e in entries]
        (tmp_path / consumer).mkdir()
        report = verify_package(write(tmp_path / consumer, entries, SUFFIX[consumer]), consumer)
        results[consumer] = misses(report)
    for raw in ("bpf-compatible", "bcc"):
        assert set(results[raw]) == {(raw, X86)}
        assert "PAX" in results[raw][raw, X86]
    assert results["inspektor-gadget"] == {} and results["ecli"] == {}


@pytest.mark.parametrize("tar_format", ["posix", "gnu"])
def test_a_long_name_written_by_gnu_tar(
    tar_format: str, btfs: dict[K, bytes], tmp_path: Path
) -> None:
    """GNU tar puts a name over 100 bytes in the ustar prefix or a PAX header (posix) or a GNU
    long-name header (gnu): bcc cannot even build such a name (char name[100]); Go's
    archive/tar, as inspektor-gadget reads it, sees the whole name."""
    tar = need_tool("tar")
    long = K("debian", "12", "x86_64", "6.1.0-50-amd64" + "-x" * 40)
    for consumer in ("bcc", "inspektor-gadget"):
        tree = tmp_path / consumer
        rel = reader_name(consumer, long).removeprefix("./")
        (tree / rel).parent.mkdir(parents=True)
        (tree / rel).write_bytes(btfs[X86])
        doc = json.loads(manifest({long: btfs[X86]}, consumer, kernels=(long,)))
        (tree / "btfmirror.json").write_text(json.dumps(doc))
        out = tmp_path / f"{consumer}.tar.gz"
        top = (
            ["./btfmirror.json", "./debian"] if consumer == "bcc" else ["btfmirror.json", "debian"]
        )
        subprocess.run(
            [tar, f"--format={tar_format}", "-czf", str(out), "-C", str(tree), *top], check=True
        )
        (check,) = verify_package(out, consumer).consumers[0].kernels
        if consumer == "bcc":
            assert not check.ok and "100-byte buffer" in (check.miss or "")
        else:
            assert check.ok and check.equal


@pytest.mark.parametrize(
    ("consumer", "suffix", "words"),
    [
        ("bcc", ".tar.xz", "bcc reads only gzip"),
        ("ecli", ".tar.gz", "ecli reads only an uncompressed tar"),
        ("bpf-compatible", ".tar", "bpf-compatible reads only gzip"),
    ],
)
def test_the_wrong_compression(
    consumer: str, suffix: str, words: str, btfs: dict[K, bytes], tmp_path: Path
) -> None:
    report = verify_package(write(tmp_path, entries_for(btfs, consumer), suffix))
    found = misses(report)
    assert {found[consumer, k] for k in KERNELS} == {report.report_for(consumer).problem}
    assert f"wrong compression: {words}" in found[consumer, X86]
    assert not report.passed  # the manifest's own consumer misses
    if consumer == "ecli":  # the same layout in gzip is exactly bpf-compatible's
        assert not {k for c, k in found if c == "bpf-compatible"}


def test_a_missing_aarch64_alias(btfs: dict[K, bytes], tmp_path: Path) -> None:
    """Only btfhub's arm64 names: every uname -m reader misses the arm64 kernels, and only
    those."""
    entries = [e for e in entries_for(btfs, "bpf-compatible") if "/aarch64/" not in e.name]
    report = verify_package(write(tmp_path, entries, ".tar.gz"), "bpf-compatible")
    found = misses(report)
    assert set(found) == {("bpf-compatible", ARM), ("bpf-compatible", CENTOS)}
    assert "no aarch64 alias" in found["bpf-compatible", ARM]
    assert not report.passed


def test_a_zero_byte_entry_and_a_swapped_file(btfs: dict[K, bytes], tmp_path: Path) -> None:
    entries = []
    for e in entries_for(btfs, "bcc"):
        if e.name == reader_name("bcc", S390):
            e = E(e.name, b"")
        elif e.name == reader_name("bcc", X86):
            e = E(e.name, btfs[ARM])  # valid BTF, another kernel's
        elif e.name == reader_name("bcc", CENTOS):
            e = E(e.name, b"<html>not found</html>")
        entries.append(e)
    report = verify_package(write(tmp_path, entries, ".tar.gz"), "bcc")
    found = misses(report)
    assert set(found) == {("bcc", S390), ("bcc", X86), ("bcc", CENTOS)}
    assert found["bcc", S390].startswith("0 bytes")
    assert found["bcc", X86].startswith("differs from the packed file")
    assert found["bcc", CENTOS].startswith("not BTF")
    checks = {c.kernel.release: c for c in report.consumers[0].kernels}
    assert checks[X86.release].valid_btf and checks[X86.release].equal is False
    assert checks[ARM.release].ok


def test_quoted_id_directories(btfs: dict[K, bytes], tmp_path: Path) -> None:
    """bcc and inspektor-gadget keep os-release's quotes: an unquoted centos directory is a miss
    for them, and a quoted one for the dir consumer (tracee strips the quotes)."""
    unquoted = [E(e.name.replace('"centos"', "centos"), e.data) for e in entries_for(btfs, "bcc")]
    found = misses(verify_package(write(tmp_path, unquoted, ".tar.gz"), "bcc"))
    assert set(found) == {("bcc", CENTOS)}


def test_links_are_followed_only_by_unpacking_readers(btfs: dict[K, bytes], tmp_path: Path) -> None:
    """The files under a codename directory and a symbolic link ``12 -> bookworm``: ecli unpacks
    and opens the path through the link; the C reader compares entry names and finds none. A
    loop of links is a miss, not a hang."""
    files = [E("./btfmirror.json", manifest(btfs, "ecli", kernels=(X86,)))]
    files.append(E(reader_name("ecli", X86).replace("/12/", "/bookworm/"), btfs[X86]))
    linked = [*files, E("./btfhub-archive/debian/12", symlink="bookworm")]
    report = verify_package(write(tmp_path, linked, ".tar"), "ecli")
    assert report.passed, report.verdict()
    found = misses(verify_package(write(tmp_path, linked, ".tar.gz"), "bpf-compatible"))
    assert "no ustar name field" in found["bpf-compatible", X86]
    looped = [
        *files,
        E("./btfhub-archive/debian/12", symlink="13"),
        E("./btfhub-archive/debian/13", symlink="12"),
    ]
    found = misses(verify_package(write(tmp_path, looped, ".tar"), "ecli"))
    assert "too many levels of symbolic links" in found["ecli", X86]


def test_a_dir_package_with_a_link_or_a_hole(btfs: dict[K, bytes], tmp_path: Path) -> None:
    root = write_dir(tmp_path / "dist", btfs)
    (root / reader_name("dir", S390)).unlink()
    arm = root / reader_name("dir", ARM)
    arm.unlink()
    arm.symlink_to(root / reader_name("dir", X86))
    found = misses(verify_package(root, "dir"))
    assert set(found) == {("dir", S390), ("dir", ARM)}
    assert "symbolic link" in found["dir", ARM]


# -- without a manifest, format 1, limits ---------------------------------------------------------


def test_kernels_from_the_names_alone(btfs: dict[K, bytes], tmp_path: Path) -> None:
    """No btfmirror.json: the kernels are read off the names (aliases and quotes folded), and
    the verdict is whether any consumer finds them all."""
    entries = entries_for(btfs, "bcc", with_manifest=False)
    report = verify_package(write(tmp_path, entries, ".tar.gz"))
    assert sorted(k.label for k in report.kernels) == sorted(k.sample for k in KERNELS)
    assert report.manifest_format is None and report.own_consumer is None
    assert report.passed and {c.consumer for c in report.consumers if c.ok} == {"bcc"}
    assert all(c.equal is None for c in report.report_for("bcc").kernels)
    broken = [e for e in entries if e.name != reader_name("bcc", X86)]
    broken.append(E(btfhub_name("bpf-compatible", X86), btfs[X86]))
    report = verify_package(write(tmp_path, broken, ".tar.gz"))
    assert not report.passed and "no consumer finds" in report.verdict()


def test_a_format_1_manifest_is_judged_as_bpf_compatible(
    btfs: dict[K, bytes], tmp_path: Path
) -> None:
    """What pack wrote before consumers: arm64 names only, so the arm64 kernels miss."""
    entries = [E("./btfmirror.json", manifest(btfs, "bpf-compatible", fmt=1))]
    entries += [E(btfhub_name("bpf-compatible", k), btfs[k]) for k in KERNELS]
    report = verify_package(write(tmp_path, entries, ".tar.gz"))
    assert report.manifest_format == 1 and report.judged_by == "bpf-compatible"
    assert set(misses(report)) >= {("bpf-compatible", ARM), ("bpf-compatible", CENTOS)}
    assert ("bpf-compatible", X86) not in misses(report) and not report.passed


def test_a_bad_manifest_or_consumer_is_an_error(btfs: dict[K, bytes], tmp_path: Path) -> None:
    bad = [E("./btfmirror.json", b'{"format": 2, "consumer": "bcc", "kernels": [{"file": 1}]}')]
    with pytest.raises(ArchiveError, match=r"kernels\[0\]: 'file' is not a str"):
        verify_package(write(tmp_path, bad, ".tar.gz"))
    with pytest.raises(UsageError, match="unknown consumer"):
        verify_package(write(tmp_path, entries_for(btfs, "bcc"), ".tar.gz"), "libbpf")


def test_a_hostile_package_stops_at_the_caps(btfs: dict[K, bytes], tmp_path: Path) -> None:
    big = [E(reader_name("bcc", X86), b"\0" * 5000)]
    with pytest.raises(ArchiveError, match="more than the 1000 allowed"):
        verify_package(write(tmp_path, big, ".tar.gz"), limits=ExtractLimits(max_file_size=1000))
    many = [E(f"./f{i}", b"") for i in range(20)]
    with pytest.raises(ArchiveError, match="more than 10 entries"):
        verify_package(write(tmp_path, many, ".tar.gz"), limits=ExtractLimits(max_entries=10))
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip.compress(tar_of([E("./a.btf", b"\0" * 3_000_000)])))
    with pytest.raises(ArchiveError, match="holds more than 100000 bytes"):
        verify_package(bomb, limits=ExtractLimits(max_total_size=100_000))
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"x" * 2048)
    with pytest.raises(ArchiveError, match="checksum"):
        verify_package(garbage)


# -- the command line ---------------------------------------------------------------------------


def test_cli_exit_codes_and_json(btfs: dict[K, bytes], tmp_path: Path) -> None:
    good = write(tmp_path, entries_for(btfs, "bcc"), ".tar.gz")
    ok = runner.invoke(app, ["verify", str(good), "--for", "bcc"])
    assert ok.exit_code == 0, ok.stderr
    assert './"centos"/8/aarch64/4.18.0-147.5.1.el8_1.aarch64.btf' in ok.stdout
    # Without --for: the manifest says bcc, which finds all; the others' misses do not count.
    matrix = runner.invoke(app, ["verify", str(good)])
    assert matrix.exit_code == 0, matrix.stderr
    header = matrix.stdout.splitlines()[0].split()
    assert header == ["kernel", *CONSUMERS]
    # inspektor-gadget misses all 4 (other layout): the first two said, the rest counted.
    ig_lines = [x for x in matrix.stdout.splitlines() if x.startswith("inspektor-gadget: ")]
    assert len(ig_lines) == 3 and "2 more kernel(s) missed" in ig_lines[-1], ig_lines
    wrong = runner.invoke(app, ["verify", str(good), "--for", "inspektor-gadget", "--json"])
    assert wrong.exit_code == ExitCode.VERIFY_FAILED
    doc = json.loads(wrong.stdout)
    assert doc["passed"] is False and doc["judged_by"] == "inspektor-gadget"
    (ig,) = doc["consumers"]
    assert ig["missed"] == len(KERNELS) and all(k["found"] is False for k in ig["kernels"])
    assert "inspektor-gadget misses 4 of 4" in wrong.stderr
    broken = write(
        tmp_path,
        [e for e in entries_for(btfs, "bcc") if e.name != reader_name("bcc", S390)],
        ".tar.gz",
    )
    two_missing = write(
        tmp_path,
        [
            e
            for e in entries_for(btfs, "bcc")
            if e.name
            not in (reader_name("bcc", S390), reader_name("bcc", X86), reader_name("bcc", ARM))
        ],
        ".tar.gz",
    )
    listed = runner.invoke(app, ["verify", str(two_missing)])
    assert listed.exit_code == ExitCode.VERIFY_FAILED  # the judged consumer's misses are all listed
    assert sum(x.startswith("bcc: ") for x in listed.stdout.splitlines()) == 3
    assert runner.invoke(app, ["verify", str(broken)]).exit_code == ExitCode.VERIFY_FAILED
    assert runner.invoke(app, ["verify", str(good), "--for", "nope"]).exit_code == 2
    assert runner.invoke(app, ["verify", str(tmp_path / "none.tar.gz")]).exit_code == 3
