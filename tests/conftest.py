"""Root fixtures and hooks, shared by every test directory (no conftest imports another).

- The session caches of ``tests/cache.py`` (parsed kernels, objects, bpftool runs) write their
  files under one session temporary directory.
- ``needs_*`` markers are enforced: ``tests.helpers.need_tool`` and its siblings fail a test
  that runs a tool without carrying the tool's marker, also when the tool is used by a
  session fixture set up for an earlier test (see ``helpers.RUNNING``).
- Session fixtures more than one directory uses: the btfhub-shaped git origin, the libbpf
  loader harness and the probe object. Defined once here, each is built once per session
  (imported into several modules, a session fixture is a new fixture, built again, in each).
- Every test runs with ``$BTFHUB_CACHE`` in its own temporary directory: commands that
  cache as a side effect (``minimize``, ``relocs --btf``, ``check --btf`` keep decompressed
  BTF) never write the real user cache. Tests that need a particular cache set it themselves.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from btfhub_mirror.paths import CACHE_ENV
from tests import cache
from tests.harness.build import PROBE_SRC, Loader, build_loader, compile_bpf
from tests.helpers import RUNNING, missing_markers, need_root_bpf, need_tool
from tests.mirror.gitfixtures import Origin

pytest_plugins = ["pytester"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A misspelt ``needs_*`` marker would make ``-m "not needs_X"`` select the test: refuse it."""
    known = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    for item in items:
        for mark in item.iter_markers():
            if mark.name.startswith("needs_") and mark.name not in known:
                raise pytest.UsageError(f"{item.nodeid}: unknown marker {mark.name}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    RUNNING.item = item
    try:
        return (yield)
    finally:
        RUNNING.item = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test requesting a fixture that used a tool needs that tool's marker too."""
    fixturenames: list[str] = getattr(item, "fixturenames", [])
    for name in fixturenames:
        lacking = missing_markers(item, RUNNING.fixture_needs.get(name, set()))
        if lacking:
            marks = ", ".join(f"@pytest.mark.{m}" for m in lacking)
            pytest.fail(f"test {item.nodeid} uses fixture {name} but lacks {marks}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[object]) -> Generator[None, object, object]:
    # A function-scoped fixture runs again for each test (checked there and then); a wider
    # one is cached, so what its setup used is remembered for the later tests requesting it.
    RUNNING.fixtures.append(fixturedef.argname if fixturedef.scope != "function" else "")
    try:
        return (yield)
    finally:
        RUNNING.fixtures.pop()


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    cache.WORKDIR.path = tmp_path_factory.mktemp("session-cache")
    yield


@pytest.fixture(scope="session")
def _origin_template(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    """The btfhub-shaped origin repository built from the sample (copy it to change it)."""
    need_tool("git")
    return Origin(tmp_path_factory.mktemp("template")).build()


@pytest.fixture
def origin(_origin_template: Origin, tmp_path: Path) -> Origin:
    """A private copy of the btfhub-shaped origin repository."""
    copy = Origin(tmp_path / "served")
    shutil.copytree(_origin_template.work, copy.work, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def libbpf_loader(tmp_path_factory: pytest.TempPathFactory) -> Loader:
    """The built harness; skips (fails under CI) without cc, libbpf-dev or bpf() rights."""
    need_root_bpf()
    return build_loader(tmp_path_factory.mktemp("harness"))


@pytest.fixture(scope="session")
def probe_object(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``probe.bpf.c`` compiled by clang: a kprobe with field, exists and size relocations."""
    return compile_bpf(PROBE_SRC, tmp_path_factory.mktemp("probe"))


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache_dir = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))
    return cache_dir
