"""``btfmirror pack --for CONSUMER`` on every real sample kernel, read back with Python's tarfile
and GNU tar (never btfmirror's own reader), against names built here from each reader's rules.

The rules below are restated from the readers' code (issue #13), not imported from
``btfhub_mirror.pack.consumers``: a test that computed its expectations with the code under test
could not fail. Every reader builds ``<ID>/<VERSION_ID>/<uname -m>/<uname -r>.btf``:

- ``uname -m`` on an ``arm64`` kernel is ``aarch64``;
- bcc's C reader (``sscanf("ID=%64s")``) and Inspektor Gadget keep the quotes CentOS, Kylin
  and BigCloud Linux put around ``ID`` in os-release; bpf-compatible's reader and ecli (the
  ``os_release`` crate) and tracee-style directory readers strip them. Debian quotes
  ``VERSION_ID`` (so bcc reads it), and the sample's version directories are already
  ``VERSION_ID`` values.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.archive import read_btf_archive
from btfhub_mirror.catalog.queries import KernelEntry
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store, list_kernels
from btfhub_mirror.mirror.sync import sync
from btfhub_mirror.pack import pack
from btfhub_mirror.pack.consumers import consumer_named
from btfhub_mirror.pack.pack import _kernels
from btfhub_mirror.pack.worker import Outcome
from cli.app import app
from tests.helpers import SAMPLE, need_tool
from tests.mirror.gitfixtures import Origin, git

from .conftest import ALL_SAMPLE, obj

runner = CliRunner()

#: Distributions of the sample whose /etc/os-release says ID="..." (quoted).
QUOTED_ID = {"centos", "kylin", "bclinux"}
OBJECT = "loadable"


@dataclass(frozen=True)
class Kernel:
    distro: str
    version: str
    arch: str
    release: str

    @property
    def machine(self) -> str:
        return "aarch64" if self.arch == "arm64" else self.arch

    def quoted_id(self) -> str:
        return f'"{self.distro}"' if self.distro in QUOTED_ID else self.distro

    def btfhub(self) -> str:
        return f"{self.distro}/{self.version}/{self.arch}/{self.release}.btf"

    def uname(self, *, quotes: bool) -> str:
        ident = self.quoted_id() if quotes else self.distro
        return f"{ident}/{self.version}/{self.machine}/{self.release}.btf"


def expected_names(consumer: str, k: Kernel) -> set[str]:
    """The entry names each consumer's reader compares, plus btfhub's own where kept."""
    if consumer == "bpf-compatible":
        return {f"./btfhub-archive/{k.uname(quotes=False)}", f"./btfhub-archive/{k.btfhub()}"}
    if consumer == "ecli":
        return {f"./btfhub-archive/{k.uname(quotes=False)}", f"./btfhub-archive/{k.btfhub()}"}
    if consumer == "bcc":
        return {f"./{k.uname(quotes=True)}"}
    if consumer == "inspektor-gadget":
        return {k.uname(quotes=True)}
    assert consumer == "dir"
    return {k.uname(quotes=False)}


OUTPUTS = {
    "bpf-compatible": "p.tar.gz",
    "ecli": "p.tar",
    "bcc": "min_core_btfs.tar.gz",
    "inspektor-gadget": "layer.tar.gz",
    "dir": "btfs",
}


@pytest.fixture(autouse=True)
def _cache(synced_all: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTFHUB_CACHE", str(synced_all.root))


@pytest.fixture(scope="module")
def kernels(synced_all: Store) -> list[Kernel]:
    entries = list_kernels(synced_all, ALL_SAMPLE).entries
    found = [Kernel(e.distro, e.version, e.arch, e.release) for e in entries]
    assert {k.arch for k in found} == {"x86_64", "arm64", "s390x"} and len(found) == 10
    assert {"centos", "bclinux"} <= {k.distro for k in found}
    return found


@pytest.fixture(scope="module")
def bpftool_output(
    synced_all: Store, kernels: list[Kernel], tmp_path_factory: pytest.TempPathFactory
) -> dict[Kernel, bytes]:
    """``bpftool gen min_core_btf`` of every sample kernel for the test object."""
    bpftool = need_tool("bpftool")
    tmp = tmp_path_factory.mktemp("bpftool")
    out = {}
    for k in kernels:
        local = synced_all.local_file(f"{k.btfhub()}.tar.xz")
        raw, minimized = tmp / "in.btf", tmp / "out.btf"
        raw.write_bytes(read_btf_archive(local.read_bytes(), source=str(local)))
        subprocess.run(
            [bpftool, "gen", "min_core_btf", raw, minimized, obj(OBJECT)],
            check=True,
            capture_output=True,
        )
        out[k] = minimized.read_bytes()
    return out


def run_pack(*args: str | Path) -> dict[str, object]:
    result = runner.invoke(app, ["pack", str(obj(OBJECT)), *map(str, args), "--json"])
    assert result.exit_code == 0, result.stderr
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


def read_tar(path: Path) -> tuple[dict[str, tarfile.TarInfo], dict[str, bytes]]:
    """Every entry of a tar (any compression tarfile knows) and the bytes of its files."""
    infos, data = {}, {}
    with tarfile.open(path, mode="r:*") as tar:
        for info in tar:
            assert info.name not in infos, f"{info.name} twice"
            infos[info.name] = info
            handle = tar.extractfile(info) if info.isreg() else None
            if handle is not None:
                data[info.name] = handle.read()
    return infos, data


def read_dir(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def packages(
    tmp_path_factory: pytest.TempPathFactory, synced_all: Store
) -> dict[str, tuple[Path, dict[str, object]]]:
    """One package per consumer, packed through the command line from every sample kernel."""
    tmp = tmp_path_factory.mktemp("consumers")
    (tmp / "package.json").write_text('{"name": "prog"}')
    out = {}
    with pytest.MonkeyPatch.context() as mp:  # module scope: the monkeypatch fixture is not
        mp.setenv("BTFHUB_CACHE", str(synced_all.root))
        for consumer, name in OUTPUTS.items():
            summary = run_pack(
                "--for", consumer, "-o", tmp / name, "-j", tmp / "package.json", "--jobs", "1"
            )
            out[consumer] = (tmp / name, summary)
    return out


@pytest.mark.needs_bpftool
@pytest.mark.parametrize("consumer", list(OUTPUTS))
def test_every_kernel_under_the_names_its_reader_computes(
    consumer: str,
    packages: dict[str, tuple[Path, dict[str, object]]],
    kernels: list[Kernel],
    bpftool_output: dict[Kernel, bytes],
) -> None:
    path, summary = packages[consumer]
    assert summary["consumer"] == consumer and summary["kernels"] == len(kernels)
    if consumer == "dir":
        contents = read_dir(path)
        names = set(contents)
    else:
        infos, contents = read_tar(path)
        names = set(infos)
    btfs = {n for n in names if n.endswith(".btf")}
    wanted = {n: k for k in kernels for n in expected_names(consumer, k)}
    assert btfs == set(wanted)  # every name a reader computes, and nothing else
    for name, kernel in wanted.items():
        assert contents[name] == bpftool_output[kernel], name
    json_names = {"btfmirror.json", "package.json"}
    if consumer in ("inspektor-gadget", "dir"):
        assert not any(n.startswith("./") for n in names)
    else:
        assert all(n.startswith("./") for n in names)
        json_names = {f"./{n}" for n in json_names}
    assert json_names <= names
    has_archive_dir = {n for n in btfs if "btfhub-archive/" in n}
    assert bool(has_archive_dir) == (consumer in ("bpf-compatible", "ecli"))
    assert has_archive_dir in (set(), btfs)


@pytest.mark.parametrize("consumer", list(OUTPUTS))
def test_arm64_kernels_are_found_under_aarch64(
    consumer: str, packages: dict[str, tuple[Path, dict[str, object]]]
) -> None:
    path, _summary = packages[consumer]
    names = set(read_dir(path)) if consumer == "dir" else set(read_tar(path)[0])
    debian = "debian/12/aarch64/6.1.0-50-arm64.btf"
    assert any(n.endswith(debian) for n in names)
    assert any("/aarch64/4.18.0-147.5.1.el8_1.aarch64.btf" in n for n in names)
    # btfhub's own names too where btfmirror's select and btfgen-era readers look
    keeps_btfhub = consumer in ("bpf-compatible", "ecli")
    assert any("debian/12/arm64/" in n for n in names) == keeps_btfhub


def test_quoted_ids_for_readers_that_keep_them(
    packages: dict[str, tuple[Path, dict[str, object]]],
) -> None:
    centos = "8/aarch64/4.18.0-147.5.1.el8_1.aarch64.btf"
    assert f'./"centos"/{centos}' in read_tar(packages["bcc"][0])[0]
    assert f'"centos"/{centos}' in read_tar(packages["inspektor-gadget"][0])[0]
    bpf_compatible = read_tar(packages["bpf-compatible"][0])[0]
    assert f"./btfhub-archive/centos/{centos}" in bpf_compatible
    assert f'./btfhub-archive/"centos"/{centos}' not in bpf_compatible
    assert f"./btfhub-archive/centos/{centos}" in read_tar(packages["ecli"][0])[0]
    assert f"centos/{centos}" in read_dir(packages["dir"][0])


def test_compression_per_consumer(packages: dict[str, tuple[Path, dict[str, object]]]) -> None:
    for consumer in ("bpf-compatible", "bcc", "inspektor-gadget"):
        path, summary = packages[consumer]
        assert path.read_bytes()[:2] == b"\x1f\x8b" and summary["format"] == "tar.gz"
        gzip.decompress(path.read_bytes())  # one complete gzip stream
    path, summary = packages["ecli"]
    data = path.read_bytes()
    assert summary["format"] == "tar" and data[257:263] == b"ustar\0"  # a plain tar
    assert packages["dir"][0].is_dir() and packages["dir"][1]["format"] == "dir"


def test_manifest_format_2_and_the_json_summary(
    packages: dict[str, tuple[Path, dict[str, object]]], kernels: list[Kernel]
) -> None:
    path, summary = packages["bcc"]
    _infos, contents = read_tar(path)
    manifest = json.loads(contents["./btfmirror.json"])
    assert manifest["format"] == 2 and manifest["consumer"] == "bcc"
    # The identity is spelled out where "file" is not btfhub's own name; else "file" says it.
    by_identity = {
        (k["distro"], k["version"], k["arch"], k["release"])
        if "distro" in k
        else tuple(k["file"].removeprefix("./").removesuffix(".btf").split("/")): k
        for k in manifest["kernels"]
    }
    assert any("distro" in k for k in manifest["kernels"])
    assert any("distro" not in k for k in manifest["kernels"])
    assert set(by_identity) == {(k.distro, k.version, k.arch, k.release) for k in kernels}
    for kernel in kernels:
        entry = by_identity[(kernel.distro, kernel.version, kernel.arch, kernel.release)]
        assert entry["file"] == f"./{kernel.uname(quotes=True)}"
        assert hashlib.sha256(contents[entry["file"]]).hexdigest() == entry["sha256"]
        assert "aliases" not in entry  # bcc gets its reader's name only
    path, summary = packages["bpf-compatible"]
    manifest = json.loads(read_tar(path)[1]["./btfmirror.json"])
    centos = next(k for k in manifest["kernels"] if "/centos/" in k["file"])
    assert "distro" not in centos  # its file is btfhub's own name
    assert centos["aliases"] == [
        {
            "file": "./btfhub-archive/centos/8/aarch64/4.18.0-147.5.1.el8_1.aarch64.btf",
            "reasons": ["uname-machine"],
        }
    ]
    debian11 = next(k for k in manifest["kernels"] if "/debian/11/" in k["file"])
    assert "aliases" not in debian11
    entries = summary["entries"]
    assert isinstance(entries, list)
    listed = {e["file"]: e["aliases"] for e in entries}
    assert listed[centos["file"]] == centos["aliases"] and listed[debian11["file"]] == []


def test_the_table_notes_aliases(tmp_path: Path) -> None:
    out = tmp_path / "p.tar.gz"
    result = runner.invoke(app, ["pack", str(obj(OBJECT)), "-d", "centos", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("centos/"))
    assert row.endswith("+1 alias (uname-machine)")


@pytest.mark.parametrize("consumer", ["bpf-compatible", "bcc", "inspektor-gadget", "dir"])
def test_hardlinks_are_refused_where_the_reader_copies_bytes(consumer: str, tmp_path: Path) -> None:
    out = tmp_path / OUTPUTS[consumer]
    result = runner.invoke(
        app,
        [
            "pack",
            str(obj(OBJECT)),
            "--for",
            consumer,
            "-o",
            str(out),
            "--hardlinks",
        ],
    )
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: --hardlinks: ") and "--for ecli" in line
    assert not out.exists() and os.listdir(tmp_path) == []


def test_ecli_takes_hard_links_and_gnu_tar_follows_them(tmp_path: Path) -> None:
    out = tmp_path / "p.tar"
    summary = run_pack("--for", "ecli", "-o", out, "--hardlinks", "--jobs", "1")
    infos, contents = read_tar(out)
    links = {n: i.linkname for n, i in infos.items() if i.islnk()}
    assert links and all(target in contents for target in links.values())
    assert any("/aarch64/" in n for n in links)  # aliases are links too
    root = tmp_path / "x"
    root.mkdir()
    subprocess.run([need_tool("tar"), "-xf", out, "-C", root], check=True)
    unpacked = read_dir(root)
    for name, target in links.items():
        assert unpacked[name.removeprefix("./")] == contents[target]
    assert summary["hardlinks"] is True


@pytest.mark.parametrize(
    ("consumer", "name", "message"),
    [
        ("ecli", "out.tar.gz", "out.tar.gz: ecli reads only an uncompressed tar; name it out.tar"),
        (
            "bcc",
            "out.tar.xz",
            "out.tar.xz: bcc reads only a gzip-compressed tar; name it out.tar.gz",
        ),
        (
            "inspektor-gadget",
            "out.tar",
            "inspektor-gadget reads only a gzip-compressed tar; name it out.tar.gz",
        ),
        ("bpf-compatible", "out.tgz", "name it out.tar.gz"),
    ],
)
def test_a_suffix_the_reader_cannot_read_is_a_usage_error(
    consumer: str, name: str, message: str, tmp_path: Path
) -> None:
    out = tmp_path / name
    result = runner.invoke(app, ["pack", str(obj(OBJECT)), "--for", consumer, "-o", str(out)])
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and message in line
    assert str(out) in line and os.listdir(tmp_path) == []


def test_without_for_every_suffix_still_works(tmp_path: Path) -> None:
    out = tmp_path / "p.tar.xz"
    summary = run_pack("-d", "centos", "-o", out)
    assert summary["consumer"] == "bpf-compatible" and summary["format"] == "tar.xz"
    with tarfile.open(fileobj=lzma.open(out), mode="r|") as tar:
        names = {i.name for i in tar}
    assert "./btfhub-archive/centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64.btf" in names
    assert "./btfhub-archive/centos/8/aarch64/4.18.0-147.5.1.el8_1.aarch64.btf" in names


def test_default_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_pack("--for", "ecli", "-d", "centos")
    run_pack("-d", "centos")
    assert sorted(os.listdir(tmp_path)) == ["min_core_btfs.tar", "min_core_btfs.tar.gz"]
    result = runner.invoke(app, ["pack", str(obj(OBJECT)), "--for", "dir", "-d", "centos"])
    assert result.exit_code == 2 and "--for dir needs -o DIR" in result.stderr
    result = runner.invoke(app, ["pack", str(obj(OBJECT)), "--for", "zip", "-d", "centos"])
    assert result.exit_code == 2 and "unknown consumer 'zip'" in result.stderr


def test_no_directory_entries_and_every_tar_still_extracts(
    packages: dict[str, tuple[Path, dict[str, object]]], tmp_path: Path
) -> None:
    # No reader needs directory entries (they cost more than the aliases): GNU tar and
    # tarfile make the parents themselves.
    for consumer in ("bpf-compatible", "ecli", "bcc", "inspektor-gadget"):
        path, _summary = packages[consumer]
        infos, contents = read_tar(path)
        assert not [i for i in infos.values() if i.isdir()]
        for way in ("gnu", "tarfile"):
            root = tmp_path / consumer / way
            root.mkdir(parents=True)
            if way == "gnu":
                subprocess.run([need_tool("tar"), "-xf", path, "-C", root], check=True)
            else:
                with tarfile.open(path) as tar:
                    tar.extractall(root, filter="data")
            assert read_dir(root) == {n.removeprefix("./"): d for n, d in contents.items()}


# -- names a raw-header reader cannot see --------------------------------------------------------

LONG_RELEASE = "5.10.0-30-" + "x" * 70 + "-amd64"  # ./debian/11/x86_64/<it>.btf: 109 bytes


@pytest.fixture(scope="module")
def long_named(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store whose one kernel (Debian 11's real BTF) has a 86-byte release."""
    tmp = tmp_path_factory.mktemp("long")
    origin = Origin(tmp)
    real = SAMPLE / "debian" / "11" / "x86_64" / "5.10.0-30-amd64.btf.tar.xz"
    origin.write(f"debian/11/x86_64/{LONG_RELEASE}.btf.tar.xz", real.read_bytes())
    git("init", "-q", "-b", "main", cwd=origin.work)
    origin.commit("one kernel")
    store = Store(tmp / "cache")
    sync(store, KernelFilter.create(("debian",), (), (), ()), [origin.url])
    return store


