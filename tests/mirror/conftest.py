from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from btfhub_mirror.mirror import Store
from tests.helpers import need_tool

from .gitfixtures import GitDaemon, Origin, isolate_from_real_remotes


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_real_remotes(monkeypatch, tmp_path / "default-cache")


@pytest.fixture
def origin(_origin_template: Origin, tmp_path: Path) -> Origin:
    """A private copy of the btfhub-shaped origin repository."""
    copy = Origin(tmp_path / "served")
    shutil.copytree(_origin_template.work, copy.work, symlinks=True)
    return copy


@pytest.fixture
def daemon(origin: Origin) -> Iterator[GitDaemon]:
    need_tool("git")
    with GitDaemon(origin.root) as served:
        yield served


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "cache")
