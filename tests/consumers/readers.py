"""Independent readers of btfmirror packages, one per consumer, written from each loader's code.

None of them uses btfmirror: each builds the name as its loader does, from an os-release file
written as that kernel's distribution writes it, ``uname -m`` and ``uname -r``, and reads the
package with that loader's rules. They return the bytes the loader would hand to libbpf, or
None where the loader finds nothing.

- :class:`CReader` runs ``ustar_reader.c`` (bcc's ``ensure_core_btf`` and bpf-compatible's
  ``ensure_core_btf_with_tar_binary``: gzip only, raw 512-byte ustar headers, no links);
- :class:`GoReader` runs ``ig_reader.go`` (Inspektor Gadget: Go ``archive/tar`` over gzip);
- :func:`ecli_tarfile` and :func:`ecli_gnu_tar` unpack an *uncompressed* tar, as
  bpf-compatible-rs ``unpack_tar`` does for ecli, and open the path in the tree;
- :func:`dir_tree` opens the path in a tree, and :class:`GoEmbedReader` builds a Go program
  around the tree as tracee does (``go:embed "dist/btfhub/*"``) and reads it from there.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import SAMPLE

HERE = Path(__file__).resolve().parent

#: /etc/os-release as each distribution ships it (the lines that matter, and a few that must not
#: be mistaken for them: VERSION, ID_LIKE, VERSION_CODENAME).
OS_RELEASE: dict[tuple[str, str], str] = {
    ("debian", "11"): (
        'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="11"\nVERSION="11 (bullseye)"\nVERSION_CODENAME=bullseye\nID=debian\n'
    ),
    ("debian", "12"): (
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
    ),
    ("centos", "8"): (
        'NAME="CentOS Linux"\nVERSION="8 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\n'
        'VERSION_ID="8"\nPLATFORM_ID="platform:el8"\nPRETTY_NAME="CentOS Linux 8 (Core)"\n'
    ),
    ("kylin", "V10"): (
        'NAME="Kylin Linux Advanced Server"\nVERSION="V10 (Tercel)"\nID="kylin"\n'
        'VERSION_ID="V10"\nPRETTY_NAME="Kylin Linux Advanced Server V10 (Tercel)"\n'
    ),
}
#: ``uname -m`` on a machine of each btfhub-archive arch directory.
UNAME_M = {"x86_64": "x86_64", "arm64": "aarch64", "s390x": "s390x"}


@dataclass(frozen=True)
class Kernel:
    """A sample kernel, named by its place in tests/data/btfhub-sample."""

    distro: str
    version: str
    arch: str
    release: str

    @classmethod
    def of(cls, archive: Path) -> Kernel:
        distro, version, arch, name = archive.relative_to(SAMPLE).parts
        return cls(distro, version, arch, name.removesuffix(".btf.tar.xz"))

    @property
    def archive(self) -> Path:
        return SAMPLE / self.distro / self.version / self.arch / f"{self.release}.btf.tar.xz"

    @property
    def system(self) -> System:
        return System(OS_RELEASE[self.distro, self.version], UNAME_M[self.arch], self.release)

    def __str__(self) -> str:
        return f"{self.distro}/{self.version}/{self.arch}/{self.release}"


@dataclass(frozen=True)
class System:
    """What a running system tells a loader: its os-release text and uname."""

    os_release: str
    machine: str  # uname -m
    release: str  # uname -r

    def write_os_release(self, directory: Path) -> Path:
        path = directory / "os-release"
        path.write_text(self.os_release)
        return path


def unquoted_os_release(text: str) -> tuple[str, str]:
    """``(ID, VERSION_ID)`` as the os_release crate (ecli) and tracee read them: the value
    after ``KEY=``, trimmed, one pair of enclosing quotes removed."""
    values = {"ID": "", "VERSION_ID": ""}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in values:
            value = value.strip()
            if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
                value = value[1:-1]
            values[key] = value
    return values["ID"], values["VERSION_ID"]


class ReaderFailed(AssertionError):
    """The reader could not read the package at all (wrong compression, corrupt, usage)."""


@dataclass(frozen=True)
class Found:
    name: str  # the name the reader looked for
    data: bytes | None  # what it hands to libbpf; None: not found


def _run(argv: list[str | Path], out: Path) -> Found:
    out.unlink(missing_ok=True)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    name = proc.stderr.splitlines()[0] if proc.stderr else ""
    if proc.returncode == 0:
        return Found(name, out.read_bytes())
    if proc.returncode == 1:
        return Found(name, None)
    raise ReaderFailed(f"{argv[0]} exited {proc.returncode}: {proc.stderr.strip()}")


@dataclass(frozen=True)
class CReader:
    """``ustar_reader`` built by the system compiler; ``mode`` is bcc or bpf-compatible."""

    exe: Path

    @classmethod
    def build(cls, cc: str, directory: Path) -> CReader:
        exe = directory / "ustar_reader"
        subprocess.run(
            [cc, "-O1", "-Wall", "-Wextra", "-Werror", "-o", exe, HERE / "ustar_reader.c", "-lz"],
            check=True,
            capture_output=True,
        )
        return cls(exe)

    def read(self, mode: str, package: Path, system: System) -> Found:
        with tempfile.TemporaryDirectory() as tmp:
            os_release = system.write_os_release(Path(tmp))
            out = Path(tmp) / "out.btf"
            argv = [self.exe, mode, os_release, system.machine, system.release, package, out]
            return _run(argv, out)


def _go_build(go: str, directory: Path, exe: Path, *sources: str | Path) -> None:
    env = {
        "PATH": str(Path(go).parent),
        "HOME": str(directory),
        "GOCACHE": str(directory / "gocache"),
        "GOPATH": str(directory / "gopath"),
        "GO111MODULE": "off",  # standard library only: no module, no network
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
    }
    subprocess.run(
        [go, "build", "-o", exe, *sources],
        env=env,
        check=True,
        capture_output=True,
        cwd=directory,
    )


@dataclass(frozen=True)
class GoReader:
    """``ig_reader`` built by ``go build`` (Go's archive/tar and compress/gzip)."""

    exe: Path

    @classmethod
    def build(cls, go: str, directory: Path) -> GoReader:
        exe = directory / "ig_reader"
        _go_build(go, directory, exe, HERE / "ig_reader.go")
        return cls(exe)

    def read(self, package: Path, system: System) -> Found:
        with tempfile.TemporaryDirectory() as tmp:
            os_release = system.write_os_release(Path(tmp))
            out = Path(tmp) / "out.btf"
            argv = [self.exe, os_release, system.machine, system.release, package, out]
            return _run(argv, out)


@dataclass(frozen=True)
class GoEmbedReader:
    """``embed_reader`` built around one ``dir`` package: tracee's ``go:embed`` of the tree."""

    exe: Path

    @classmethod
    def build(cls, go: str, tree: Path, directory: Path) -> GoEmbedReader:
        if not tree.is_dir():
            raise ReaderFailed(f"{tree} is not a directory")
        module = directory / "tracee"
        shutil.copytree(tree, module / "dist" / "btfhub", symlinks=True)
        shutil.copy(HERE / "embed_reader.go", module / "main.go")
        exe = directory / "embed_reader"
        _go_build(go, module, exe, ".")
        return cls(exe)

    def read(self, system: System) -> Found:
        with tempfile.TemporaryDirectory() as tmp:
            os_release = system.write_os_release(Path(tmp))
            out = Path(tmp) / "out.btf"
            return _run([self.exe, os_release, system.machine, system.release, out], out)


def _in_tree(root: Path, system: System, prefix: str) -> Found:
    """Open ``<root>/<prefix><ID>/<VERSION_ID>/<uname -m>/<uname -r>.btf``, quotes stripped.

    Only a regular file counts: ``go:embed`` refuses irregular files (symlinks), and what ecli
    unpacked from a tar is a file or nothing.
    """
    distro, version_id = unquoted_os_release(system.os_release)
    name = f"{prefix}{distro}/{version_id}/{system.machine}/{system.release}.btf"
    path = root / name
    if path.is_symlink() or not path.is_file():
        return Found(name, None)
    return Found(name, path.read_bytes())


def ecli_tarfile(package: Path, system: System) -> Found:
    """bpf-compatible-rs ``unpack_tar`` for ecli: the bytes as a plain tar (Python's tarfile,
    mode ``r:``: no decompression), unpacked into a temporary directory, the path opened there.
    """
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with tarfile.open(package, mode="r:") as tar:
                tar.extractall(tmp, filter="data")
        except tarfile.TarError as e:
            raise ReaderFailed(f"tarfile: {e}") from e
        return _in_tree(Path(tmp), system, "btfhub-archive/")


def ecli_gnu_tar(package: Path, system: System) -> Found:
    """The same with GNU tar reading the bytes from a pipe without -z (it refuses a compressed
    archive there: "Archive is compressed. Use -z option")."""
    tar = shutil.which("tar")
    assert tar is not None
    with tempfile.TemporaryDirectory() as tmp, package.open("rb") as stdin:
        proc = subprocess.run(
            [tar, "-xf", "-", "-C", tmp],
            stdin=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ReaderFailed(f"GNU tar exited {proc.returncode}: {proc.stderr.strip()}")
        return _in_tree(Path(tmp), system, "btfhub-archive/")


def dir_tree(root: Path, system: System) -> Found:
    """tracee's ``unpackBTFHub``: ``dist/btfhub/<ID>/<VERSION_ID>/<ARCH>/<release>.btf`` from
    the embedded tree, os-release values unquoted (``GetOSReleaseFieldValue``)."""
    if not root.is_dir():
        raise ReaderFailed(f"{root} is not a directory")
    return _in_tree(root, system, "")
