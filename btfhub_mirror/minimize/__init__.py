"""Minimize kernel BTF to what a set of BPF objects' CO-RE relocations need.

The pure-Python equivalent of ``bpftool gen min_core_btf INPUT OUTPUT OBJECT...``: for each object
(in order, each with its own candidate cache) every relocation is resolved against the kernel
BTF exactly as libbpf does (:mod:`btfhub_mirror.btf.core`), the first matching candidate's target
spec is recorded (:mod:`.record`), then the marked types are written out (:mod:`.emit`). With the
same inputs the bytes equal Debian bpftool 7.1's output.

Where libbpf itself refuses a relocation against the full BTF (bpftool aborts; a program would
not load), the default output makes libbpf refuse it the same way: every candidate that takes
part (:attr:`~btfhub_mirror.btf.core.Resolution.participants`) is kept with what libbpf looks at
-- for a field relocation its path, for a type relocation the type -- and, because libbpf prunes
each local root's candidate list as it goes, the paths of the object's earlier relocations on
the same root too, so the same candidates are still there when libbpf meets the failing one. A
candidate whose match itself fails (nesting too deep) is kept with everything it holds by value.
Each such relocation is reported as a :class:`LoadFailure`: the program fails to load with the
minimized BTF exactly as with the full one.

``first_match=True`` keeps only the first matching candidate instead (btfmirror's default
before issue 14: a loadable BTF, but one where libbpf decides what the full BTF would not let
it); ``strict=True`` raises :class:`MinimizeError`, as bpftool fails. Where only bpftool aborts (a
FWD or TYPE_TAG reached by a type relocation; libbpf loads fine), every mode but strict keeps
the offending type and warns.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..btf.core import ReasonCode, Resolution, candidate_spec, format_spec, resolve_all
from ..btf.ext import CoreReloKind
from ..btf.load import load_btf
from ..btf.parse import Btf
from ..elf import BpfObject
from ..errors import UsageError
from .emit import emit
from .record import Marks, MinimizeError, Recorder

if TYPE_CHECKING:
    from ..btf.cache import BtfCache

__all__ = [
    "LOAD_FAILURE",
    "LoadFailure",
    "MinimizeError",
    "MinimizeResult",
    "minimize",
    "minimize_files",
    "record_objects",
]


#: How a kernel with such a relocation is listed: the minimized BTF keeps the failure.
LOAD_FAILURE = "will fail to load, as with the full BTF"


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A relocation libbpf refuses with the full BTF, and so (by default) with the minimized one:
    the object fails to load on this kernel whichever BTF it is given."""

    object_name: str  # as the object was opened (its path, or the name pack gives it)
    section: str
    index: int  # libbpf's "relo #N" within the section
    code: ReasonCode  # why libbpf refuses it
    reason: str  # libbpf's words, "<section>: relo #N: ..."
    #: source type ids of the candidates kept so that libbpf meets the same failure
    kept: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.object_name}: {self.reason}"

    @property
    def warning(self) -> str:
        """The one line ``minimize`` and ``pack`` show for it."""
        return f"{LOAD_FAILURE}: {self}"

    def to_json(self) -> dict[str, object]:
        return {
            "object": self.object_name,
            "section": self.section,
            "relo": self.index,
            "code": self.code.value,
            "reason": self.reason,
            "kept_candidates": list(self.kept),
        }


@dataclass(frozen=True, slots=True)
class MinimizeResult:
    """Minimized raw BTF plus what happened on the way."""

    data: bytes
    #: source type id -> id in ``data``
    id_map: dict[int, int]
    #: one line per relocation or type where bpftool would have failed (except ``failures``)
    warnings: tuple[str, ...]
    #: relocations resolved, and how many of them found no target (poisoned or "not there")
    relocations: int
    unmatched: int
    #: relocations libbpf refuses with the full BTF and, as kept, with this one too (default
    #: mode; with ``first_match`` they are warnings naming the choice instead)
    failures: tuple[LoadFailure, ...] = ()

    @property
    def type_count(self) -> int:
        return len(self.id_map)


def _describe_choice(res: Resolution) -> str:
    assert res.failure is not None
    chosen = f"; kept the first match {format_spec(res.target_spec)}" if res.target_spec else ""
    return f"{res.failure.reason}{chosen}"


def _check_modes(strict: bool, first_match: bool) -> None:
    if strict and first_match:
        raise UsageError(
            "strict and first-match exclude each other: strict fails where first-match would choose"
        )


