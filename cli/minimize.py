"""``btfmirror minimize``: bpftool gen min_core_btf, in pure Python."""

from __future__ import annotations

from pathlib import Path

import typer

from btfhub_mirror.fsutil import check_output_path, write_atomic

from ._console import console, err_console, print_json
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
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Keep only the BTF types and members the objects' CO-RE relocations need.

    The output is byte-identical to `bpftool gen min_core_btf KERNEL_BTF OUT OBJ...`. Where
    bpftool aborts, btfmirror keeps the first matching candidate (or the unsupported type),
    writes a valid BTF and warns; --strict fails instead.
    """
    from btfhub_mirror.minimize import minimize_files  # load on use

    check_output_path(output)
    result = minimize_files(kernel, objects, strict=strict)
    write_atomic(output, result.data, parents=False)
    if as_json:
        print_json(
            {
                "output": str(output),
                "bytes": len(result.data),
                "types": result.type_count,
                "relocations": result.relocations,
                "unmatched": result.unmatched,
                "warnings": list(result.warnings),
            }
        )
        return
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True)
    console.print(
        f"{output}: {len(result.data)} bytes, {result.type_count} types "
        f"for {result.relocations} relocations ({result.unmatched} without a match)",
        markup=False,
        soft_wrap=True,
    )
