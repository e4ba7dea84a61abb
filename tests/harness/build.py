"""The libbpf loader harness: build ``load_btf.c``, compile BPF C, load with a custom BTF.

The root conftest provides the fixtures ``libbpf_loader`` and ``probe_object``::

    run = libbpf_loader.run(obj, btf=Path("min.btf"))
    assert run.loaded and run.core_decisions() == libbpf_loader.run(obj, VMLINUX).core_decisions()

Everything is built at test time into a temporary directory. Building needs ``cc`` and
libbpf-dev, compiling BPF needs ``clang``, loading needs ``bpf()`` (root): each skips when
missing and fails under ``CI=true`` (see ``tests/helpers.py``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import need_tool, require

HARNESS = Path(__file__).resolve().parent
LOADER_SRC = HARNESS / "load_btf.c"
PROBE_SRC = HARNESS / "probe.bpf.c"
LIBBPF_HEADER = Path("/usr/include/bpf/libbpf.h")

# libbpf's per-relocation outcome lines (libbpf relo_core.c / libbpf.c, 1.x).
_DECISION_RE = re.compile(
    r"prog '(?P<prog>[^']+)': relo #(?P<relo>\d+): "
    r"(?P<what>patched insn #\d+ \(.*\) .* -> .*|substituting insn #\d+ w/ invalid insn)$"
)
_LOCAL_SPEC_RE = re.compile(
    r"prog '(?P<prog>[^']+)': relo #(?P<relo>\d+): <(?P<kind>[a-z_]+)> \[\d+\] (?P<spec>.*)$"
)
_FOUND_RE = re.compile(r"sec '[^']+': found (\d+) CO-RE relocations")
_PATCHED_RE = re.compile(
    r"patched insn #\d+ \((?P<cls>[^)]*)\) (?P<field>\w+) (?P<old>\S+) -> (?P<new>\S+)"
)


@dataclass(frozen=True)
class CoreDecision:
    """One relocation's outcome as libbpf logged it."""

    prog: str
    relo: int
    text: str  # "patched insn #2 (ALU/ALU64) imm 0 -> 1264" or "substituting insn #28 ..."

    @property
    def poisoned(self) -> bool:
        return self.text.startswith("substituting")

    @property
    def new_value(self) -> int | None:
        """The patched value (offset, size, 0/1, ...), None when poisoned."""
        match = _PATCHED_RE.match(self.text)
        return int(match.group("new"), 0) if match else None


@dataclass(frozen=True)
class LoadRun:
    """Output of one harness run."""

    returncode: int
    lines: tuple[str, ...]

    @property
    def loaded(self) -> bool:
        return self.returncode == 0 and bool(self.lines) and self.lines[-1].endswith("load ok 0")

    def relocation_count(self) -> int:
        """Sum of libbpf's ``found N CO-RE relocations`` over all sections."""
        return sum(int(m.group(1)) for line in self.lines if (m := _FOUND_RE.search(line)))

    def core_decisions(self) -> list[CoreDecision]:
        """Every ``patched insn`` / ``substituting insn`` decision, in log order."""
        out = []
        for line in self.lines:
            match = _DECISION_RE.search(line)
            if match:
                out.append(CoreDecision(match["prog"], int(match["relo"]), match["what"]))
        return out

    def local_specs(self) -> dict[tuple[str, int], tuple[str, str]]:
        """``(prog, relo) -> (kind, spec)``, e.g. ``('byte_off', 'struct task_struct.pid ...')``."""
        out: dict[tuple[str, int], tuple[str, str]] = {}
        for line in self.lines:
            match = _LOCAL_SPEC_RE.search(line)
            if match and (match["prog"], int(match["relo"])) not in out:
                out[(match["prog"], int(match["relo"]))] = (match["kind"], match["spec"])
        return out


@dataclass(frozen=True)
class Loader:
    """The built ``load_btf`` executable."""

    path: Path

    def run(self, obj: Path, btf: Path | None = None, timeout: float = 60) -> LoadRun:
        """Open ``obj`` with ``btf`` as btf_custom_path (None: the kernel's) and load it."""
        args = [str(self.path), str(obj)] + ([str(btf)] if btf is not None else [])
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode == 2:
            raise AssertionError(f"harness usage error: {proc.stderr}")
        return LoadRun(proc.returncode, tuple(proc.stdout.splitlines()))


def libbpf_flags() -> list[str]:
    """Compiler and linker flags for libbpf (pkg-config when present, else ``-lbpf``)."""
    if shutil.which("pkg-config"):
        proc = subprocess.run(
            ["pkg-config", "--cflags", "--libs", "libbpf"], capture_output=True, text=True
        )
        if proc.returncode == 0:
            return proc.stdout.split()
    return ["-lbpf"]


def build_loader(out_dir: Path) -> Loader:
    """Compile ``load_btf.c`` with the system cc against libbpf into ``out_dir``."""
    cc = need_tool("cc")
    require(LIBBPF_HEADER.is_file(), "libbpf-dev (bpf/libbpf.h) is not installed")
    out = out_dir / "load_btf"
    cmd = [cc, "-O2", "-Wall", "-Werror", "-o", str(out), str(LOADER_SRC), *libbpf_flags()]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"building the harness failed:\n{' '.join(cmd)}\n{proc.stderr}"
    return Loader(out)


def compile_bpf(src: Path, out_dir: Path, *flags: str) -> Path:
    """``clang -target bpf -O2 -g -c src`` into ``out_dir``; the object's path."""
    clang = need_tool("clang")
    require(LIBBPF_HEADER.is_file(), "libbpf-dev (bpf/bpf_helpers.h) is not installed")
    out = out_dir / (src.name.removesuffix(".c") + ".o")
    cmd = [clang, "-O2", "-g", "-target", "bpf", "-Wall", *flags, "-c", str(src), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"clang failed:\n{' '.join(cmd)}\n{proc.stderr}"
    return out