def _keep_participants(
    recorder: Recorder,
    source: Btf,
    res: Resolution,
    earlier: list[Resolution],
    context: str,
) -> tuple[int, ...]:
    """Mark what libbpf needs to meet ``res``'s failure again; the candidates kept."""
    kept = res.participants
    for cand in kept:
        # The candidate survived the pruning of every earlier relocation on this root in full:
        # keep what each of them matched in it, so it survives the same pruning in ours.
        for prior in earlier:
            assert prior.local_spec is not None
            spec = candidate_spec(prior.local_spec, source, cand)
            if spec is not None:
                recorder.record(prior.relo.kind, spec, context)
        spec = None if res.local_spec is None else candidate_spec(res.local_spec, source, cand)
        if spec is not None:
            recorder.record(res.relo.kind, spec, context)
        elif res.relo.kind.is_field_based:
            recorder.keep_by_value(cand, context)  # its match fails: keep what it searches
        elif res.relo.kind == CoreReloKind.TYPE_MATCHES:
            recorder.mark_type_match(cand, False, context)
        else:
            recorder.mark_type(cand, res.relo.kind.is_type_based, context)
    return kept


def record_objects(
    source: Btf,
    objects: Sequence[BpfObject],
    *,
    strict: bool = False,
    first_match: bool = False,
    failures: list[LoadFailure] | None = None,
) -> tuple[Recorder, int, int]:
    """Phase 1 for every object: the recorder with its marks, relocation and unmatched counts.

    The first relocation libbpf refuses in an object is appended to ``failures`` and ends that
    object (default mode: libbpf stops there too); with ``first_match`` each failing relocation
    becomes a warning naming the first match kept; ``strict`` raises.
    """
    _check_modes(strict, first_match)
    recorder = Recorder(source, strict=strict)
    total = unmatched = 0
    for obj in objects:
        obj.require_ext()
        # local root id -> this object's earlier relocations on it that pruned its candidates
        pruned_by: dict[int, list[Resolution]] = {}
        resolutions = resolve_all(obj.btf, obj.core_relos, source)
        total += len(resolutions)
        for res in resolutions:
            context = f"{obj.source}: {res.relo.section}: relo #{res.index}"
            if res.failure is not None:
                if strict:
                    raise MinimizeError(f"{obj.source}: {res.failure.reason}")
                if first_match:
                    recorder.warnings.append(f"{obj.source}: {_describe_choice(res)}")
                    recorder.record(res.relo.kind, res.target_spec, context)
                    continue
                earlier = pruned_by.get(res.relo.type_id, [])
                kept = _keep_participants(recorder, source, res, earlier, context)
                if failures is not None:
                    failures.append(
                        LoadFailure(
                            str(obj.source),
                            res.relo.section,
                            res.index,
                            res.failure.code,
                            res.failure.reason,
                            kept,
                        )
                    )
                # libbpf's bpf_object__relocate_core (and bpftool) stop at an object's first
                # failing relocation: the rest is never decided, so nothing of it is kept.
                break
            if res.target_spec is None:
                unmatched += 1
            else:
                pruned_by.setdefault(res.relo.type_id, []).append(res)
            recorder.record(res.relo.kind, res.target_spec, context)
    return recorder, total, unmatched


def minimize(
    source: Btf,
    objects: Sequence[BpfObject],
    *,
    strict: bool = False,
    first_match: bool = False,
) -> MinimizeResult:
    """Minimize ``source`` for ``objects`` (pure: parsed inputs in, bytes out)."""
    failures: list[LoadFailure] = []
    recorder, total, unmatched = record_objects(
        source, objects, strict=strict, first_match=first_match, failures=failures
    )
    warnings = list(recorder.warnings)
    data, id_map = emit(source, recorder.marks, strict=strict, warnings=warnings)
    return MinimizeResult(data, id_map, tuple(warnings), total, unmatched, tuple(failures))


def minimize_files(
    kernel: str | os.PathLike[str],
    objects: Sequence[str | os.PathLike[str]],
    *,
    strict: bool = False,
    first_match: bool = False,
    cache: BtfCache | None = None,
) -> MinimizeResult:
    """Minimize the kernel BTF at ``kernel`` (.btf, .btf.tar.xz, sysfs) for object files;
    with ``cache``, the kernel is opened through it (decompressed once per content)."""
    _check_modes(strict, first_match)
    if not objects:
        raise MinimizeError("no BPF objects given")
    source = load_btf(kernel) if cache is None else cache.open(kernel)[0]
    opened = [BpfObject.open(p) for p in objects]
    for path, obj in zip(objects, opened, strict=True):
        # libbpf loads an object only on a kernel of its own byte order; a minimized BTF for
        # the other one would ship a program that can never load (check says so too).
        if obj.byte_order != source.byte_order:
            target = "bpfel" if source.byte_order == "little" else "bpfeb"
            raise MinimizeError(
                f"{path}: the object is {obj.byte_order}-endian, the kernel {kernel} "
                f"{source.byte_order}-endian: build it with -target {target}"
            )
    return minimize(source, opened, strict=strict, first_match=first_match)


Marks = Marks  # re-exported for callers that drive the phases themselves
