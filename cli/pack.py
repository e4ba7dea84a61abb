"""``btfmirror pack``: minimized BTF for the chosen kernels, in one archive."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from btfhub_mirror.mirror import Store
from btfhub_mirror.progress import count

from ._btf_header import BtfHeader, BtfHeaderOption
from ._console import console, err_console, print_json
from ._errors import handle_errors
from ._filters import ArchOption, DistroOption, KernelsOption, VersionOption, kernel_filter
from ._progress import RichProgress
from .mirror import human_bytes

if TYPE_CHECKING:
    from btfhub_mirror.pack import PackedKernel, PackResult


#: From this many kernels with the same warning on, the terminal gets one line for all of them
#: (--json keeps one per kernel).
GROUP_WARNINGS_FROM = 3


def grouped_warnings(warnings: tuple[str, ...] | list[str]) -> list[str]:
    """``"<kernel>: <message>"`` lines, those sharing a message folded into one line."""
    by_message: dict[str, list[str]] = {}
    for warning in warnings:
        kernel, sep, message = warning.partition(": ")
        by_message.setdefault(message if sep else warning, []).append(kernel if sep else "")
    lines = []
    for message, kernels in by_message.items():
        if len(kernels) < GROUP_WARNINGS_FROM or not all(kernels):
            lines += [f"{k}: {message}" if k else message for k in kernels]
        else:
            lines.append(
                f"{len(kernels)} kernels ({kernels[0]}, {kernels[1]} and "
                f"{len(kernels) - 2} more): {message}"
            )
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
    rows = [
        (
            k.path.removesuffix(".btf.tar.xz"),
            str(k.size) if k.member else "-",
            (k.sha256 or "")[:12],
            str(k.relocations - k.unmatched) + f"/{k.relocations}",
            _note(k),
        )
        for k in result.kernels
    ]
    headers = ("kernel", "bytes", "sha256", "relocs", "note")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in (headers, *rows)]  # fmt: skip
    console.print(lines[0], style="bold", markup=False, soft_wrap=True)
    console.file.write("".join(f"{line}\n" for line in lines[1:]))  # fast on 10,000 kernels
    for warning in grouped_warnings(result.warnings):
        err_console.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True)
    console.print(
        f"{result.output}: {count(len(result.packed), 'kernel')}, {result.distinct} distinct BTF "
        f"({human_bytes(result.btf_bytes)} unpacked), {human_bytes(result.archive_bytes)} "
        f"{result.compression} in {result.seconds:.1f} s",
        markup=False, soft_wrap=True,
    )  # fmt: skip


@handle_errors
def pack_command(
    objects: Annotated[
        list[Path], typer.Argument(metavar="OBJ...", help="BPF objects (clang -g).")
    ],
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
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Fail instead of waiting for another run.")
    ] = False,
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
    from btfhub_mirror.pack import default_output, pack  # heavy: load on use

    flt = kernel_filter(distro, version, arch, kernels)
    with RichProgress() as progress:
        result = pack(
            Store.default(), objects, output or default_output(consumer), flt,
            consumer=consumer, package_json=package_json, jobs=jobs, hardlinks=hardlinks,
            strict=strict, first_match=first_match, wait=not no_wait, progress=progress,
            btf_header=btf_header.length,
        )  # fmt: skip
    if as_json:
        print_json(result.to_json())
    else:
        _render(result)
