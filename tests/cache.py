"""Session-wide caches: what many test modules derive from the same inputs, derived once.

Parsing a sample kernel costs a second or more and holds tens of MB; a ``bpftool gen
min_core_btf`` run costs about half a second. Each test module used to keep its own
``functools.cache`` of parsed kernels (the same ten kernels parsed by seven modules, about 2 GB
RSS), and the oracles ran bpftool again for inputs another module had already run it on.

Kernels and objects are keyed by path: they are the repository's files, which no test writes.
bpftool runs are keyed by the sha256 of every input file and the bpftool binary, so a run on a
file a test wrote is reused only for the same bytes. The tests share these values read-only:
a test that changes a parsed kernel must parse its own copy.

The root ``tests/conftest.py`` points :data:`WORKDIR` at a session temporary directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from btfhub_mirror.btf import Btf, parse_btf, read_btf_source
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import MinimizeResult, minimize
from tests import helpers


class _Workdir:
    """Where files made for external tools go (raw kernels, bpftool outputs)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self._lock = threading.Lock()

    def get(self) -> Path:
        with self._lock:
            if self.path is None:  # outside pytest (a script importing the helpers)
                self.path = Path(tempfile.mkdtemp(prefix="btfmirror-tests-"))
            return self.path


WORKDIR = _Workdir()


@functools.cache
def raw_btf(path: Path) -> bytes:
    """Raw BTF of a kernel file (``.btf``, ``.btf.tar.xz``, ELF, sysfs)."""
    return read_btf_source(path)


@functools.cache
def kernel_btf(path: Path) -> Btf:
    """``load_btf(path)``, parsed once per session."""
    return parse_btf(raw_btf(path), source=str(path))


_XZ_MAGIC = b"\xfd7zXZ\x00"


@functools.cache
def raw_btf_file(path: Path) -> Path:
    """A file bpftool reads: ``path`` itself, or the raw BTF of an archive, extracted once per
    session (bpftool reads raw BTF and ELF, not btfhub's ``.btf.tar.xz``)."""
    with open(path, "rb") as handle:
        if handle.read(len(_XZ_MAGIC)) != _XZ_MAGIC:
            return path
    data = raw_btf(path)
    out = WORKDIR.get() / "kernels" / f"{hashlib.sha256(data).hexdigest()[:16]}.btf"
    out.parent.mkdir(exist_ok=True)
    if not out.exists():
        tmp = out.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(out)
    return out


@functools.cache
def bpf_object(path: Path) -> BpfObject:
    return BpfObject.open(path)


_minimized: dict[tuple[Path, tuple[Path, ...], bool], MinimizeResult] = {}


def minimized(
    kernel: Path, objects: Sequence[Path], *, first_match: bool = False
) -> MinimizeResult:
    """``minimize(load_btf(kernel), [BpfObject.open(o) for o in objects])``, once per session
    (lenient mode: strict mode raises, which each test must see for itself)."""
    key = (kernel, tuple(objects), first_match)
    if key not in _minimized:
        _minimized[key] = minimize(
            kernel_btf(kernel), [bpf_object(o) for o in objects], first_match=first_match
        )
    return _minimized[key]


@functools.cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, hashed again only when its size or mtime changes."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return _file_digest(real, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class ToolRun:
    """One external tool run: exit code, stderr, and the file it wrote (None if none)."""

    returncode: int
    stderr: str
    output: bytes | None


_runs: dict[str, ToolRun] = {}
_runs_lock = threading.Lock()


def min_core_btf(
    bpftool: str, kernel: Path, objects: Sequence[Path], *, debug: bool = True, timeout: float = 120
) -> ToolRun:
    """``bpftool [-d] gen min_core_btf KERNEL OUT OBJ...`` once per session per input bytes.

    ``kernel`` may be an archive (its raw BTF is extracted once). The key is the sha256 of the
    bpftool binary, the raw kernel and every object, in order, and ``debug``.
    """
    helpers.uses_bpftool(bpftool)
    raw = raw_btf_file(Path(kernel))
    parts = [file_digest(bpftool), file_digest(raw), *map(file_digest, objects), str(debug)]
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    with _runs_lock:
        cached = _runs.get(key)
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory(prefix="bpftool-", dir=WORKDIR.get()) as tmp:
        out = Path(tmp) / "min.btf"
        argv = [bpftool, *(["-d"] if debug else []), "gen", "min_core_btf", str(raw), str(out)]
        proc = subprocess.run(
            [*argv, *map(str, objects)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = out.read_bytes() if proc.returncode == 0 and out.exists() else None
    run = ToolRun(proc.returncode, proc.stderr, output)
    with _runs_lock:
        _runs[key] = run
    return run


def btf_dump(bpftool: str, kernel: Path, *options: str) -> str:
    """stdout of ``bpftool [OPTIONS] btf dump file KERNEL`` once per session per input bytes
    (``kernel`` may be an archive); a failing run raises ``CalledProcessError``. Kept on disk,
    not in memory: the dump of a large kernel is some 90 MB."""
    helpers.uses_bpftool(bpftool)
    raw = raw_btf_file(Path(kernel))
    parts = [file_digest(bpftool), file_digest(raw), *options]
    out = WORKDIR.get() / "dumps" / hashlib.sha256("\0".join(parts).encode()).hexdigest()
    if not out.exists():
        out.parent.mkdir(exist_ok=True)
        with open(out.with_suffix(f".{threading.get_ident()}.tmp"), "wb") as sink:
            argv = [bpftool, *options, "btf", "dump", "file", str(raw)]
            subprocess.run(argv, check=True, stdout=sink, stderr=subprocess.PIPE)
        out.with_suffix(f".{threading.get_ident()}.tmp").replace(out)
    return out.read_text()
