"""``pack``: minimized BTF for chosen kernels, in one reproducible archive next to a program.

See :func:`~btfhub_mirror.pack.pack.pack` for the layout and :mod:`.tarball` for the writer.
"""

from __future__ import annotations

from .pack import PackedKernel, PackResult, PackWarning, pack
from .tarball import Member, compression_for, source_date_epoch, write_archive

__all__ = [
    "Member",
    "PackResult",
    "PackWarning",
    "PackedKernel",
    "compression_for",
    "pack",
    "source_date_epoch",
    "write_archive",
]
