"""Session fixtures for the consumer tests: the readers built once, a mirror of the real sample
kernels, one package per consumer made by ``btfmirror pack --for``, and bpftool's output for
every kernel (the reference each reader's bytes must equal)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import sync
from cli.app import app
from tests.helpers import SAMPLE, need_tool, require, sample_archives
from tests.mirror.gitfixtures import Origin, isolate_from_real_remotes

from .readers import OS_RELEASE, CReader, Found, GoEmbedReader, GoReader, Kernel, System

OBJECTS = tuple(
    SAMPLE.parent.parent / "bpf" / "build" / f"{n}.bpf.el.o" for n in ("loadable", "core_fields")
)
#: Every sample kernel whose system's os-release is in the readers' table: Debian 11 and 12
#: (x86_64 x4, arm64, s390x), CentOS 8 arm64 (quoted ID), both Kylin V10 arm64 (quoted ID).
KERNELS = tuple(k for k in map(Kernel.of, sample_archives()) if (k.distro, k.version) in OS_RELEASE)
DISTROS = tuple(dict.fromkeys(k.distro for k in KERNELS))
#: The consumers' output suffixes, from the issue (``dir`` writes a directory).
SUFFIXES = {
    "bpf-compatible": ".tar.gz",
    "ecli": ".tar",
    "bcc": ".tar.gz",
    "inspektor-gadget": ".tar.gz",
    "dir": "",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_real_remotes(monkeypatch, tmp_path / "default-cache")


@pytest.fixture(scope="session")
def c_reader(tmp_path_factory: pytest.TempPathFactory) -> CReader:
    """Built with the system cc against zlib, as bcc's libbpf-tools are."""
    cc = need_tool("cc")
    require(Path("/usr/include/zlib.h").is_file(), "zlib1g-dev (zlib.h) is not installed")
    return CReader.build(cc, tmp_path_factory.mktemp("c-reader"))


@pytest.fixture(scope="session")
def go_reader(tmp_path_factory: pytest.TempPathFactory) -> GoReader:
    """Skips (fails under CI=true) without Debian's golang-go."""
    return GoReader.build(need_tool("go"), tmp_path_factory.mktemp("go-reader"))


class Embedders:
    """A tracee-like Go program per ``dir`` package, built once each."""

    def __init__(self, go: str, directory: Path) -> None:
        self.go = go
        self.directory = directory
        self.built: dict[Path, GoEmbedReader] = {}

    def read(self, tree: Path, system: System) -> Found:
        if tree not in self.built:
            where = self.directory / str(len(self.built))
            self.built[tree] = GoEmbedReader.build(self.go, tree, where)
        return self.built[tree].read(system)


@pytest.fixture(scope="session")
def embedders(tmp_path_factory: pytest.TempPathFactory) -> Embedders:
    """Skips (fails under CI=true) without Debian's golang-go."""
    return Embedders(need_tool("go"), tmp_path_factory.mktemp("go-embed"))


@pytest.fixture(scope="session")
def consumer_store(_origin_template: Origin, tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("consumers") / "cache")
    sync(store, KernelFilter.create(DISTROS, (), (), ()), [_origin_template.url])
    return store


class Packages:
    """Packages made by the command line, each once per session."""

    def __init__(self, store: Store, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self.made: dict[tuple[str | None, tuple[str, ...]], Path] = {}

    def get(self, consumer: str | None, *options: str) -> Path:
        """``btfmirror pack OBJECTS -d ... [--for consumer] [options] -o <name><suffix>``."""
        key = (consumer, options)
        if key not in self.made:
            stem = f"{consumer or 'default'}{''.join(options)}"
            out = self.directory / (stem + (SUFFIXES[consumer] if consumer else ".tar.gz"))
            args = ["pack", *map(str, OBJECTS), "-o", str(out), "--json"]
            args += [a for d in DISTROS for a in ("-d", d)]
            args += ["--for", consumer] if consumer else []
            env = {
                "BTFHUB_CACHE": str(self.store.root),
                "GIT_ALLOW_PROTOCOL": "file:git",
                "BTFHUB_REPO": "file:///nonexistent/btfhub-archive",
            }
            result = CliRunner().invoke(app, [*args, *options], env=env)
            assert result.exit_code == 0, f"btfmirror {' '.join(args)}: {result.output}"
            summary = json.loads(result.stdout)
            packed = {e["path"] for e in summary["entries"]}
            assert packed == {f"{k}.btf.tar.xz" for k in KERNELS}, summary
            self.made[key] = out
        return self.made[key]


@pytest.fixture(scope="session")
def packages(consumer_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Packages:
    return Packages(consumer_store, tmp_path_factory.mktemp("packages"))


@pytest.fixture(scope="session")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[Kernel, bytes]:
    """``bpftool gen min_core_btf`` of every kernel for OBJECTS; the raw BTF taken out of the
    sample's .btf.tar.xz by GNU tar (not by btfmirror)."""
    bpftool = need_tool("bpftool")
    tar = need_tool("tar")
    tmp = tmp_path_factory.mktemp("bpftool")
    out = {}
    for kernel in KERNELS:
        raw, minimized = tmp / "vmlinux.btf", tmp / "min.btf"
        with raw.open("wb") as sink:
            subprocess.run([tar, "-xJOf", kernel.archive], stdout=sink, check=True)
        subprocess.run(
            [bpftool, "gen", "min_core_btf", raw, minimized, *OBJECTS],
            check=True,
            capture_output=True,
        )
        out[kernel] = minimized.read_bytes()
    return out
