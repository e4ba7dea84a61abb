"""Fixtures of the check tests: an isolated cache and a private copy of the real git origin."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.mirror.gitfixtures import Origin, isolate_from_real_remotes


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_real_remotes(monkeypatch, tmp_path / "default-cache")


@pytest.fixture
def origin(_origin_template: Origin, tmp_path: Path) -> Origin:
    """A private copy of the btfhub-shaped origin repository."""
    copy = Origin(tmp_path / "served")
    shutil.copytree(_origin_template.work, copy.work, symlinks=True)
    return copy
