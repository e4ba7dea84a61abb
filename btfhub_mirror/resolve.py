"""What each CO-RE relocation of some objects resolves to on one kernel (``relocs --btf``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .btf.core import ReasonCode, RelocState, Resolution, format_spec_target, resolve_all
from .btf.load import load_btf
from .btf.parse import Btf
from .elf import BpfObject, RelocationRow, relocation_row

if TYPE_CHECKING:
    from .btf.cache import BtfCache


@dataclass(frozen=True, slots=True)
class ResolvedRelocation:
    """A relocation and libbpf's decision for it on one target BTF."""

    row: RelocationRow
    state: RelocState  # never GUARDED here: that is check's look at the program
    target: str | None  # the first matching candidate, as libbpf prints it
    orig_val: int | None
    new_val: int | None
    poisoned: bool
    reason: str | None
    code: ReasonCode | None = None  # with state ERROR: why libbpf refuses it

    @property
    def status(self) -> str:
        """ "resolved", "unresolved" (no candidate matched: poisoned or a zero answer) or
        "error": :attr:`RelocState.status`."""
        return self.state.status

    def to_json(self) -> dict[str, Any]:
        return {
            **self.row.to_json(),
            "status": self.status,
            "target": self.target,
            "orig_val": self.orig_val,
            "new_val": self.new_val,
            "poisoned": self.poisoned,
            "reason": self.reason,
            "code": None if self.code is None else self.code.value,
        }


def describe_resolution(obj: BpfObject, res: Resolution) -> ResolvedRelocation:
    """One :class:`Resolution` as a flat, printable record."""
    row = relocation_row(obj, res.relo)
    target = format_spec_target(res.target_spec) if res.target_spec else None
    state = res.state
    if res.failure is not None:
        failure = res.failure
        return ResolvedRelocation(
            row, state, target, None, None, False, failure.reason, failure.code
        )
    result = res.result
    assert result is not None
    if state is RelocState.RESOLVED:
        return ResolvedRelocation(row, state, target, result.orig_val, result.new_val, False, None)
    if result.poison:
        reason = "no matching type in the kernel: the instruction is poisoned"
        return ResolvedRelocation(row, state, None, result.orig_val, None, True, reason)
    reason = f"no matching type in the kernel: evaluates to {result.new_val}"
    return ResolvedRelocation(row, state, None, result.orig_val, result.new_val, False, reason)


def resolve_objects(objects: Sequence[BpfObject], target: Btf) -> list[ResolvedRelocation]:
    """Resolve every object's relocations against ``target`` (pure)."""
    out: list[ResolvedRelocation] = []
    for obj in objects:
        obj.require_ext()
        resolutions = resolve_all(obj.btf, obj.core_relos, target)
        out.extend(describe_resolution(obj, r) for r in resolutions)
    return out


def resolve_files(
    objects: Sequence[str | os.PathLike[str]],
    kernel: str | os.PathLike[str],
    cache: BtfCache | None = None,
) -> list[ResolvedRelocation]:
    """Open the objects and the kernel BTF (through ``cache`` if given), then
    :func:`resolve_objects`."""
    opened = [BpfObject.open(p) for p in objects]  # first: a bad object is reported first
    return resolve_objects(opened, load_btf(kernel) if cache is None else cache.open(kernel)[0])
