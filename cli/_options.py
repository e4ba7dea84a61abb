"""Arguments and options more than one command takes, declared once (kernel selection: see
:mod:`._filters`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ObjectsArgument = Annotated[
    list[Path], typer.Argument(metavar="OBJ...", help="BPF objects (clang -target bpf -g).")
]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Fail instead of waiting for another run.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
