"""Fixtures of the check tests: an isolated cache (the origin fixture is the root conftest's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mirror.gitfixtures import isolate_from_real_remotes


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_real_remotes(monkeypatch, tmp_path / "default-cache")
