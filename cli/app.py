"""Entry point: the ``btfmirror`` typer application."""

from __future__ import annotations

import typer

from btfhub_mirror import __version__

from . import archive, btf, mirror
from ._errors import install_signal_handlers
from .check import check_command
from .minimize import minimize
from .pack import pack_command
from .relocs import relocs
from .select import select
from .verify import verify_command

app = typer.Typer(
    name="btfmirror",
    help="Mirror btfhub-archive selectively and ship minimized BTF with CO-RE eBPF programs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(btf.app, name="btf")
app.add_typer(archive.app, name="archive")
app.command("add")(archive.add_command)
mirror.register(app)
app.command("select")(select)
app.command("relocs")(relocs)
app.command("minimize")(minimize)
app.command("pack")(pack_command)
app.command("check")(check_command)
app.command("verify")(verify_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"btfmirror {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """btfmirror: BTF for kernels that have none."""


def main() -> None:
    install_signal_handlers()
    app()
