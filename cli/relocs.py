"""``btfmirror relocs``: the CO-RE relocations of BPF objects."""

from __future__ import annotations

from pathlib import Path

import typer

from ._console import print_json
from ._errors import handle_errors
from ._table import print_columns


@handle_errors
def relocs(
    objects: list[Path] = typer.Argument(
        ..., metavar="OBJ...", help="BPF object files (clang -target bpf -g)."
    ),
    btf: Path | None = typer.Option(
        None,
        "--btf",
        metavar="TARGET",
        help="Also show what each relocation resolves to on this kernel BTF (libbpf's rules).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """List every CO-RE relocation: program section, instruction, kind and local C path.

    One line per relocation in .BTF.ext order (libbpf's order), as aligned columns that are
    never cut, so the output can be grepped or diffed.
    """
    from btfhub_mirror.elf import list_relocations  # load on use

    if btf is not None:
        _print_resolved(objects, btf, as_json)
        return
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
    print_columns(header, lines)


def _print_resolved(objects: list[Path], btf: Path, as_json: bool) -> None:
    from btfhub_mirror.btf.cache import BtfCache
    from btfhub_mirror.resolve import resolve_files

    resolved = resolve_files(objects, btf, BtfCache.default())
    if as_json:
        print_json({"target": str(btf), "relocations": [r.to_json() for r in resolved]})
        return
    header = ["section", "insn", "kind", "path", "status", "value", "target / reason"]
    lines = []
    for r in resolved:
        value = (
            ""
            if r.orig_val is None
            else f"{r.orig_val} -> " + ("poison" if r.poisoned else str(r.new_val))
        )
        lines.append(
            [
                r.row.section,
                str(r.row.insn_index),
                r.row.kind.short_name,
                r.row.path,
                r.status,
                value,
                r.target or r.reason or "",
            ]
        )
    if len(objects) > 1:
        header.insert(0, "object")
        for line, r in zip(lines, resolved, strict=True):
            line.insert(0, r.row.object)
    print_columns(header, lines)
