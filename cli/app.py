"""Entry point: the ``btfmirror`` typer application.

The command modules import what their commands need when they run (the mirror, git, SQLite,
rich); a run of a listed command builds an application with that command alone, so neither
the other modules are imported nor their signatures inspected by typer. ``btfmirror --help``
and :data:`app` have them all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from typer.models import CommandInfo, TyperInfo

from btfhub_mirror import __version__

from ._errors import install_signal_handlers


def _btf(app: typer.Typer) -> None:
    from . import btf

    app.add_typer(btf.app, name="btf")


def _archive(app: typer.Typer) -> None:
    from . import archive

    app.add_typer(archive.app, name="archive")


def _add(app: typer.Typer) -> None:
    from . import archive

    app.command("add")(archive.add_command)


def _mirror(app: typer.Typer) -> None:
    from . import mirror

    mirror.register(app)


def _select(app: typer.Typer) -> None:
    from .select import select

    app.command("select")(select)


def _relocs(app: typer.Typer) -> None:
    from .relocs import relocs

    app.command("relocs")(relocs)


def _minimize(app: typer.Typer) -> None:
    from .minimize import minimize

    app.command("minimize")(minimize)


def _pack(app: typer.Typer) -> None:
    from .pack import pack_command

    app.command("pack")(pack_command)


def _check(app: typer.Typer) -> None:
    from .check import check_command

    app.command("check")(check_command)


def _verify(app: typer.Typer) -> None:
    from .verify import verify_command

    app.command("verify")(verify_command)


#: (command names, how to register them), in the order ``--help`` lists them.
COMMANDS: tuple[tuple[tuple[str, ...], Callable[[typer.Typer], None]], ...] = (
    (("btf",), _btf),
    (("archive",), _archive),
    (("add",), _add),
    (("sync", "list", "status"), _mirror),
    (("select",), _select),
    (("relocs",), _relocs),
    (("minimize",), _minimize),
    (("pack",), _pack),
    (("check",), _check),
    (("verify",), _verify),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"btfmirror {__version__}")
        raise typer.Exit()


def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """btfmirror: BTF for kernels that have none."""


_SETTINGS: dict[str, object] = {
    "name": "btfmirror",
    "help": "Mirror btfhub-archive selectively and ship minimized BTF with CO-RE eBPF programs.",
    "no_args_is_help": True,
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}


def build_app(command: str | None = None) -> typer.Typer:
    """The application with every command, or only ``command`` (one run needs no other)."""
    app = typer.Typer(**_SETTINGS)  # type: ignore[arg-type]
    for names, register in COMMANDS:
        if command is None or command in names:
            register(app)
    app.callback()(main_callback)  # also keeps a one-command app a group: `btfmirror NAME`
    return app


class _Application(typer.Typer):
    """The whole application, whose command modules are imported the first time anything
    reads its commands (``--help``, the tests, typer building it), not when ``cli.app`` is
    imported: a run of one listed command never needs them. Commands added to it in code
    (``@app.command``) come after the built-in ones' registration as usual."""

    _commands: list[CommandInfo]
    _groups: list[TyperInfo]

    def __init__(self) -> None:
        self._loaded = True  # typer's own __init__ assigns the lists below
        super().__init__(**_SETTINGS)  # type: ignore[arg-type]
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            added = self._commands
            self._commands = []
            for _, register in COMMANDS:
                register(self)
            self._commands.extend(added)
            self.callback()(main_callback)

    @property
    def registered_commands(self) -> list[CommandInfo]:
        self._load()
        return self._commands

    @registered_commands.setter
    def registered_commands(self, value: list[CommandInfo]) -> None:
        self._commands = value

    @property
    def registered_groups(self) -> list[TyperInfo]:
        self._load()
        return self._groups

    @registered_groups.setter
    def registered_groups(self, value: list[TyperInfo]) -> None:
        self._groups = value


#: The whole application (``--help``, the tests, and commands added to it below).
app: typer.Typer = _Application()


def main() -> None:
    install_signal_handlers()
    first = sys.argv[1] if len(sys.argv) > 1 else None
    # typer inspects every registered command's signature on each run: a run of one of the
    # listed commands builds an application with that command alone.
    known = any(first in names for names, _ in COMMANDS)
    (build_app(first) if known else app)()
