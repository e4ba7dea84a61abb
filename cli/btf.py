"""``btfmirror btf ...``: inspect BTF files."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path

import typer

from ._errors import handle_errors

app = typer.Typer(help="Inspect BTF files.", no_args_is_help=True)


class DumpFormat(str, Enum):
    raw = "raw"
    json = "json"


@app.command("dump")
@handle_errors
def dump(
    file: Path = typer.Argument(
        ..., help="A .btf, .btf.tar.xz, ELF with .BTF, or /sys/kernel/btf/vmlinux."
    ),
    fmt: DumpFormat = typer.Option(
        DumpFormat.raw, "--format", "-f", help="raw: bpftool's text; json: bpftool -j's shape."
    ),
    base: Path | None = typer.Option(
        None, "--base", "-B", help="Base BTF when FILE is split BTF (a kernel module's)."
    ),
) -> None:
    """Print every type, exactly as `bpftool btf dump file FILE` does."""
    from btfhub_mirror.btf import load_btf  # load on use
    from btfhub_mirror.btf.dump import dump_json, dump_raw

    base_btf = load_btf(base) if base is not None else None
    btf = load_btf(file, base=base_btf)
    out = sys.stdout
    if fmt is DumpFormat.json:
        json.dump(dump_json(btf), out)
        out.write("\n")
        return
    write = out.write
    for text in dump_raw(btf):
        write(text)
        write("\n")
    out.flush()
