"""The catalog: one SQLite row per archive entry the remotes offer, local or not."""

from __future__ import annotations

from .db import connect, transaction
from .migrations import SCHEMA_VERSION, migrate
from .queries import CatalogChanges, KernelEntry, OfferedAlias, OfferedEntry

__all__ = [
    "SCHEMA_VERSION",
    "CatalogChanges",
    "KernelEntry",
    "OfferedAlias",
    "OfferedEntry",
    "connect",
    "migrate",
    "transaction",
]
