"""``btfmirror pack``: minimized BTF for the chosen kernels, in one archive."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from btfhub_mirror.archive import ARCHIVE_SUFFIX
from btfhub_mirror.progress import count

from ._btf_header import BtfHeader, BtfHeaderOption
from ._console import console, err_console, print_json
from ._errors import handle_errors
from ._filters import ArchOption, DistroOption, KernelsOption, VersionOption, kernel_filter
from ._options import NoWaitOption, ObjectsArgument
from ._progress import RichProgress
from ._table import columns_fit, path_sort_key, print_columns, print_lines, record
from .mirror import human_bytes

if TYPE_CHECKING:
    from btfhub_mirror.pack import PackedKernel, PackResult, PackWarning


#: From this many kernels with the same warning on, the terminal gets one line for all of them
#: (--json keeps one per kernel).
GROUP_WARNINGS_FROM = 3
#: Object or kernel names one warning line shows before "and N more" (--json has them all).
FIRST_NAMES = 3
#: Warning lines the terminal shows at most; the rest are counted in one more line.
MAX_WARNING_LINES = 12


def first_names(names: Sequence[str], shown: int = FIRST_NAMES) -> str:
    """``a, b, c and 68 more``: at most ``shown`` names, the rest counted."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def _objects(names: tuple[str, ...]) -> str:
    """A warning's object list for the terminal: past the first few, counted."""
    if len(names) <= FIRST_NAMES:
        return ", ".join(names)
    return f"{len(names)} objects ({first_names(names)})"


def _short(warning: PackWarning) -> str:
    """The warning without its kernel, its object list cut to the first few."""
    return warning.render(_objects)


def warning_lines(warnings: Sequence[PackWarning]) -> list[str]:
    """Short lines for the terminal: kernels sharing a warning folded into one line, names
    cut to the first few, at most :data:`MAX_WARNING_LINES` lines."""
    by_message: dict[str, list[str]] = {}
    for warning in warnings:
        by_message.setdefault(_short(warning), []).append(warning.kernel)
    lines = []
    for message, kernels in by_message.items():
        if len(kernels) < GROUP_WARNINGS_FROM:
            lines += [f"{k}: {message}" for k in kernels]
        else:
            lines.append(f"{len(kernels)} kernels ({first_names(kernels, 2)}): {message}")
    if len(lines) > MAX_WARNING_LINES:
        hidden = len(lines) - MAX_WARNING_LINES + 1
        lines[MAX_WARNING_LINES - 1 :] = [
            f"{hidden} more warning lines ({len(warnings)} warnings in all: pack --json lists "
            "each, with its kernel, objects and relocations)"
        ]
    return lines


def _note(kernel: PackedKernel) -> str:
    if kernel.member is None:
        return "NOT PACKED"
    notes = ["hard link"] if kernel.link_to else []
    if kernel.aliases:
        reasons = dict.fromkeys(r for a in kernel.aliases for r in a.reasons)
        n = len(kernel.aliases)
        notes.append(f"+{n} {'alias' if n == 1 else 'aliases'} ({', '.join(reasons)})")
    return ", ".join(notes)


def _render(result: PackResult) -> None:
    kernels = sorted(result.kernels, key=lambda k: path_sort_key(k.path))
    rows = [
        (
            k.path.removesuffix(ARCHIVE_SUFFIX),
            str(k.size) if k.member else "-",
            (k.sha256 or "")[:12],
            str(k.relocations - k.unmatched) + f"/{k.relocations}",
            _note(k),
        )
        for k in kernels
    ]
    headers = ("kernel", "bytes", "sha256", "relocs", "note")
    if columns_fit(headers, rows, console):
        print_columns(headers, rows, console)
    else:  # a pipe, a CI log, a narrow terminal: one kernel per line, nothing cut
        print_lines(
            (
                record(
                    name,
                    f"{size} bytes" if size != "-" else "",
                    f"sha256 {sha}" if sha else "",
                    f"{relocs} relocations",
                    note,
                )
                for name, size, sha, relocs, note in rows
            ),
            console,
        )
    for warning in warning_lines(result.pack_warnings):
        err_console.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True)
    console.print(
        f"{result.output}: {count(len(result.packed), 'kernel')}, {result.distinct} distinct BTF "
        f"({human_bytes(result.btf_bytes)} unpacked), {human_bytes(result.archive_bytes)} "
        f"{result.compression} in {result.seconds:.1f} s",
        markup=False,
        soft_wrap=True,
    )


@handle_errors
def pack_command(
    objects: ObjectsArgument,
    distro: DistroOption = None,
    version: VersionOption = None,
    arch: ArchOption = None,
    kernels: KernelsOption = None,
    package_json: Annotated[
        Path | None,
        typer.Option("--package-json", "-j", help="Stored as ./package.json (checked as JSON)."),
    ] = None,
    consumer: Annotated[
        str | None,
        typer.Option(
            "--for",
            metavar="CONSUMER",
            help="The loader that reads the package: bpf-compatible (the default), ecli, bcc, "
            "inspektor-gadget or dir (a directory tree). It fixes names, compression and "
            "-o's suffix.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The package (default min_core_btfs.tar.gz, .tar for ecli; a directory for "
            "dir). Without --for: .tar.gz, .tar.xz, .tar.zst or .tar.",
        ),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", help="Worker processes (default: CPU count).")
    ] = None,
    hardlinks: Annotated[
        bool,
        typer.Option(
            "--hardlinks",
            help="Store identical files once, as hard links (only for readers that follow "
            "them: --for ecli).",
        ),
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail if bpftool would refuse any kernel.")
    ] = False,
    first_match: Annotated[
        bool,
        typer.Option(
            "--first-match",
            help="Where libbpf refuses a relocation with the full BTF, keep the first matching "
            "candidate (loadable, but not libbpf's decision) instead of the same failure.",
        ),
    ] = False,
    no_wait: NoWaitOption = False,
    btf_header: BtfHeaderOption = BtfHeader.classic,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Minimize the selected kernels' BTF for OBJ... and write one archive.

    Kernels not yet local are fetched first, as sync does.
    With no selection, every kernel already local is packed.

    Layout: ./package.json, ./btfmirror.json (the manifest) and
    ./btfhub-archive/<ID>/<VERSION_ID>/<arch>/<uname -r>.btf, plus the names the
    consumer's reader computes (aarch64 for arm64, a quoted ID...); --for bcc and
    inspektor-gadget drop btfhub-archive/ (inspektor-gadget and dir also ./).

    The same inputs give the same bytes (mtime: $SOURCE_DATE_EPOCH or 0).
    """
    from btfhub_mirror.mirror import Store
    from btfhub_mirror.pack import default_output, pack  # heavy: load on use

    flt = kernel_filter(distro, version, arch, kernels)
    with RichProgress() as progress:
        result = pack(
            Store.default(),
            objects,
            output or default_output(consumer),
            flt,
            consumer=consumer,
            package_json=package_json,
            jobs=jobs,
            hardlinks=hardlinks,
            strict=strict,
            first_match=first_match,
            wait=not no_wait,
            progress=progress,
            btf_header=btf_header.length,
        )
    if as_json:
        print_json(result.to_json())
    else:
        _render(result)
