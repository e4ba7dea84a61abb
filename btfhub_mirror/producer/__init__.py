"""The producer side: a team's own archive repository next to btfhub-archive (``archive init``)
and kernel BTF added to it from images, vmlinux files and distro packages (``add``)."""

from __future__ import annotations

from .add import AddedKernel, AddResult, Identity, add_sources
from .archive_repo import init_archive

__all__ = ["AddResult", "AddedKernel", "Identity", "add_sources", "init_archive"]