@pytest.mark.parametrize("consumer", ["bcc", "bpf-compatible"])
def test_a_name_too_long_for_a_raw_header_reader_is_an_error(
    consumer: str, long_named: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTFHUB_CACHE", str(long_named.root))
    out = tmp_path / "p.tar.gz"
    result = runner.invoke(app, ["pack", str(obj(OBJECT)), "--for", consumer, "-o", str(out)])
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: debian/11/x86_64/{LONG_RELEASE}: {consumer} looks for ")
    assert "at most 99 bytes" in line and not out.exists()


def test_readers_of_pax_names_take_long_names(
    long_named: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTFHUB_CACHE", str(long_named.root))
    out = tmp_path / "layer.tar.gz"
    run_pack("--for", "inspektor-gadget", "-o", out)
    assert f"debian/11/x86_64/{LONG_RELEASE}.btf" in read_tar(out)[0]  # a PAX name
    legacy = run_pack("-o", tmp_path / "old.tar.gz")  # no --for: a warning, as before
    warnings = legacy["warnings"]
    assert isinstance(warnings, list) and any("at most 99 bytes" in w for w in warnings)


# -- dir packages ------------------------------------------------------------------------------


def test_dir_package_holds_the_json_files(
    packages: dict[str, tuple[Path, dict[str, object]]],
) -> None:
    root = packages["dir"][0]
    manifest = json.loads((root / "btfmirror.json").read_bytes())
    assert manifest["consumer"] == "dir" and manifest["format"] == 2
    assert (root / "package.json").read_text() == '{"name": "prog"}'
    assert all((root / k["file"]).is_file() for k in manifest["kernels"])
    assert not any(k["file"].startswith("./") for k in manifest["kernels"])


def test_dir_refuses_a_foreign_directory(tmp_path: Path) -> None:
    target = tmp_path / "src"
    target.mkdir()
    (target / "main.go").write_text("package main\n")
    result = runner.invoke(app, ["pack", str(obj(OBJECT)), "--for", "dir", "-o", str(target)])
    assert result.exit_code == 2
    assert "not empty and not a package btfmirror wrote" in result.stderr
    assert os.listdir(target) == ["main.go"] and sorted(os.listdir(tmp_path)) == ["src"]
    (target / "main.go").unlink()  # an empty directory is fine
    run_pack("--for", "dir", "-o", target, "-d", "centos")
    assert (target / "btfmirror.json").is_file()


def test_dir_replaces_its_previous_package_in_one_step(tmp_path: Path) -> None:
    target = tmp_path / "btfs"
    run_pack("--for", "dir", "-o", target, "-d", "centos")
    first = read_dir(target)
    run_pack("--for", "dir", "-o", target, "-d", "kylin")
    second = read_dir(target)
    assert any(n.startswith("centos/") for n in first)
    assert not any(n.startswith("centos/") for n in second)
    assert any(n.startswith("kylin/V10/aarch64/") for n in second)
    assert os.listdir(tmp_path) == ["btfs"]  # no temporary or old tree left beside it


class _InterruptWhileWriting:
    """A Progress that presses Ctrl-C at the third step of the writing phase."""

    def __init__(self) -> None:
        self.active, self.steps = False, 0

    def phase(self, label: str, total: int | None = None) -> None:
        self.active = label.startswith("writing")

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        if self.active:
            self.steps += steps
            if self.steps >= 3:
                raise KeyboardInterrupt

    def note(self, message: str) -> None:
        pass


def test_an_interrupted_dir_pack_leaves_the_old_tree(synced_all: Store, tmp_path: Path) -> None:
    target = tmp_path / "btfs"
    run_pack("--for", "dir", "-o", target, "-d", "centos")
    before = read_dir(target)
    with pytest.raises(KeyboardInterrupt):
        pack(
            synced_all,
            [obj(OBJECT)],
            target,
            ALL_SAMPLE,
            consumer="dir",
            jobs=1,
            progress=_InterruptWhileWriting(),
        )
    assert read_dir(target) == before and os.listdir(tmp_path) == ["btfs"]
    fresh = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt):
        pack(
            synced_all,
            [obj(OBJECT)],
            fresh,
            ALL_SAMPLE,
            consumer="dir",
            jobs=1,
            progress=_InterruptWhileWriting(),
        )
    assert os.listdir(tmp_path) == ["btfs"]  # nothing at all


def test_gzip_gives_the_btf_files_their_own_deflate_block(
    packages: dict[str, tuple[Path, dict[str, object]]],
) -> None:
    # The same tar in one gzip stream cut only by zlib's counts: larger, as one block's Huffman
    # codes then fit the JSON text and the binary BTF at once.
    for consumer in ("bpf-compatible", "bcc", "inspektor-gadget"):
        packed = packages[consumer][0].read_bytes()
        tar = gzip.decompress(packed)
        assert len(packed) < len(gzip.compress(tar, compresslevel=9, mtime=0)), consumer
        # still one gzip member that GNU tar and gzip read
        subprocess.run([need_tool("gzip"), "-t"], input=packed, check=True)


# -- two kernels, one name -------------------------------------------------------------------


def catalog_entry(path: str) -> KernelEntry:
    distro, version, arch, name = path.split("/")
    return KernelEntry(
        path,
        distro,
        version,
        arch,
        name.removesuffix(".btf.tar.xz"),
        None,
        None,
        "",
        (),
        "0" * 40,
        "origin",
        "",
        "",
        False,
        "present",
        None,
        None,
    )


@pytest.mark.parametrize("consumer", ["bcc", "bpf-compatible"])
def test_a_name_two_kernels_compute_goes_to_the_one_in_its_own_directory(consumer: str) -> None:
    # btfhub-archive has debian/bullseye beside debian/11; on Debian 11 a reader asks for 11.
    paths = [
        "debian/bullseye/x86_64/5.10.0-9-amd64.btf.tar.xz",
        "debian/11/x86_64/5.10.0-9-amd64.btf.tar.xz",
    ]
    entries = [catalog_entry(p) for p in paths]
    outcomes = {p: Outcome(p, data=p.encode()) for p in paths}
    kernels, warnings = _kernels(entries, outcomes, consumer_named(consumer), hardlinks=False)
    by_path = {k.path: k for k in kernels}
    own, other = by_path[paths[1]], by_path[paths[0]]
    wanted = "debian/11/x86_64/5.10.0-9-amd64.btf"
    assert own.member is not None and own.member.endswith(wanted)
    names = [n for k in kernels if k.member for n in (k.member, *(a.name for a in k.aliases))]
    assert len(names) == len(set(names))  # no name twice in the archive
    if consumer == "bcc":  # its only name is taken: not packed, and said so
        assert other.member is None and other.error is not None and wanted in other.error
        assert "debian/11/x86_64/5.10.0-9-amd64's" in other.error and warnings == []
    else:  # keeps btfhub's own name, and a warning says which it lost
        assert len(warnings) == 1
        assert str(warnings[0]).startswith(
            "debian/bullseye/x86_64/5.10.0-9-amd64: name not written"
        )
        assert "debian/11/x86_64/5.10.0-9-amd64's" in str(warnings[0])
        assert other.member == "btfhub-archive/debian/bullseye/x86_64/5.10.0-9-amd64.btf"
        assert other.aliases == ()
