"""Every test runs with ``$BTFHUB_CACHE`` in its own temporary directory: commands that cache
as a side effect (``minimize``, ``relocs --btf``, ``check --btf`` keep decompressed BTF) never
write the real user cache. Tests that need a particular cache set the variable themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.paths import CACHE_ENV


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv(CACHE_ENV, str(cache))
    return cache
