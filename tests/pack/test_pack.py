"""pack() on real sample kernels with the project's test objects: layout and names, parity with
bpftool, reproducibility, hard links, the manifest, warnings, errors and interruption."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from btfhub_mirror.archive import read_btf_archive
from btfhub_mirror.errors import NotFoundError, PackError, UsageError
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store, list_kernels
from btfhub_mirror.pack import PackResult, pack
from btfhub_mirror.package import open_decompressed
from btfhub_mirror.runtime import unpack_tar
from tests.helpers import REPO, need_tool
from tests.mirror.gitfixtures import Origin

from .conftest import SELECTION, obj

EVERYTHING_LOCAL = KernelFilter.create((), (), (), ())
PACKAGE_JSON = b'{"name": "demo", "version": "1.0"}\n'


def members(path: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Every entry of a package, in order, with the data of regular files."""
    out = []
    with tarfile.open(fileobj=open_decompressed(path.read_bytes()), mode="r|") as tar:
        for info in tar:
            handle = tar.extractfile(info) if info.isreg() else None
            out.append((info, handle.read() if handle else None))
    return out


def files(path: Path) -> dict[str, bytes]:
    return {i.name: d for i, d in members(path) if d is not None}


@pytest.fixture(scope="module")
def package(synced: Store, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PackResult]:
    tmp = tmp_path_factory.mktemp("package")
    (tmp / "package.json").write_bytes(PACKAGE_JSON)
    out = tmp / "prog.tar.gz"
    result = pack(
        synced, [obj("loadable")], out, SELECTION, package_json=tmp / "package.json", jobs=2
    )  # a process pool; test_same_inputs_same_bytes packs again in-process
    return out, result


def test_layout_and_names(synced: Store, package: tuple[Path, PackResult]) -> None:
    out, result = package
    entries = list_kernels(synced, SELECTION).entries
    assert len(entries) == len(result.packed) > 5
    assert not [w for w in result.warnings if "find nothing" not in w]
    infos = [i for i, _ in members(out)]
    names = [i.name for i in infos]
    btfs = {f"./btfhub-archive/{e.distro}/{e.version}/{e.arch}/{e.release}.btf" for e in entries}
    # No directory entries (no reader needs them); the two JSON files first, then the BTF
    # files under btfhub-archive's names and, for arm64, under uname -m's aarch64 as well.
    assert not [i for i in infos if i.isdir()]
    assert names[:2] == ["./btfmirror.json", "./package.json"]
    assert btfs <= set(names[2:]) and len(names) == len(set(names))
    arm64 = {n for n in btfs if "/arm64/" in n}
    assert arm64 and all(
        any(m.endswith(n.split("/", 3)[3].replace("/arm64/", "/aarch64/")) for m in names)
        for n in arm64
    )
    assert files(out)["./package.json"] == PACKAGE_JSON
    assert all(i.isreg() for i, d in members(out) if d is not None)


def test_identical_files_sit_side_by_side(package: tuple[Path, PackResult]) -> None:
    out, result = package
    order = [
        hashlib.sha256(d).hexdigest()
        for i, d in members(out)
        if d is not None and i.name.endswith(".btf")
    ]
    assert len(set(order)) == result.distinct < len(order)  # the sample has repeats
    runs = [h for n, h in enumerate(order) if n == 0 or order[n - 1] != h]
    assert len(runs) == len(set(order))


