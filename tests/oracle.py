"""Test oracle: what libbpf (through ``bpftool -d gen min_core_btf``) decides per relocation.

``run_min_core_btf(kernel, objects)`` runs Debian's bpftool with libbpf debug output on and
parses its stderr (btfgen-spec §6.2) into one :class:`OracleRelo` per CO-RE relocation:
the local spec libbpf printed, every candidate it tried, whether one matched, the first
matching candidate's C path, ``@ offset``, enum ``::NAME = value`` and type id, and the errors
(ambiguity, ...) it reported for that relocation. :func:`parse_log` is the pure parser, used
on the golden logs in ``tests/data/oracle/``.

Log shapes (libbpf 1.1, ``bpf_core_format_spec``)::

    libbpf: CO-RE relocating [L] struct foo: found target candidate [T] struct foo in [vmlinux]
    libbpf: prog '<sec>': relo #N: <byte_off> [L] struct foo.a.b[2] (0:3:1:2 @ offset 60)
    libbpf: prog '<sec>': relo #N: matching candidate #i <byte_off> [T] struct foo.a.b[2] (...)
    libbpf: prog '<sec>': relo #N: non-matching candidate #i <kind> [T] ...
    libbpf: prog '<sec>': relo #N: no matching targets found
    libbpf: prog '<sec>': relo #N: relocation decision ambiguity: success 2580 != success 170
    Error: error recording relocations for OBJ: Protocol error

``<sec>`` is the ELF section name (btfgen names programs after sections) and ``#N`` counts
from 0 in each section. Relocation lines do not name their object: with several objects the
records are in command-line order, so attribute them per object by running one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from btfhub_mirror.btf import read_btf_source
from tests import cache
from tests.helpers import need_tool

_PREFIX = "libbpf: "
_CANDIDATES = re.compile(
    r"CO-RE relocating \[(\d+)\] (\w+) (\S+): "
    r"found target candidate \[(\d+)\] (\w+) (\S+) in \[(.*)\]$"
)
_RELO = re.compile(r"prog '(.*)': relo #(\d+): (.*)$")
_LOCAL = re.compile(r"<(\w+)> \[(\d+)\] (.*)$")
_CANDIDATE = re.compile(r"(matching|non-matching) candidate #(\d+) <(\w+)> \[(\d+)\] (.*)$")
# "struct task_struct.comm[3] (0:119:3 @ offset 2979)", "struct sock", "enum e::A = 1"
_SPEC = re.compile(
    r"^(?P<kind>\w+) (?P<name>\S+?)(?P<path>(?:[.\[:].*?)?)"
    r"(?: \((?P<raw>[\d:]+) @ offset (?P<offset>\d+(?:\.\d+)?)\))?$"
)
_ENUM = re.compile(r"^::(?P<name>\w+) = (?P<value>-?\d+)$")


@dataclass(frozen=True)
class Spec:
    """One spec as libbpf prints it: ``<kind> <name><path> (<raw> @ offset <offset>)``."""

    text: str
    type_kind: str
    type_name: str
    path: str
    raw_spec: str | None
    offset: str | None

    @classmethod
    def parse(cls, text: str) -> Spec:
        m = _SPEC.match(text)
        if m is None:
            raise ValueError(f"unparsable libbpf spec {text!r}")
        return cls(text, m["kind"], m["name"], m["path"], m["raw"], m["offset"])

    @property
    def c_text(self) -> str:
        """``struct foo.a.b[2]`` (no raw spec, no offset)."""
        return f"{self.type_kind} {self.type_name}{self.path}"

    @property
    def bit_offset(self) -> int | None:
        if self.offset is None:
            return None
        byte, _, bit = self.offset.partition(".")
        return int(byte) * 8 + int(bit or 0)

    @property
    def enumerator(self) -> tuple[str, int] | None:
        """``(NAME, value)`` of an enum spec."""
        m = _ENUM.match(self.path)
        return (m["name"], int(m["value"])) if m else None


@dataclass(frozen=True)
class Candidate:
    index: int
    matched: bool
    type_id: int
    spec: Spec


@dataclass
class OracleRelo:
    """What libbpf logged for relocation ``#index`` of ``section``."""

    section: str
    index: int
    kind: str
    local_type_id: int
    local: Spec
    candidates: list[Candidate] = field(default_factory=list)
    no_match: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return any(c.matched for c in self.candidates)

    @property
    def first_match(self) -> Candidate | None:
        return next((c for c in self.candidates if c.matched), None)

    @property
    def target_path(self) -> str | None:
        """C path of the first matching candidate (``struct task_struct.pid``)."""
        match = self.first_match
        return match.spec.c_text if match else None

    @property
    def target_offset(self) -> str | None:
        match = self.first_match
        return match.spec.offset if match else None

    @property
    def target_enum(self) -> tuple[str, int] | None:
        match = self.first_match
        return match.spec.enumerator if match else None

    @property
    def target_type_id(self) -> int | None:
        match = self.first_match
        return match.type_id if match else None


