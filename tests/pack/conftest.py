"""A mirror synced once per session from the real sample, packed by every test of tests/pack."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import sync
from tests.helpers import REPO
from tests.mirror.gitfixtures import Origin

OBJECTS = REPO / "tests" / "bpf" / "build"
#: Debian 11 and 12 (x86_64 x3, arm64, s390x) and the two kylin kernels whose BTF holds several
#: task_struct: identical outputs, bpftool aborts, a kernel older than task_struct.__state.
SELECTION = KernelFilter.create(("debian", "kylin"), (), (), ())
#: Every real kernel of the sample (the origin's ubuntu entries are generated, not BTF): adds
#: CentOS 8 arm64 and bclinux, whose os-release quotes ID.
ALL_SAMPLE = KernelFilter.create(("bclinux", "centos", "debian", "kylin"), (), (), ())


def obj(name: str) -> Path:
    return OBJECTS / f"{name}.bpf.el.o"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BTFHUB_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.setenv("BTFHUB_REPO", "file:///nonexistent/btfhub-archive")
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file:git")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture(scope="session")
def synced(_origin_template: Origin, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store with the selection local (read-only use: copy it to change it)."""
    store = Store(tmp_path_factory.mktemp("pack") / "cache")
    sync(store, SELECTION, [_origin_template.url])
    return store


@pytest.fixture(scope="session")
def synced_all(_origin_template: Origin, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store with every real sample kernel local (read-only use)."""
    store = Store(tmp_path_factory.mktemp("pack-all") / "cache")
    sync(store, ALL_SAMPLE, [_origin_template.url])
    return store


@pytest.fixture
def store_copy(synced: Store, tmp_path: Path) -> Store:
    copy = Store(tmp_path / "cache-copy")
    shutil.copytree(synced.root, copy.root, symlinks=True)
    return copy
