"""``kill -9`` in the middle of a sync, then a rerun: consistent, nothing complete fetched twice."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import textwrap

import pygit2
import pytest

from btfhub_mirror.catalog import connect
from btfhub_mirror.catalog.queries import select_entries
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.mirror.sync import sync
from tests.helpers import REPO

from .gitfixtures import GitDaemon, Origin, git, mirror_blobs

# The child runs a real sync in chunks of 2 blobs and SIGKILLs its whole process group (itself
# and the git it runs) the n-th time a phase whose label contains the marker starts: mid-download,
# or after a download but mid-checkout.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[1])
    from btfhub_mirror.kernels import KernelFilter
    from btfhub_mirror.mirror import Store
    from btfhub_mirror.mirror.sync import sync

    cache, url, marker, nth = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])

    class Killer:
        seen = 0
        def phase(self, label, total=None):
            if marker in label:
                Killer.seen += 1
        def advance(self, steps=1, detail=None):
            if Killer.seen == nth:
                os.killpg(0, signal.SIGKILL)
        def note(self, message):
            pass

    flt = KernelFilter.create(distros=["ubuntu"], arches=["x86_64"])
    sync(Store(__import__("pathlib").Path(cache)), flt, [url], chunk_size=2, progress=Killer())
    """
)


@pytest.mark.parametrize("marker", ["fetching archives: receiving objects", "checking out"])
def test_kill_9_then_rerun(marker: str, origin: Origin, store: Store, daemon: GitDaemon) -> None:
    url = daemon.url(origin.git_dir)
    flt = KernelFilter.create(distros=["ubuntu"], arches=["x86_64"])
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO), str(store.root), url, marker, "3"],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr

    repo = store.repo_path(url)
    complete = mirror_blobs(repo)  # blobs of fetches that finished before the kill
    expected = {
        path: oid
        for path, (mode, oid) in origin.blobs().items()
        if path.startswith("ubuntu/20.04/x86_64/") and mode != "120000"
    }
    assert len(expected) == 20
    done = set(expected.values()) & complete
    assert 4 <= len(done) < len(expected)  # two chunks of two at least, but not everything

    result = sync(store, flt, [url], chunk_size=2)

    assert not set(result.fetched_oids) & complete
    assert set(result.fetched_oids) == set(expected.values()) - complete
    assert result.fetched + result.already_present + result.from_mirror == len(expected)
    files = {
        str(p.relative_to(store.archive_dir)): p
        for p in (store.archive_dir / "ubuntu/20.04/x86_64").iterdir()
        if not p.is_symlink()
    }
    assert set(files) == set(expected)
    for path, local in files.items():
        assert str(pygit2.hashfile(str(local))) == expected[path]
    with contextlib.closing(connect(store.catalog_path)) as conn:
        rows = select_entries(conn, flt)
    assert {r.path for r in rows} == set(expected) and all(r.is_local for r in rows)
    assert not list(store.archive_dir.rglob("*.tmp"))
    git("fsck", "--connectivity-only", "--no-dangling", cwd=repo)