@dataclass
class OracleRun:
    """One bpftool run: its exit code, relocations in log order, errors and output BTF."""

    returncode: int
    relos: list[OracleRelo]
    #: local root id -> [(target id, "struct foo")] from the "found target candidate" lines,
    #: in log order (for several objects, later objects append to the same ids).
    candidate_lists: dict[int, list[tuple[int, str]]]
    #: relocation errors ("relo #3: relocation decision ambiguity: ...") and bpftool's own
    #: "Error: ..." lines, in log order.
    errors: list[str]
    #: other libbpf lines the parser does not interpret (warnings).
    other: list[str]
    output: bytes | None = None
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def relo(self, section: str, index: int) -> OracleRelo:
        for relo in self.relos:
            if relo.section == section and relo.index == index:
                return relo
        raise KeyError(f"no relo #{index} in {section!r}")

    def count_by_section(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for relo in self.relos:
            counts[relo.section] = counts.get(relo.section, 0) + 1
        return counts


def parse_log(stderr: str, returncode: int = 0) -> OracleRun:
    """Parse the stderr of ``bpftool -d gen min_core_btf``."""
    relos: list[OracleRelo] = []
    current: dict[tuple[str, int], OracleRelo] = {}
    candidate_lists: dict[int, list[tuple[int, str]]] = {}
    errors: list[str] = []
    other: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("Error: "):
            errors.append(line)
            continue
        if not line.startswith(_PREFIX):
            if line.strip():
                other.append(line)
            continue
        body = line[len(_PREFIX) :]
        m = _CANDIDATES.match(body)
        if m:
            candidate_lists.setdefault(int(m[1]), []).append((int(m[4]), f"{m[5]} {m[6]}"))
            continue
        m = _RELO.match(body)
        if m is None:
            other.append(line)
            continue
        section, index, rest = m[1], int(m[2]), m[3]
        key = (section, index)
        local = _LOCAL.match(rest)
        if local:  # libbpf prints the local spec exactly once, first, per relocation
            relo = OracleRelo(section, index, local[1], int(local[2]), Spec.parse(local[3]))
            relos.append(relo)
            current[key] = relo
            continue
        relo_or_none = current.get(key)
        if relo_or_none is None:
            errors.append(body)
            continue
        cand = _CANDIDATE.match(rest)
        if cand:
            relo_or_none.candidates.append(
                Candidate(int(cand[2]), cand[1] == "matching", int(cand[4]), Spec.parse(cand[5]))
            )
        elif rest == "no matching targets found":
            relo_or_none.no_match = True
        else:
            relo_or_none.errors.append(rest)
            errors.append(body)
    return OracleRun(returncode, relos, candidate_lists, errors, other, stderr=stderr)


def raw_kernel_btf(kernel: Path, workdir: Path) -> Path:
    """A raw ``.btf`` for bpftool: ``kernel`` itself, or extracted from a ``.btf.tar.xz``."""
    if kernel.name.endswith(".tar.xz"):
        raw = workdir / (kernel.name.removesuffix(".tar.xz"))
        raw.write_bytes(read_btf_source(kernel))
        return raw
    return kernel


def run_min_core_btf(
    kernel: Path,
    objects: Sequence[Path],
    *,
    bpftool: str | None = None,
    timeout: float = 120,
) -> OracleRun:
    """Run ``bpftool -d gen min_core_btf KERNEL OUT OBJ...`` and parse what libbpf logged.

    ``kernel`` is a raw BTF file or a btfhub ``.btf.tar.xz``. Give only little-endian objects:
    bpftool 7.1 (libbpf 1.1) cannot byte-swap ``.BTF.ext``. ``output`` holds the minimized BTF
    when bpftool succeeded. ``bpftool`` defaults to Debian's on PATH. Runs are cached for the
    session by the sha256 of their inputs (``tests.cache.min_core_btf``).
    """
    for obj in objects:
        with open(obj, "rb") as handle:
            ident = handle.read(6)
        if ident[:4] == b"\x7fELF" and ident[5] == 2:  # EI_DATA = ELFDATA2MSB
            raise ValueError(f"{obj}: big-endian object; bpftool 7.1 cannot read its .BTF.ext")
    done = cache.min_core_btf(
        bpftool or need_tool("bpftool"), Path(kernel), objects, timeout=timeout
    )
    run = parse_log(done.stderr, done.returncode)
    run.output = done.output
    return run
