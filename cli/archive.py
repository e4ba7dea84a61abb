"""``btfmirror archive init`` and ``btfmirror add``: a team's own archive next to btfhub's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._console import console, print_json
from ._errors import handle_errors
from ._options import JsonOption

app = typer.Typer(
    help="Your own BTF archive repository (btfhub-archive's layout), a remote for sync.",
    no_args_is_help=True,
)


@app.command("init")
@handle_errors
def init_command(
    directory: Annotated[Path, typer.Argument(help="New or empty directory for the archive.")],
    as_json: JsonOption = False,
) -> None:
    """Make DIRECTORY a git repository laid out as btfhub-archive, usable at once as a remote."""
    from btfhub_mirror.producer import init_archive

    root, created = init_archive(directory)
    if as_json:
        print_json({"archive": str(root), "created": created})
        return
    state = "initialized" if created else "already an archive repository"
    console.print(f"{root}: {state}", markup=False, soft_wrap=True)


@handle_errors
def add_command(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Raw .btf, vmlinux, kernel image (bzImage, Image[.gz]), .deb or .rpm."),
    ],
    into: Annotated[Path, typer.Option("--into", help="The archive repository (archive init).")],
    distro: Annotated[str | None, typer.Option("--distro", help="os-release ID.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="os-release VERSION_ID.")] = None,
    arch: Annotated[str | None, typer.Option("--arch", help="x86_64, arm64, s390x...")] = None,
    release: Annotated[str | None, typer.Option("--release", help="uname -r.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add the kernel BTF of each SOURCE to an archive repository, in one commit."""
    from btfhub_mirror.producer import Identity, add_sources

    result = add_sources(into, sources, Identity(distro, version, arch, release))
    if as_json:
        print_json(result.to_json())
        return
    for k in result.kernels:
        console.print(
            f"{k.status} {k.path} ({k.btf_size} bytes of BTF, {sum(k.kinds.values())} types, "
            f"from {k.how})",
            markup=False,
            soft_wrap=True,
        )
    if result.commit is None:
        console.print("nothing to commit", markup=False)
    else:
        console.print(f"committed {result.commit[:12]} in {result.archive}", markup=False)
