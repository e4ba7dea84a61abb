"""Per-kernel compatibility verdicts for BPF objects: ok, degraded or fails, with reasons.

Pure: takes opened :class:`~btfhub_mirror.elf.BpfObject` s and parsed kernel BTF, returns
frozen results; no I/O.

For every kernel:

* each CO-RE relocation gets libbpf's decision (:func:`~btfhub_mirror.btf.core.resolve_all`):
  ``resolved``; ``error`` (libbpf refuses the object, e.g. a decision ambiguity); or, without a
  matching kernel type, ``missing`` (an existence check that answers 0: the program asked),
  ``guarded`` (poisoned or zeroed, but the same program also checks the existence of that
  field, type or enumerator), ``poisoned`` (an unguarded read the verifier will reject) or
  ``zero`` (an unguarded type size or id that evaluates to 0);
* the object's byte order must be the kernel's (``-target bpfel`` / ``bpfeb``);
* each map type (``.maps``) must be in the kernel's ``enum bpf_map_type``, each helper called
  in ``enum bpf_func_id``, each program's type (from its section name) in
  ``enum bpf_prog_type`` with its attach type and BTF attach target (see ``features.py``);
* each kfunc and typed kernel variable (``extern ... __ksym``) must be a FUNC / VAR of the
  kernel's BTF whose type is compatible with the object's, as libbpf 1.1 resolves them
  (``bpf_object__resolve_ksym_func_btf_id``); a weak one the kernel lacks is left unresolved.
  Whether the verifier allows a kfunc for the program's type is not in BTF and not checked.

A kernel **fails** on an error, a poisoned relocation, a missing map type, helper or program
type, or a missing or incompatible kfunc/ksym; it is **degraded** when guarded or zeroed
relocations or missing weak kfuncs disable part of the program; otherwise it is **ok**.

"Guarded" is decided from the relocation records, not from control flow: a relocation is
guarded when the same function (same section and ``.BTF.ext`` function) carries a
``field_exists`` / ``type_exists`` / ``enumval_exists`` / ``type_matches`` relocation on the
same root type and access string, or a type-based existence check on the same root type.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..btf.core import (
    EXISTENCE_KINDS,
    ReasonCode,
    RelocState,
    Resolution,
    format_spec_target,
    resolve_all,
)
from ..btf.ext import CoreRelo, describe_access
from ..btf.parse import Btf
from ..btf.wire import Kind
from ..elf import BpfObject, KsymExtern
from ..errors import BtfmirrorError
from .features import (
    HELPER_ENUM,
    MAP_TYPE_ENUM,
    TRAMPOLINE_STRUCT,
    KernelFeatures,
    SectionRule,
    enum_values,
    resolve_ksym,
    section_rule,
)
from .uapi_names import HELPERS, MAP_TYPES

RINGBUF_MAP = "BPF_MAP_TYPE_RINGBUF"
PERF_FALLBACK = (
    "needs a perf-buffer fallback (BPF_MAP_TYPE_PERF_EVENT_ARRAY with bpf_perf_event_output)"
)
#: At most this many reasons are kept per kernel (the counts are always complete).
MAX_REASONS = 50


class Verdict(str, Enum):
    """How a kernel fares: ordered from best to worst."""

    OK = "ok"
    DEGRADED = "degraded"
    FAILS = "fails"


#: How each relocation state weighs on a kernel's verdict.
STATE_VERDICT = {
    RelocState.RESOLVED: Verdict.OK,
    RelocState.MISSING: Verdict.OK,
    RelocState.GUARDED: Verdict.DEGRADED,
    RelocState.ZERO: Verdict.DEGRADED,
    RelocState.POISONED: Verdict.FAILS,
    RelocState.ERROR: Verdict.FAILS,
}


@dataclass(frozen=True, slots=True)
class RelocRow:
    """One CO-RE relocation of one object (the same on every kernel)."""

    object: str
    section: str
    program: str  # the function (BPF program or subprogram) holding the instruction
    index: int  # libbpf's "relo #N" within the section
    insn_index: int
    kind: str  # libbpf's short name: byte_off, field_exists...
    path: str  # local C path: struct task_struct.__state

    @property
    def label(self) -> str:
        return f"{self.section} #{self.index} {self.kind} {self.path}"

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "section": self.section,
            "program": self.program,
            "index": self.index,
            "insn": self.insn_index,
            "kind": self.kind,
            "path": self.path,
        }


@dataclass(frozen=True, slots=True)
class RelocOutcome:
    """A relocation's state on one kernel: the target it matched, or why not."""

    state: RelocState
    target: str | None = None
    detail: str | None = None  # the libbpf error, the guard, the value
    code: ReasonCode | None = None  # with state ERROR: why libbpf refuses it

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "target": self.target,
            "detail": self.detail,
            "code": None if self.code is None else self.code.value,
        }


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """Something an object needs from the kernel: a map type, a helper, a program type."""

    object: str
    category: str  # "object", "map", "helper", "program", "kfunc" or "ksym"
    subject: str  # map name, "bpf_ringbuf_reserve", or the program's section
    requirement: str  # BPF_MAP_TYPE_RINGBUF (27), BPF_FUNC_ringbuf_reserve (131), ...
    used_in: tuple[str, ...] = ()  # sections calling a helper or kfunc

    @property
    def label(self) -> str:
        return f"{self.category} {self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "category": self.category,
            "subject": self.subject,
            "requirement": self.requirement,
            "used_in": list(self.used_in),
        }


