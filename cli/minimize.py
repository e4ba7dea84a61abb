"""``btfmirror minimize``: bpftool gen min_core_btf, in pure Python."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from btfhub_mirror.fsutil import check_output_path, write_atomic

from ._btf_header import BtfHeader, BtfHeaderOption
from ._console import err_console, print_json
from ._errors import handle_errors


@handle_errors
def minimize(
    kernel: Path = typer.Argument(
        ..., metavar="KERNEL_BTF", help=".btf, .btf.tar.xz or /sys/kernel/btf/vmlinux."
    ),
    objects: list[Path] = typer.Argument(..., metavar="OBJ...", help="BPF objects (clang -g)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the minimized BTF."),
    strict: bool = typer.Option(
        False, "--strict", help="Fail wherever bpftool would (ambiguity, FWD, TYPE_TAG)."
    ),
    btf_header: BtfHeaderOption = BtfHeader.classic,
    first_match: bool = typer.Option(
        False,
        "--first-match",
        help="Where libbpf refuses a relocation with the full BTF, keep the first matching "
        "candidate (loadable, but not libbpf's decision) instead of the same failure.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Keep only the BTF types and members the objects' CO-RE relocations need.

    The output is byte-identical to `bpftool gen min_core_btf KERNEL_BTF OUT OBJ...` of
    bpftool 7.1 and 7.5, or with --btf-header 32 of bpftool 7.8. Where
    bpftool aborts because libbpf refuses a relocation (ambiguity, nesting too deep, a bitfield
    no load covers), btfmirror keeps what makes libbpf refuse it the same way and warns that
    the program will fail to load, as with the full BTF; --first-match keeps the first matching
    candidate instead. Where only bpftool aborts (FWD, TYPE_TAG), the type is kept with a
    warning. --strict fails wherever bpftool does.
    """
    from btfhub_mirror.btf.cache import BtfCache  # load on use
    from btfhub_mirror.btf.write import with_header_len
    from btfhub_mirror.minimize import minimize_files

    check_output_path(output)
    result = minimize_files(
        kernel, objects, strict=strict, first_match=first_match, cache=BtfCache.default()
    )
    data = with_header_len(result.data, btf_header.length)
    write_atomic(output, data, parents=False)
    if as_json:
        print_json(
            {
                "output": str(output),
                "bytes": len(data),
                "types": result.type_count,
                "relocations": result.relocations,
                "unmatched": result.unmatched,
                "warnings": list(result.warnings),
                "load_failures": [f.to_json() for f in result.failures],
            }
        )
        return
    for warning in [*(f.warning for f in result.failures), *result.warnings]:
        err_console.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True)
    # Plain text, as rich would print it without markup: rich is not even imported for it.
    sys.stdout.write(
        f"{output}: {len(data)} bytes, {result.type_count} types "
        f"for {result.relocations} relocations ({result.unmatched} without a match)\n"
    )
