"""``btfmirror check``: on which kernels will these BPF objects fail?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from btfhub_mirror.fsutil import check_output_path, write_atomic
from btfhub_mirror.progress import count

from ._console import console, print_json
from ._errors import ExitCode, handle_errors
from ._filters import ArchOption, DistroOption, KernelsOption, VersionOption, kernel_filter
from ._options import JsonOption, NoWaitOption, ObjectsArgument
from ._progress import RichProgress
from ._table import fits, kernel_sort_key, record, soft_wrap

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from btfhub_mirror.check import CheckResult, KernelReport

_STYLES = {"ok": "green", "degraded": "yellow", "fails": "bold red"}
_STATE_STYLES = {
    "resolved": "green",
    "missing": "dim",
    "guarded": "yellow",
    "zero": "yellow",
    "poisoned": "bold red",
    "error": "bold red",
}


@handle_errors
def check_command(
    objects: ObjectsArgument,
    distro: DistroOption = None,
    version: VersionOption = None,
    arch: ArchOption = None,
    kernels: KernelsOption = None,
    btf: Annotated[
        list[Path] | None,
        typer.Option(
            "--btf",
            metavar="FILE",
            help="Also check against this kernel BTF (.btf, .btf.tar.xz, vmlinux). Repeatable.",
        ),
    ] = None,
    detail: Annotated[
        str | None,
        typer.Option(
            "--detail",
            "-D",
            metavar="KERNEL",
            help="Show every relocation and feature for this kernel (label or release).",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", metavar="FILE", help="Write a self-contained HTML report."),
    ] = None,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Say on which kernels BPF objects will load: relocations, maps, helpers, programs.

    Kernels: the catalog selection (fetched when missing), or every local kernel, and --btf files.
    Verdicts: ok, degraded (guarded code is skipped on that kernel) or fails.
    Exit status 6 when any kernel fails, so CI can gate on it (1 is any other error).
    """
    from btfhub_mirror.btf.cache import BtfCache
    from btfhub_mirror.check import check, render_html  # heavy: load on use

    flt = kernel_filter(distro, version, arch, kernels)
    if html is not None:
        check_output_path(html)  # before the work, not after it
    with RichProgress() as progress:
        result = check(
            objects,
            flt=flt,
            btf_files=btf or (),
            wait=not no_wait,
            progress=progress,
            btf_cache=BtfCache.default(),
        )
    if html is not None:
        write_atomic(html, render_html(result).encode(), parents=False)
    if as_json:
        print_json(result.to_json())
    else:
        _print_summary(result)
        if detail is not None or len(result.kernels) == 1:
            _print_detail(result, result.kernel(detail) if detail else result.kernels[0])
    if result.failed:
        raise typer.Exit(ExitCode.CHECK_FAILED)  # CI gates on it


def _sorted(result: CheckResult) -> list[KernelReport]:
    return sorted(
        result.kernels,
        key=lambda k: kernel_sort_key(
            k.kernel.distro, k.kernel.version, k.kernel.arch, k.kernel.release, k.kernel.label
        ),
    )


def _print_summary(result: CheckResult) -> None:
    from rich.table import Table  # rich loads on use
    from rich.text import Text

    kernels = _sorted(result)
    table = Table("kernel", "verdict", "relocations", "first reasons")
    for k in kernels:
        counts = ", ".join(f"{n} {state}" for state, n in k.counts().items() if n)
        reasons = "\n".join(k.reasons[:2]) + (
            f"\n… {len(k.reasons) - 2} more" if len(k.reasons) > 2 else ""
        )
        table.add_row(
            Text(k.kernel.label),
            Text(k.verdict.value, style=_STYLES[k.verdict.value]),
            Text(counts),
            Text(reasons),
        )
    if fits(table, console):
        console.print(table)
    else:  # a pipe, a CI log, a narrow terminal: one kernel per line, its reasons under it
        wrap = soft_wrap(console)
        for k in kernels:
            counts = ", ".join(f"{n} {state}" for state, n in k.counts().items() if n)
            line = Text(f"{k.kernel.label}: ")
            line.append(k.verdict.value, style=_STYLES[k.verdict.value])
            line.append(f" ({counts})" if counts else "")
            console.print(line, soft_wrap=wrap)
            for reason in k.reasons[:2]:
                console.print(f"  {reason}", markup=False, soft_wrap=wrap)
            if len(k.reasons) > 2:
                console.print(f"  … {len(k.reasons) - 2} more", markup=False, soft_wrap=wrap)
    tally = result.tally()
    console.print(
        f"{count(len(result.kernels), 'kernel')}: {tally['ok']} ok, {tally['degraded']} degraded, "
        f"{tally['fails']} fail ({result.seconds:.1f} s)",
        markup=False,
        soft_wrap=True,
    )


def _print_detail(result: CheckResult, report: KernelReport) -> None:
    from rich.table import Table
    from rich.text import Text

    console.print(
        Text(f"\n{report.kernel.label}: {report.verdict.value}", style="bold"), soft_wrap=True
    )
    table = Table("object", "section", "#", "kind", "path", "state", "target / detail")
    records = []
    for row, out in zip(result.rows.relocations, report.relocations, strict=True):
        style = _STATE_STYLES[out.state.value]
        target = out.target or out.detail or ""
        table.add_row(
            row.object,
            row.section,
            str(row.index),
            row.kind,
            Text(row.path),
            Text(out.state.value, style=style),
            Text(target),
        )
        line = Text(record(row.object, row.section, f"#{row.index}", row.kind, row.path) + ": ")
        line.append(out.state.value, style=style)
        line.append(f" ({target})" if target else "")
        records.append(line)
    _table_or_records(table, records)
    features = Table("object", "needs", "what", "on this kernel")
    records = []
    for frow, fout in zip(result.rows.features, report.features, strict=True):
        state = {True: ("yes", "green"), False: ("MISSING", "bold red"), None: ("?", "dim")}[
            fout.available
        ]
        if fout.degraded:
            state = ("weak, missing", "yellow")
        verdict = Text(
            state[0] + (f": {fout.detail}" if fout.available is not True or fout.degraded else ""),
            style=state[1],
        )
        features.add_row(
            frow.object, frow.category, Text(f"{frow.subject}  {frow.requirement}"), verdict
        )
        line = Text(record(frow.object, frow.category, frow.subject, frow.requirement) + ": ")
        line.append(verdict)
        records.append(line)
    _table_or_records(features, records)


def _table_or_records(table: Table, records: list[Text]) -> None:
    if fits(table, console):
        console.print(table)
        return
    for line in records:
        console.print(line, soft_wrap=soft_wrap(console))
