"""Minimize kernel BTF to what a set of BPF objects' CO-RE relocations need.

The pure-Python equivalent of ``bpftool gen min_core_btf INPUT OUTPUT OBJECT...``: for each object
(in order, each with its own candidate cache) every relocation is resolved against the kernel
BTF exactly as libbpf does (:mod:`btfhub_mirror.btf.core`), the first matching candidate's target
spec is recorded (:mod:`.record`), then the marked types are written out (:mod:`.emit`). With the
same inputs the bytes equal Debian bpftool 7.1's output.

Where bpftool aborts (ambiguous relocations on kernels with duplicate types, a FWD or TYPE_TAG
reached by a type relocation), the default is to keep going: the first matching candidate is
kept, the offending type is kept, and a warning names the relocation and the choice.
``strict=True`` raises :class:`MinimizeError` instead, as bpftool fails.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..btf.core import Resolution, format_spec, resolve_all
from ..btf.load import load_btf
from ..btf.parse import Btf
from ..elf import BpfObject
from .emit import emit
from .record import Marks, MinimizeError, Recorder

__all__ = ["MinimizeError", "MinimizeResult", "minimize", "minimize_files", "record_objects"]


@dataclass(frozen=True, slots=True)
class MinimizeResult:
    """Minimized raw BTF plus what happened on the way."""

    data: bytes
    #: source type id -> id in ``data``
    id_map: dict[int, int]
    #: one line per relocation or type where bpftool would have failed
    warnings: tuple[str, ...]
    #: relocations resolved, and how many of them found no target (poisoned or "not there")
    relocations: int
    unmatched: int

    @property
    def type_count(self) -> int:
        return len(self.id_map)


def _describe_choice(res: Resolution) -> str:
    assert res.failure is not None
    chosen = f"; kept the first match {format_spec(res.target_spec)}" if res.target_spec else ""
    return f"{res.failure.reason}{chosen}"


def record_objects(
    source: Btf, objects: Sequence[BpfObject], *, strict: bool = False
) -> tuple[Recorder, int, int]:
    """Phase 1 for every object: the recorder with its marks, relocation and unmatched counts."""
    recorder = Recorder(source, strict=strict)
    total = unmatched = 0
    for obj in objects:
        if obj.ext is None:
            raise MinimizeError(f"{obj.source}: section .BTF.ext not found (built without -g?)")
        # libbpf sets an ELF object's pointer size from its ELF class; BPF objects are 64-bit.
        obj.btf.derived.setdefault("ptr_size", 8)
        for res in resolve_all(obj.btf, obj.core_relos, source):
            total += 1
            context = f"{obj.source}: {res.relo.section}: relo #{res.index}"
            if res.failure is not None:
                if strict:
                    raise MinimizeError(f"{obj.source}: {res.failure.reason}")
                recorder.warnings.append(f"{obj.source}: {_describe_choice(res)}")
            elif res.target_spec is None:
                unmatched += 1
            recorder.record(res.relo.kind, res.target_spec, context)
    return recorder, total, unmatched


def minimize(source: Btf, objects: Sequence[BpfObject], *, strict: bool = False) -> MinimizeResult:
    """Minimize ``source`` for ``objects`` (pure: parsed inputs in, bytes out)."""
    recorder, total, unmatched = record_objects(source, objects, strict=strict)
    warnings = list(recorder.warnings)
    data, id_map = emit(source, recorder.marks, strict=strict, warnings=warnings)
    return MinimizeResult(data, id_map, tuple(warnings), total, unmatched)


def minimize_files(
    kernel: str | os.PathLike[str],
    objects: Sequence[str | os.PathLike[str]],
    *,
    strict: bool = False,
) -> MinimizeResult:
    """Minimize the kernel BTF at ``kernel`` (.btf, .btf.tar.xz, sysfs) for object files."""
    if not objects:
        raise MinimizeError("no BPF objects given")
    source = load_btf(kernel)
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
    return minimize(source, opened, strict=strict)


Marks = Marks  # re-exported for callers that drive the phases themselves