@dataclass(frozen=True, slots=True)
class FeatureOutcome:
    """Whether one kernel has a feature; None when its BTF cannot tell. ``degraded``: present
    in a way that disables part of the program (a weak kfunc the kernel lacks)."""

    available: bool | None
    detail: str | None = None
    degraded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"available": self.available, "detail": self.detail, "degraded": self.degraded}


@dataclass(frozen=True, slots=True)
class KernelRef:
    """A kernel that was checked: a catalog entry or an explicit BTF file."""

    label: str  # debian/12/x86_64/6.1.0-50-amd64, or the file path
    path: str
    distro: str | None = None
    version: str | None = None
    arch: str | None = None
    release: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "path": self.path,
            "distro": self.distro,
            "version": self.version,
            "arch": self.arch,
            "release": self.release,
        }


@dataclass(frozen=True, slots=True)
class KernelReport:
    """The verdict for one kernel; ``relocations`` and ``features`` follow the result's rows."""

    kernel: KernelRef
    verdict: Verdict
    reasons: tuple[str, ...]  # failures first, then degradations
    relocations: tuple[RelocOutcome, ...]
    features: tuple[FeatureOutcome, ...]
    index_reused: bool | None = None  # whether the saved per-kernel index was used

    def counts(self) -> dict[str, int]:
        out = {state.value: 0 for state in RelocState}
        for outcome in self.relocations:
            out[outcome.state.value] += 1
        return out

    def to_json(self, rows: CheckRows) -> dict[str, Any]:
        return {
            "kernel": self.kernel.to_json(),
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "relocation_counts": self.counts(),
            "relocations": [
                {**row.to_json(), **out.to_json()}
                for row, out in zip(rows.relocations, self.relocations, strict=True)
            ],
            "features": [
                {**row.to_json(), **out.to_json()}
                for row, out in zip(rows.features, self.features, strict=True)
            ],
            "index_reused": self.index_reused,
        }


@dataclass(frozen=True, slots=True)
class CheckRows:
    """The kernel-independent rows: every relocation and every feature of the objects."""

    objects: tuple[str, ...]
    relocations: tuple[RelocRow, ...]
    features: tuple[FeatureRow, ...]


# -- per-object preparation (kernel independent) -------------------------------------------


@dataclass(frozen=True, slots=True)
class _PreparedObject:
    obj: BpfObject
    name: str
    relos: tuple[CoreRelo, ...]
    rows: tuple[RelocRow, ...]
    guards: tuple[tuple[int, ...], ...]  # per relocation: positions of its existence checks
    maps: tuple[tuple[str, int | None], ...]  # (map name, map type value)
    helpers: tuple[tuple[int, tuple[str, ...]], ...]  # (helper id, sections calling it)
    programs: tuple[tuple[str, SectionRule | None], ...]
    ksyms: tuple[KsymExtern, ...]


