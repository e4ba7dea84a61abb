"""``btfmirror verify``: read a package as each loader reads it, for every kernel in it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from btfhub_mirror.errors import VerifyError

from ._console import console, err_console, print_json
from ._errors import handle_errors
from ._table import print_columns

if TYPE_CHECKING:
    from btfhub_mirror.pack.verify import ConsumerReport, VerifyReport

OK_MARK = "✓"
MISS_MARK = "miss"


def _table(report: ConsumerReport) -> None:
    """One consumer: a line per kernel with the name its reader looks for."""
    rows = [
        (
            check.kernel.btfhub_name.removesuffix(".btf"),
            check.name,
            "ok" if check.ok else f"MISS: {check.miss}",
        )
        for check in report.kernels
    ]
    print_columns(("kernel", "name looked for", "result"), rows, console)


#: Misses listed one by one for a consumer the package is not judged by; past this, one line
#: counts them (--json and --for CONSUMER list every one).
MISSES_SHOWN = 2


def _matrix(report: VerifyReport) -> None:
    """Every consumer: kernels by consumers, then why each missed: every miss of the consumer
    the package is judged by, the first few of the others (they are usually another layout)."""
    names = [c.consumer for c in report.consumers]
    rows = [
        (kernel.label, *(OK_MARK if c.kernels[i].ok else MISS_MARK for c in report.consumers))
        for i, kernel in enumerate(report.kernels)
    ]
    print_columns(("kernel", *names), rows, console)
    for consumer in report.consumers:
        if consumer.problem is not None:
            console.print(f"{consumer.consumer}: {consumer.problem}", markup=False, soft_wrap=True)
            continue
        misses = [c for c in consumer.kernels if not c.ok]
        shown = misses if consumer.consumer == report.judged_by else misses[:MISSES_SHOWN]
        for check in shown:
            console.print(
                f"{consumer.consumer}: {check.kernel.btfhub_name.removesuffix('.btf')}: "
                f"{check.miss}",
                markup=False,
                soft_wrap=True,
            )
        if len(misses) > len(shown):
            console.print(
                f"{consumer.consumer}: {len(misses) - len(shown)} more kernel(s) missed "
                f"(btfmirror verify --for {consumer.consumer} lists them)",
                markup=False,
                soft_wrap=True,
            )


@handle_errors
def verify_command(
    package: Annotated[
        Path, typer.Argument(help="A package (.tar.gz, .tar, .tar.xz, .tar.zst) or a dir package.")
    ],
    consumer: Annotated[
        str | None,
        typer.Option(
            "--for",
            metavar="CONSUMER",
            help="Read it only as this consumer does: bpf-compatible, ecli, bcc, "
            "inspektor-gadget or dir.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Read PACKAGE as each consumer's loader does, for every kernel in it.

    For each kernel (from ./btfmirror.json, or from the .btf names when there is none) the
    name is built as that loader builds it on the kernel's system (os-release ID and
    VERSION_ID as the distribution writes them, uname -m, uname -r) and the archive is read
    by that loader's rules: the compression it takes, the name it compares (raw ustar name
    field, exact name, or a path once unpacked), hard links followed or not. Each kernel is
    found, non-empty, valid BTF and equal to the packed file, or a miss says why.

    Exit status: with --for, 7 if that consumer misses any kernel. Without --for, every
    consumer is shown as a matrix, and the exit status is 7 if the package's own consumer
    (the manifest's "consumer"; bpf-compatible for a format 1 manifest) misses any kernel,
    or, with no manifest, if no consumer finds every kernel.
    """
    from btfhub_mirror.pack.verify import verify_package  # load on use

    report = verify_package(package, consumer)
    if as_json:
        print_json(report.to_json())
    elif not report.kernels:
        pass  # the verdict below says it
    elif consumer is not None:
        _table(report.consumers[0])
    else:
        _matrix(report)
    if not report.passed:
        raise VerifyError(report.verdict())
    if not as_json:
        err_console.print(report.verdict(), markup=False, soft_wrap=True)
