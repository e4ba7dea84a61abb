"""``btfmirror relocs``: the CO-RE relocations of BPF objects."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from btfhub_mirror.elf import list_relocations

from ._console import print_json
from ._errors import handle_errors


@handle_errors
def relocs(
    objects: list[Path] = typer.Argument(
        ..., metavar="OBJ", help="BPF object files (clang -target bpf -g)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """List every CO-RE relocation: program section, instruction, kind and local C path.

    One line per relocation in .BTF.ext order (libbpf's order), as aligned columns that are
    never cut, so the output can be grepped or diffed.
    """
    rows = list_relocations(objects)
    if as_json:
        print_json({"relocations": [row.to_json() for row in rows]})
        return
    header = ["section", "insn", "kind", "path", "access"]
    lines = [[r.section, str(r.insn_index), r.kind.short_name, r.path, r.access_str] for r in rows]
    if len(objects) > 1:
        header.insert(0, "object")
        for line, row in zip(lines, rows, strict=True):
            line.insert(0, row.object)
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    out = sys.stdout
    for line in [header, *lines]:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            + "\n"
        )