def _functions(obj: BpfObject) -> dict[str, tuple[list[int], list[str]]]:
    """section -> (sorted start offsets, function names) from ``.BTF.ext`` func infos."""
    out: dict[str, tuple[list[int], list[str]]] = {}
    for info in sorted(obj.func_infos, key=lambda f: (f.section, f.insn_off)):
        try:
            name = obj.btf.name_of(info.type_id)
        except BtfmirrorError:
            name = f"func [{info.type_id}]"
        starts, names = out.setdefault(info.section, ([], []))
        starts.append(info.insn_off)
        names.append(name)
    return out


def _function_of(funcs: dict[str, tuple[list[int], list[str]]], relo: CoreRelo) -> str:
    starts, names = funcs.get(relo.section, ([], []))
    pos = bisect.bisect_right(starts, relo.insn_off) - 1
    return names[pos] if pos >= 0 else ""


def _guards(relos: Sequence[CoreRelo], programs: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    checks: dict[tuple[str, str, int], list[tuple[int, CoreRelo]]] = {}
    for pos, relo in enumerate(relos):
        if relo.kind in EXISTENCE_KINDS:
            checks.setdefault((relo.section, programs[pos], relo.type_id), []).append((pos, relo))
    out: list[tuple[int, ...]] = []
    for pos, relo in enumerate(relos):
        if relo.kind in EXISTENCE_KINDS:
            out.append(())
            continue
        same_root = checks.get((relo.section, programs[pos], relo.type_id), [])
        out.append(
            tuple(
                p
                for p, check in same_root
                if check.access_str == relo.access_str or check.kind.is_type_based
            )
        )
    return tuple(out)


def _describe(obj: BpfObject, relo: CoreRelo) -> str:
    try:
        return describe_access(obj.btf, relo)
    except BtfmirrorError:
        return f"[{relo.type_id}] {relo.access_str}"


def _prepare(obj: BpfObject, name: str) -> _PreparedObject:
    relos = tuple(obj.core_relos)
    funcs = _functions(obj)
    programs = [_function_of(funcs, r) for r in relos]
    counts: dict[str, int] = {}
    rows = []
    for relo, program in zip(relos, programs, strict=True):
        index = counts.get(relo.section, 0)
        counts[relo.section] = index + 1
        rows.append(
            RelocRow(
                name,
                relo.section,
                program,
                index,
                relo.insn_index,
                relo.kind.short_name,
                _describe(obj, relo),
            )
        )
    helper_sections: dict[int, list[str]] = {}
    for prog in obj.programs:
        for helper in dict.fromkeys(prog.helper_calls):
            helper_sections.setdefault(helper, []).append(prog.section)
    return _PreparedObject(
        obj,
        name,
        relos,
        tuple(rows),
        _guards(relos, programs),
        tuple((m.name, m.type) for m in obj.maps),
        tuple((h, tuple(s)) for h, s in sorted(helper_sections.items())),
        tuple(
            (p.section, section_rule(p.section))
            for p in obj.programs
            if not p.section.startswith(".")  # .text: subprograms, no program type
        ),
        tuple(obj.ksyms),
    )


# -- the checker ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Raw:
    kernel: KernelRef
    relocations: list[RelocOutcome]
    features: list[FeatureOutcome]
    index_reused: bool | None


class Checker:
    """Checks a fixed set of objects against kernels one at a time, then builds the result.

    Kernel BTF is needed only during :meth:`check_kernel`, so a caller can check thousands of
    kernels with one kernel in memory at a time.
    """

    def __init__(self, objects: Sequence[BpfObject]):
        names = [Path(o.source).name for o in objects]
        if len(set(names)) != len(names):
            names = [o.source for o in objects]
        self._objects = [_prepare(o, n) for o, n in zip(objects, names, strict=True)]
        self._map_names: dict[int, str] = {v: n for v, n in enumerate(MAP_TYPES) if n}
        self._helper_names: dict[int, str] = {v: n for v, n in enumerate(HELPERS) if n}
        for prepared in self._objects:
            self._learn_names(prepared.obj.btf)
        self._raw: list[_Raw] = []

    def _learn_names(self, btf: Btf) -> None:
        for enum, book in ((MAP_TYPE_ENUM, self._map_names), (HELPER_ENUM, self._helper_names)):
            for value, name in (enum_values(btf, enum) or {}).items():
                book.setdefault(value, name)

    def check_kernel(
        self, kernel: KernelRef, btf: Btf, *, index_reused: bool | None = None
    ) -> None:
        """Decide every relocation and feature of the objects on ``btf``."""
        features = KernelFeatures(btf)
        relocs: list[RelocOutcome] = []
        feats: list[FeatureOutcome] = []
        for prepared in self._objects:
            resolutions = resolve_all(prepared.obj.btf, prepared.relos, btf)
            relocs.extend(_outcomes(prepared, resolutions))
            feats.extend(self._feature_outcomes(prepared, features))
        self._learn_names(btf)
        self._raw.append(_Raw(kernel, relocs, feats, index_reused))

    def _feature_outcomes(
        self, prepared: _PreparedObject, features: KernelFeatures
    ) -> Iterable[FeatureOutcome]:
        yield _byte_order_outcome(prepared.obj.byte_order, features.btf.byte_order)
        for _, map_type in prepared.maps:
            yield _enum_outcome(features.map_types, map_type, MAP_TYPE_ENUM)
        for helper, _ in prepared.helpers:
            yield _enum_outcome(features.helpers, helper, HELPER_ENUM)
        for section, rule in prepared.programs:
            yield _program_outcome(features, section, rule)
        for ksym in prepared.ksyms:
            yield _ksym_outcome(prepared.obj.btf, ksym, features.btf)

    def rows(self) -> CheckRows:
        """The relocation and feature rows, named with every enum seen so far."""
        features: list[FeatureRow] = []
        for p in self._objects:
            order = p.obj.byte_order
            features.append(FeatureRow(p.name, "object", "byte order", f"{order}-endian kernel"))
            for name, map_type in p.maps:
                features.append(FeatureRow(p.name, "map", name, self._map_name(map_type)))
            for helper, sections in p.helpers:
                features.append(
                    FeatureRow(
                        p.name,
                        "helper",
                        self._helper_short(helper),
                        f"{self._helper_names.get(helper, 'BPF_FUNC')} ({helper})",
                        sections,
                    )
                )
            for section, rule in p.programs:
                features.append(FeatureRow(p.name, "program", section, _rule_text(section, rule)))
            for ksym in p.ksyms:
                if not ksym.local_type_id:
                    need = f"{ksym.name} in /proc/kallsyms (typeless)"
                else:
                    need = f"{'FUNC' if ksym.is_func else 'VAR'} {ksym.name} in the kernel BTF"
                features.append(
                    FeatureRow(
                        p.name,
                        "kfunc" if ksym.is_func else "ksym",
                        ksym.name,
                        need + (" (weak)" if ksym.weak else ""),
                        ksym.used_in,
                    )
                )
        return CheckRows(
            tuple(p.name for p in self._objects),
            tuple(row for p in self._objects for row in p.rows),
            tuple(features),
        )

    def _map_name(self, map_type: int | None) -> str:
        if map_type is None:
            return "no type declared"
        return f"{self._map_names.get(map_type, 'map type')} ({map_type})"

    def _helper_short(self, helper: int) -> str:
        name = self._helper_names.get(helper)
        return f"bpf_{name.removeprefix('BPF_FUNC_')}" if name else f"helper #{helper}"

    def reports(self) -> tuple[CheckRows, tuple[KernelReport, ...]]:
        """The rows and one report per checked kernel, in the order they were checked."""
        rows = self.rows()
        reports = tuple(
            KernelReport(
                raw.kernel,
                *self._verdict(rows, raw),
                tuple(raw.relocations),
                tuple(raw.features),
                raw.index_reused,
            )
            for raw in self._raw
        )
        return rows, reports

    def _verdict(self, rows: CheckRows, raw: _Raw) -> tuple[Verdict, tuple[str, ...]]:
        multi = len(rows.objects) > 1
        fails: list[str] = []
        degraded: list[str] = []
        for row, out in zip(rows.relocations, raw.relocations, strict=True):
            level = STATE_VERDICT[out.state]
            if level is Verdict.OK:
                continue
            where = f"{row.object}: " if multi else ""
            text = f"{where}{row.section} #{row.index} {row.path}: {_reloc_reason(out)}"
            (fails if level is Verdict.FAILS else degraded).append(text)
        for frow, fout in zip(rows.features, raw.features, strict=True):
            where = f"{frow.object}: " if multi else ""
            if fout.available is False:
                fails.append(f"{where}{frow.category} {frow.subject}: {fout.detail}")
            elif fout.degraded:
                degraded.append(f"{where}{frow.category} {frow.subject}: {fout.detail}")
        verdict = Verdict.FAILS if fails else Verdict.DEGRADED if degraded else Verdict.OK
        return verdict, tuple((fails + degraded)[:MAX_REASONS])


def _outcomes(prepared: _PreparedObject, resolutions: Sequence[Resolution]) -> list[RelocOutcome]:
    out = []
    for pos, res in enumerate(resolutions):
        target = format_spec_target(res.target_spec) if res.target_spec else None
        state = res.state
        if res.failure is not None:
            # The detail without "<section>: relo #N: ", which the row already says.
            failure = res.failure
            out.append(RelocOutcome(state, target, failure.detail, failure.code))
            continue
        if state is RelocState.RESOLVED:
            out.append(RelocOutcome(state, target))
            continue
        if state is RelocState.MISSING:
            out.append(RelocOutcome(state, None, "not in this kernel: evaluates to 0"))
            continue
        guards = prepared.guards[pos]
        value = "poisoned" if res.poisoned else "evaluates to 0"
        if guards:
            checks = ", ".join(
                f"{prepared.relos[g].kind.short_name} #{prepared.rows[g].index}" for g in guards
            )
            out.append(RelocOutcome(RelocState.GUARDED, None, f"{value}, guarded by {checks}"))
        else:
            out.append(RelocOutcome(state, None, f"{value}, not guarded"))
    return out


def _reloc_reason(out: RelocOutcome) -> str:
    if out.state is RelocState.ERROR:
        return f"libbpf error: {out.detail}"
    return f"not in this kernel ({out.detail})"


def _byte_order_outcome(obj_order: str, kernel_order: str) -> FeatureOutcome:
    """libbpf loads an object only on a kernel of its own byte order (bpfel vs bpfeb)."""
    if obj_order == kernel_order:
        return FeatureOutcome(True, f"{kernel_order}-endian")
    target = "bpfel" if kernel_order == "little" else "bpfeb"
    return FeatureOutcome(
        False,
        f"the object is {obj_order}-endian, the kernel {kernel_order}-endian: "
        f"build it with -target {target}",
    )


def _ksym_outcome(local: Btf, ksym: KsymExtern, kernel: Btf) -> FeatureOutcome:
    """libbpf 1.1's resolution of one ``__ksym`` extern, in its own words where it fails."""
    what = "kfunc" if ksym.is_func else "ksym"
    if not ksym.local_type_id:
        return FeatureOutcome(None, "typeless: libbpf resolves it from /proc/kallsyms, not BTF")
    res = resolve_ksym(local, ksym.name, ksym.is_func, ksym.local_type_id, kernel)
    if not res.found:
        if ksym.weak and ksym.is_func and not ksym.address_taken:
            return FeatureOutcome(
                False,
                "weak kfunc not in this kernel, and the object never tests it "
                "(bpf_ksym_exists): the verifier rejects the unresolved call",
            )
        if ksym.weak:
            guard = "bpf_ksym_exists" if ksym.is_func else "a NULL check of its address"
            return FeatureOutcome(
                True,
                f"weak {what} not in this kernel: left unresolved, so the program must guard "
                f"its use ({guard})",
                degraded=True,
            )
        return FeatureOutcome(
            False,
            f"not in the kernel BTF (libbpf: extern ({'func' if ksym.is_func else 'var'} ksym) "
            f"'{ksym.name}': not found; kfuncs of modules are not in btfhub archives)",
        )
    if not res.compatible:
        local_kind = "func_proto" if ksym.is_func else "type"
        return FeatureOutcome(
            False,
            f"{local_kind} [{ksym.local_type_id}] incompatible with kernel [{res.kernel_type_id}]",
        )
    if not ksym.is_func:
        # The verifier also asks kallsyms for the variable's address (check_pseudo_btf_id),
        # which lists data symbols only with CONFIG_KALLSYMS_ALL: not something BTF shows.
        return FeatureOutcome(
            None,
            f"[{res.kernel_id}], type compatible; loading also needs the symbol in kallsyms "
            "(CONFIG_KALLSYMS_ALL), which BTF does not show",
        )
    return FeatureOutcome(True, f"[{res.kernel_id}]")


def _enum_outcome(values: dict[int, str] | None, value: int | None, enum: str) -> FeatureOutcome:
    if values is None:
        return FeatureOutcome(None, f"the kernel BTF has no enum {enum}")
    if value is None:
        return FeatureOutcome(None, "not declared in the object")
    if value in values:
        return FeatureOutcome(True, values[value])
    detail = f"{value} not in the kernel's enum {enum}"
    if enum == MAP_TYPE_ENUM and value == _RINGBUF_VALUE:
        detail = f"{RINGBUF_MAP} missing (Linux 5.8+): {PERF_FALLBACK}"
    elif enum == HELPER_ENUM and value in _RINGBUF_HELPERS:
        detail = f"ring buffer helper {value} missing (Linux 5.8+): {PERF_FALLBACK}"
    elif enum == HELPER_ENUM and value in _PROBE_READ_FALLBACKS:
        older = _PROBE_READ_FALLBACKS[value]
        detail += f" (Linux 5.5+): older kernels have bpf_{older.removeprefix('BPF_FUNC_')}"
    return FeatureOutcome(False, detail)


#: Used only to word the fallback advice: the ring buffer map and its Linux 5.8 helpers.
_RINGBUF_VALUE = MAP_TYPES.index(RINGBUF_MAP)
_RINGBUF_HELPERS = frozenset(
    HELPERS.index(f"BPF_FUNC_ringbuf_{op}")
    for op in ("output", "reserve", "submit", "discard", "query")
)

#: The Linux 5.5 kernel/user probe-read helpers and the generic ones older kernels offer.
_PROBE_READ_FALLBACKS = {
    HELPERS.index(f"BPF_FUNC_probe_read_{space}{suffix}"): f"BPF_FUNC_probe_read{suffix}"
    for space in ("kernel", "user")
    for suffix in ("", "_str")
}


def _program_outcome(
    features: KernelFeatures, section: str, rule: SectionRule | None
) -> FeatureOutcome:
    if rule is None:
        return FeatureOutcome(None, "unknown section name: libbpf cannot infer the program type")
    prog_types = features.prog_types
    if prog_types is None:
        return FeatureOutcome(None, "the kernel BTF has no enum bpf_prog_type")
    if rule.prog_type not in prog_types:
        return FeatureOutcome(False, f"{rule.prog_type} not in the kernel's enum bpf_prog_type")
    if rule.attach_type is not None:
        attach = features.attach_types or frozenset()
        if rule.attach_type not in attach:
            return FeatureOutcome(
                False, f"{rule.attach_type} not in the kernel's enum bpf_attach_type"
            )
    if rule.needs_trampoline and not features.has(Kind.STRUCT, TRAMPOLINE_STRUCT):
        return FeatureOutcome(False, f"no struct {TRAMPOLINE_STRUCT} (BPF trampolines)")
    target = rule.target(section)
    kind = rule.target_kind
    if target is not None and kind is not None and not features.has(kind, target):
        return FeatureOutcome(False, f"no {kind.name} {target} in the kernel BTF to attach to")
    return FeatureOutcome(True, _rule_text(section, rule))


def _rule_text(section: str, rule: SectionRule | None) -> str:
    if rule is None:
        return "unknown program type"
    parts = [rule.prog_type]
    if rule.attach_type:
        parts.append(rule.attach_type)
    target = rule.target(section)
    if target and rule.target_kind is not None:
        parts.append(f"{rule.target_kind.name} {target}")
    return ", ".join(parts)
