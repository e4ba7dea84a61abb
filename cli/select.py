"""``btfmirror select``: the BTF of a package that fits this machine, for shell scripts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ._console import console, err_console, print_json
from ._errors import handle_errors

if TYPE_CHECKING:
    from btfhub_mirror.runtime import SelectResult


class _WarnProgress:
    """Shows the library's notes (the nearest-match warning) on stderr; ignores the rest."""

    def phase(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1, detail: str | None = None) -> None:
        pass

    def note(self, message: str) -> None:
        err_console.print(f"warning: {message}", style="yellow", markup=False)


def _as_json(result: SelectResult) -> dict[str, Any]:
    ident = result.identity
    return {
        "custom_btf_needed": result.custom_btf_needed,
        "vmlinux": str(result.vmlinux),
        "identity": None
        if ident is None
        else {
            "id": ident.os_id,
            "version_id": ident.version_id,
            "machine": ident.machine,
            "arch": ident.arch,
            "release": ident.release,
            "explicit": result.explicit_identity,
        },
        "btf": str(result.path) if result.path else None,
        "member": result.member,
        "release": result.release,
        "exact": result.exact,
        "package_json": str(result.package_json) if result.package_json else None,
    }


@handle_errors
def select(
    archive: Path = typer.Argument(
        ..., help="A btfmirror package (.tar, .tar.gz, .tar.xz, .tar.zst) or an unpacked one."
    ),
    extract_to: Path | None = typer.Option(
        None, "--extract-to", "-x", help="Write the chosen <release>.btf and package.json here."
    ),
    os_release: Path | None = typer.Option(
        None, "--os-release", help="Read ID and VERSION_ID from this file, not this system's."
    ),
    machine: str | None = typer.Option(None, "--machine", help="uname -m to select for."),
    release: str | None = typer.Option(None, "--release", help="uname -r to select for."),
    nearest: bool = typer.Option(
        False, "--nearest", help="No exact kernel: take the closest one of the same flavour."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Print the BTF file for this machine (exit 5 when none fits).

    With --extract-to: the extracted file. For an unpacked package: its file.
    Otherwise: the entry's name inside the package.
    Nothing, exit 0, when the kernel has its own BTF, unless an identity option is given.
    """
    from btfhub_mirror.runtime import select_btf  # load on use

    result = select_btf(
        archive,
        os_release=os_release,
        machine=machine,
        release=release,
        nearest=nearest,
        extract_to=extract_to,
        progress=_WarnProgress(),
    )
    if as_json:
        print_json(_as_json(result))
    elif not result.custom_btf_needed:
        err_console.print(
            f"the kernel has its own BTF ({result.vmlinux}): no custom BTF needed", markup=False
        )
    else:
        console.print(str(result.path or result.member), markup=False, soft_wrap=True)
