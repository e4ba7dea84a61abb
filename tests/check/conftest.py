"""Fixtures of the check tests: the mirror tests' isolated cache and real git origin."""

from __future__ import annotations

from tests.mirror.conftest import _isolated, _origin_template, origin

__all__ = ["_isolated", "_origin_template", "origin"]  # fixtures, imported for pytest