def test_manifest_matches_the_contents(
    synced: Store, package: tuple[Path, PackResult], _origin_template: Origin
) -> None:
    out, _result = package
    contents = files(out)
    manifest = json.loads(contents["./btfmirror.json"])
    blobs = _origin_template.blobs()
    btfs = {n for n in contents if n.endswith(".btf")}
    aliases = {a["file"] for k in manifest["kernels"] for a in k.get("aliases", [])}
    assert {k["file"] for k in manifest["kernels"]} | aliases == btfs
    assert manifest["format"] == 2 and manifest["consumer"] == "bpf-compatible"
    for kernel in manifest["kernels"]:
        data = contents[kernel["file"]]
        assert kernel["sha256"] == hashlib.sha256(data).hexdigest()
        assert kernel["size"] == len(data)
        source = kernel["file"].removeprefix("./btfhub-archive/") + ".tar.xz"
        assert kernel["source_blob"] == blobs[source][1]
        # The identity is spelled out only where the file is not btfhub's own name.
        if "distro" in kernel:
            identity = "/".join(kernel[k] for k in ("distro", "version", "arch", "release"))
            assert source == f"{identity}.btf.tar.xz"
        else:
            assert source in blobs, source
        assert "hardlink_to" not in kernel
        assert all(contents[a["file"]] == data for a in kernel.get("aliases", []))
    assert manifest["objects"] == [
        {"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in (obj("loadable"),)
    ]
    assert manifest["package_json"]["sha256"] == hashlib.sha256(PACKAGE_JSON).hexdigest()
    assert manifest["tool"]["name"] == "btfmirror" and manifest["tool"]["version"]
    assert manifest["skipped"] == []


@pytest.mark.needs_bpftool
@pytest.mark.parametrize("objects", [("loadable",), ("core_fields", "ringbuf", "core_types")])
def test_every_file_equals_bpftool(synced: Store, tmp_path: Path, objects: tuple[str]) -> None:
    bpftool = need_tool("bpftool")
    paths = [obj(name) for name in objects]
    result = pack(synced, paths, tmp_path / "p.tar.zst", SELECTION)
    contents = files(result.output)
    for kernel in result.packed:
        local = synced.local_file(kernel.path)
        raw = tmp_path / "kernel.btf"
        raw.write_bytes(read_btf_archive(local.read_bytes(), source=str(local)))
        expected = tmp_path / "expected.btf"
        subprocess.run(
            [bpftool, "gen", "min_core_btf", raw, expected, *paths],
            check=True,
            capture_output=True,
        )
        assert contents[f"./{kernel.member}"] == expected.read_bytes(), kernel.path


def test_same_inputs_same_bytes(
    synced: Store, package: tuple[Path, PackResult], tmp_path: Path
) -> None:
    out, _result = package
    # The object and package.json elsewhere, another output name, one job instead of several.
    shutil.copy(obj("loadable"), tmp_path / obj("loadable").name)
    (tmp_path / "pkg.json").write_bytes(PACKAGE_JSON)
    again = pack(
        synced,
        [tmp_path / obj("loadable").name],
        tmp_path / "other-name.tar.gz",
        SELECTION,
        package_json=tmp_path / "pkg.json",
        jobs=1,
    )
    assert again.output.read_bytes() == out.read_bytes()


def test_source_date_epoch_sets_every_mtime(
    synced: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    result = pack(synced, [obj("loadable")], tmp_path / "x.tar", SELECTION, jobs=1)
    assert {i.mtime for i, _ in members(result.output)} == {1700000000}


@pytest.mark.parametrize("fmt", ["tar", "tar.xz", "tar.zst"])
def test_every_format_holds_the_same_files(
    synced: Store, package: tuple[Path, PackResult], tmp_path: Path, fmt: str
) -> None:
    out, _result = package
    result = pack(synced, [obj("loadable")], tmp_path / f"prog.{fmt}", SELECTION, jobs=1)
    expected = {n: d for n, d in files(out).items() if n not in ("./package.json",)}
    got = files(result.output)
    assert got.keys() == expected.keys()
    assert all(got[n] == d for n, d in expected.items() if n != "./btfmirror.json")
    assert result.compression == fmt


def test_hardlinks_unpack_to_the_same_files(
    synced: Store, package: tuple[Path, PackResult], tmp_path: Path
) -> None:
    out, _result = package
    (tmp_path / "package.json").write_bytes(PACKAGE_JSON)
    args = ([obj("loadable")],)
    plain = pack(
        synced,
        *args,
        tmp_path / "plain.tar",
        SELECTION,
        package_json=tmp_path / "package.json",
        jobs=1,
    )
    linked = pack(
        synced,
        *args,
        tmp_path / "linked.tar",
        SELECTION,
        package_json=tmp_path / "package.json",
        hardlinks=True,
        jobs=1,
    )
    entries = members(linked.output)
    # Aliases stay copies: bpf-compatible's C reader reads a hard link as an empty file.
    aliases = {f"./{a.name}" for k in linked.packed for a in k.aliases}
    assert aliases and all(i.isreg() for i, _ in entries if i.name in aliases)
    regular = [
        i for i, _ in entries if i.isreg() and i.name.endswith(".btf") and i.name not in aliases
    ]
    links = [i for i, _ in entries if i.islnk()]
    assert len(regular) == linked.distinct and len(links) == len(linked.packed) - linked.distinct
    assert any("--hardlinks: " in w and "empty file" in w for w in linked.warnings)
    stored = sum(i.size for i in regular)
    assert stored == linked.distinct_bytes < plain.btf_bytes == linked.btf_bytes
    expected = {
        n.removeprefix("./btfhub-archive/"): d for n, d in files(out).items() if n.endswith(".btf")
    }
    for way in ("unpack_tar", "gnu tar"):
        if way == "unpack_tar":
            unpacked = unpack_tar(linked.output.read_bytes(), tmp_dir=tmp_path)
            assert unpacked.archive is not None and unpacked.package_json == PACKAGE_JSON
            root = unpacked.archive.path
        else:
            root = tmp_path / "gnu"
            root.mkdir()
            subprocess.run([need_tool("tar"), "-xf", linked.output, "-C", root], check=True)
            root = root / "btfhub-archive"
        got = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.btf")}
        assert got == expected, way
    manifest = json.loads(files(linked.output)["./btfmirror.json"])
    assert sum("hardlink_to" in k for k in manifest["kernels"]) == len(links)


def test_relocations_that_fail_are_warnings(synced: Store, tmp_path: Path) -> None:
    # ambiguous: bpftool aborts on both kylin kernels; newfield: no task_struct.__state < 5.14.
    result = pack(synced, [obj("ambiguous"), obj("newfield")], tmp_path / "w.tar.gz", SELECTION)
    # libbpf itself refuses these (relocation decision ambiguity): a load failure, which
    # bpftool also aborts on
    aborts = [str(w) for w in result.pack_warnings if w.kind == "load-failure"]
    assert {w.split(":")[0] for w in aborts} == {
        k.path.removesuffix(".btf.tar.xz") for k in result.kernels if k.path.startswith("kylin/")
    }
    unmatched = {w.split(":")[0] for w in result.warnings if "find nothing" in w}
    assert "debian/11/x86_64/5.10.0-30-amd64" in unmatched
    assert not any(w.startswith("debian/12/") for w in unmatched)  # 6.1 has __state
    manifest = json.loads(files(result.output)["./btfmirror.json"])
    warned = {k["file"] for k in manifest["kernels"] if k.get("load_failures")}
    assert {f for f in warned if "/kylin/" in f} == {f for f in warned}
    assert len(warned) == len(aborts)

    with pytest.raises(PackError, match="strict: bpftool would refuse 2 kernel"):
        pack(synced, [obj("ambiguous")], tmp_path / "strict.tar.gz", SELECTION, strict=True)
    assert not (tmp_path / "strict.tar.gz").exists()


class _InterruptAt:
    """A Progress that presses Ctrl-C at the ``n``-th step of the phase starting with ``label``."""

    def __init__(self, label: str, n: int) -> None:
        self.label, self.n, self.active, self.steps = label, n, False, 0

    def phase(self, label: str, total: int | None = None) -> None:
        self.active = label.startswith(self.label)

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        if self.active:
            self.steps += steps
            if self.steps >= self.n:
                raise KeyboardInterrupt

    def note(self, message: str) -> None:
        pass


@pytest.mark.parametrize(("label", "jobs"), [("writing", 1), ("minimizing", 2)])
def test_interrupted_pack_leaves_nothing_behind(
    synced: Store, tmp_path: Path, label: str, jobs: int
) -> None:
    out = tmp_path / "out" / "prog.tar.gz"
    out.parent.mkdir()
    out.write_bytes(b"the previous package")
    with pytest.raises(KeyboardInterrupt):
        pack(synced, [obj("loadable")], out, SELECTION, jobs=jobs, progress=_InterruptAt(label, 3))
    assert os.listdir(out.parent) == ["prog.tar.gz"]
    assert out.read_bytes() == b"the previous package"


def test_ctrl_c_on_the_command_line_leaves_nothing_behind(
    store_copy: Store, tmp_path: Path
) -> None:
    # The real thing: SIGINT to the process group of `btfmirror pack` while its workers build
    # the kernels' indexes (removed first, so that phase lasts seconds).
    shutil.rmtree(store_copy.root / "index", ignore_errors=True)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "BTFHUB_CACHE": str(store_copy.root)}
    code = "from cli.app import main; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "pack",
            obj("loadable"),
            "-d",
            "debian",
            "--jobs",
            "2",
            "-o",
            out / "prog.tar.gz",
        ],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("minimizing"):
            break
    time.sleep(0.1)  # workers started, none finished: a kernel's index takes longer
    os.killpg(proc.pid, signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, rest
    assert "interrupted" in rest
    assert os.listdir(out) == []


def test_bad_inputs_fail_before_any_work(synced: Store, tmp_path: Path) -> None:
    bad = tmp_path / "package.json"
    bad.write_text('{"name": "x",\n  "version": }\n')
    with pytest.raises(UsageError, match=r"package.json: not valid JSON: .* line 2 column 14"):
        pack(synced, [obj("loadable")], tmp_path / "x.tar.gz", SELECTION, package_json=bad)
    with pytest.raises(NotFoundError, match="no such file"):
        pack(synced, [tmp_path / "missing.o"], tmp_path / "x.tar.gz", SELECTION)
    with pytest.raises(UsageError, match="unknown archive format"):
        pack(synced, [obj("loadable")], tmp_path / "x.zip", SELECTION)
    with pytest.raises(UsageError, match="no BPF objects"):
        pack(synced, [], tmp_path / "x.tar.gz", SELECTION)
    assert sorted(os.listdir(tmp_path)) == ["package.json"]


def test_no_selection_packs_the_local_kernels(store_copy: Store, tmp_path: Path) -> None:
    # A damaged local archive (not its blob id): restored from the mirror before it is read,
    # with or without a selection.
    damaged = "debian/12/x86_64/6.1.0-47-amd64.btf.tar.xz"
    store_copy.local_file(damaged).write_bytes(b"not xz")
    local = list_kernels(store_copy, SELECTION, local_only=True).entries
    result = pack(store_copy, [obj("loadable")], tmp_path / "all.tar.gz", EVERYTHING_LOCAL)
    assert len(result.kernels) == len(local) and len(result.packed) == len(local)
    assert not [w for w in result.warnings if "not packed" in w]
    manifest = json.loads(files(result.output)["./btfmirror.json"])
    assert manifest["skipped"] == []

    store_copy.local_file("kylin/V10/arm64/4.19.90-24.4.v2101.ky10.aarch64.btf.tar.xz").unlink()
    again = pack(store_copy, [obj("loadable")], tmp_path / "sel.tar.gz", SELECTION)
    assert len(again.packed) == len(local) and not again.warnings


def test_nothing_local_is_not_found(tmp_path: Path, synced: Store) -> None:
    empty = Store(tmp_path / "empty")
    shutil.copytree(synced.root, empty.root, ignore=shutil.ignore_patterns("archive", "index"))
    with pytest.raises(NotFoundError, match="no kernel is local"):
        pack(empty, [obj("loadable")], tmp_path / "x.tar.gz", EVERYTHING_LOCAL)
