from __future__ import annotations

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
def daemon(origin: Origin) -> Iterator[GitDaemon]:
    need_tool("git")
    with GitDaemon(origin.root) as served:
        yield served


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "cache")
