"""A vocabulary of words as an enum: what 3.11's ``StrEnum`` is, for Python 3.10."""

from __future__ import annotations

from enum import Enum


class Words(str, Enum):
    """Members are their words: equal to them, in JSON as them, printed as them."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)
