"""Kernel selection options shared by every command that selects kernels.

Declare the four options with these aliases and turn them into a filter with
:func:`kernel_filter`::

    def cmd(distro: DistroOption = None, version: VersionOption = None,
            arch: ArchOption = None, kernels: KernelsOption = None) -> None:
        flt = kernel_filter(distro, version, arch, kernels)
"""

from __future__ import annotations

from typing import Annotated

import typer

from btfhub_mirror.kernels import KernelFilter

DistroOption = Annotated[
    list[str] | None,
    typer.Option("--distro", "-d", help="Distribution directory (ubuntu, centos…). Repeatable."),
]
VersionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--version", "-V", help="Release directory or codename (20.04, focal). Repeatable."
    ),
]
ArchOption = Annotated[
    list[str] | None,
    typer.Option("--arch", "-a", help="x86_64, arm64 (aarch64 accepted)… Repeatable."),
]
KernelsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--kernels",
        "-k",
        help="Kernel glob ('5.15.*') or version range ('>=5.4,<5.16'). Repeatable.",
    ),
]


def kernel_filter(
    distro: list[str] | None,
    version: list[str] | None,
    arch: list[str] | None,
    kernels: list[str] | None,
) -> KernelFilter:
    """The library filter for the shared selection options."""
    return KernelFilter.create(distro or (), version or (), arch or (), kernels or ())
