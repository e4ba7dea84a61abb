"""The mirror: selective, blobless copies of btfhub-archive remotes and their work tree."""

from __future__ import annotations

from .store import ListResult, StatusResult, Store, cache_status, list_kernels

__all__ = ["ListResult", "StatusResult", "Store", "cache_status", "list_kernels"]
