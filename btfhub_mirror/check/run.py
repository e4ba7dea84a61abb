"""``btfmirror check``: open the objects and the selected kernels, collect the verdicts."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..btf.index import open_indexed
from ..btf.load import load_btf
from ..btf.parse import Btf
from ..elf import BpfObject
from ..errors import NotFoundError, Param, UsageError
from ..kernels import KernelFilter
from ..progress import NULL_PROGRESS, Progress
from .verdict import Checker, CheckRows, KernelRef, KernelReport, Verdict

if TYPE_CHECKING:
    # The mirror and its SQLite catalog load only when catalog kernels are checked: `check
    # --btf FILE` alone never needs them.
    from ..btf.cache import BtfCache
    from ..mirror.store import Store

JSON_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Every selected kernel's verdict for a set of objects."""

    rows: CheckRows
    kernels: tuple[KernelReport, ...]
    seconds: float

    @property
    def failed(self) -> bool:
        """Whether any kernel fails (the command's exit status)."""
        return any(k.verdict is Verdict.FAILS for k in self.kernels)

    def tally(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for report in self.kernels:
            out[report.verdict.value] += 1
        return out

    def kernel(self, name: str) -> KernelReport:
        """The report whose label (or release, or path) is ``name``, or the one it names
        unambiguously as a substring."""
        exact = [
            k for k in self.kernels if name in (k.kernel.label, k.kernel.release, k.kernel.path)
        ]
        found = exact or [k for k in self.kernels if name in k.kernel.label]
        if len(found) == 1:
            return found[0]
        if not found:
            raise NotFoundError(f"no checked kernel matches {name!r}")
        labels = ", ".join(k.kernel.label for k in found[:5])
        raise UsageError(f"{name!r} matches {len(found)} kernels ({labels}...): be more precise")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": JSON_SCHEMA,
            "objects": list(self.rows.objects),
            "failed": self.failed,
            "verdicts": self.tally(),
            "seconds": round(self.seconds, 3),
            "kernels": [k.to_json(self.rows) for k in self.kernels],
        }


def _catalog_kernels(
    flt: KernelFilter, store: Store, wait: bool, progress: Progress, with_files: bool
) -> Generator[tuple[KernelRef, Btf, bool | None], None, None]:
    from ..mirror.held import SELECT_HINT, held_local

    hint = (*SELECT_HINT, ", or give ", Param("btf_files"), " FILE")
    # The catalog comes first: a selection that matches nothing fails before any file is
    # checked, and must say so rather than leave a CI gate believing the files passed.
    unmatched = (
        (
            "; nothing was checked, the ",
            Param("btf_files"),
            " files neither (without a selection they are checked alone)",
        )
        if with_files
        else ()
    )
    # Shared cache lock while the archives are read: a sync waits (see mirror/held.py).
    with held_local(store, flt, progress, wait=wait, hint=hint, unmatched=unmatched) as entries:
        progress.phase("checking kernels", len(entries))
        for e in entries:
            assert e.local_path is not None
            label = f"{e.distro}/{e.version}/{e.arch}/{e.release}"
            try:
                btf, reused = open_indexed(e.local_path, index_dir=store.index_dir_for(e))
            except FileNotFoundError:
                raise NotFoundError(
                    f"{label}: the catalog lists {e.local_path} but the file is gone "
                    "(removed upstream, so it cannot be fetched again): narrow the selection"
                ) from None
            ref = KernelRef(label, str(e.local_path), e.distro, e.version, e.arch, e.release)
            yield ref, btf, reused
            progress.advance(1, label)


def _file_kernels(
    files: Sequence[str | os.PathLike[str]], progress: Progress, cache: BtfCache | None
) -> Generator[tuple[KernelRef, Btf, bool | None], None, None]:
    progress.phase("checking BTF files", len(files))
    for path in files:
        btf = load_btf(path) if cache is None else cache.open(path)[0]
        yield KernelRef(str(path), str(path)), btf, None
        progress.advance(1, str(path))


def check(
    objects: Sequence[str | os.PathLike[str]],
    *,
    flt: KernelFilter | None = None,
    btf_files: Sequence[str | os.PathLike[str]] = (),
    store: Store | None = None,
    wait: bool = True,
    progress: Progress = NULL_PROGRESS,
    btf_cache: BtfCache | None = None,
) -> CheckResult:
    """Check ``objects`` against the catalog kernels ``flt`` selects and the ``btf_files``.

    Catalog kernels are fetched when missing (like ``sync``) and opened through their saved
    index under ``<cache>/index/``; ``store`` defaults to the default cache. Without a filter
    and without files, every kernel already local is checked (as ``pack`` does); with files
    only, the catalog is not used. Kernels are opened one at a time; the files through
    ``btf_cache`` when given (decompressed once per content).
    """
    if not objects:
        raise UsageError("give at least one BPF object to check")
    started = time.monotonic()
    checker = Checker([BpfObject.open(p) for p in objects])
    sources: list[Generator[tuple[KernelRef, Btf, bool | None], None, None]] = []
    if not btf_files or (flt is not None and not flt.is_empty):
        from ..mirror.store import Store

        sources.append(
            _catalog_kernels(
                flt or KernelFilter.create(),
                store or Store.default(),
                wait,
                progress,
                with_files=bool(btf_files),
            )
        )
    if btf_files:
        sources.append(_file_kernels(btf_files, progress, btf_cache))
    for source in sources:
        # closing(): if checking raises, the generator (and the cache lock it holds) ends now.
        with contextlib.closing(source):
            for ref, btf, reused in source:
                checker.check_kernel(ref, btf, index_reused=reused)
    rows, reports = checker.reports()
    return CheckResult(rows, reports, time.monotonic() - started)
