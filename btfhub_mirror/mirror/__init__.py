"""The mirror: selective, blobless copies of btfhub-archive remotes and their work tree."""

from __future__ import annotations

from .store import (
    DirsResult,
    ListResult,
    StatusResult,
    Store,
    cache_status,
    list_dirs,
    list_kernels,
)

__all__ = [
    "DirsResult",
    "ListResult",
    "StatusResult",
    "Store",
    "cache_status",
    "list_dirs",
    "list_kernels",
]
