"""``pack``: minimized BTF for chosen kernels, in one reproducible archive next to a program.

See :func:`~btfhub_mirror.pack.pack.pack` for the layout and :mod:`.tarball` for the writer.
"""

from __future__ import annotations

from ..package import compression_for
from .pack import (
    Alias,
    PackedKernel,
    PackResult,
    PackWarning,
    PackWarningKind,
    default_output,
    pack,
)
from .tarball import Member, source_date_epoch, write_archive

__all__ = [
    "Alias",
    "Member",
    "PackResult",
    "PackWarning",
    "PackWarningKind",
    "PackedKernel",
    "compression_for",
    "default_output",
    "pack",
    "source_date_epoch",
    "write_archive",
]
