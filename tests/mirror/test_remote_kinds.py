"""A second kind of archive source is a new module, not an edit of sync: a plain directory.

The kind below serves ``dir:PATH`` (a btfhub-shaped directory, symlinks included) through the
:class:`~btfhub_mirror.mirror.remote.Remote` protocol only; sync, the catalog, the blob-id
checks and the indexing work on it unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from btfhub_mirror.errors import BlobTooLargeError, EmptyRemoteError, GitCommandError
from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store, list_kernels, remote
from btfhub_mirror.mirror.gitrepo import GIT_KIND
from btfhub_mirror.mirror.remote import FetchStats, TreeFile
from btfhub_mirror.mirror.sync import sync
from btfhub_mirror.progress import NULL_PROGRESS, Progress
from tests.helpers import SAMPLE

SYMLINK, REGULAR = 0o120000, 0o100644
DEBIAN = KernelFilter.create(distros=["debian"], versions=["11", "12"], arches=["x86_64"])


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _listing(root: Path) -> Iterator[tuple[str, bytes, int]]:
    for top, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(top) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                yield rel, os.readlink(path).encode(), SYMLINK
            elif path.is_file():
                yield rel, path.read_bytes(), REGULAR


class _Reader:
    def __init__(self, objects: Path) -> None:
        self._objects = objects

    def copy(self, oid: str, out: Any, limit: int) -> int:
        data = (self._objects / oid).read_bytes()
        if len(data) > limit:
            raise BlobTooLargeError(oid, len(data), limit)
        out.write(data)
        return len(data)

    def read(self, oid: str, limit: int) -> bytes:
        data = (self._objects / oid).read_bytes()
        if len(data) > limit:
            raise BlobTooLargeError(oid, len(data), limit)
        return data


class DirRemote:
    """The mirror of a directory: its listing at the last refresh and the blobs fetched."""

    def __init__(self, mirror: Path, url: str) -> None:
        self._mirror, self._url = mirror, url
        self.root = Path(url.removeprefix("dir:"))
        self.objects = mirror / "objects"

    @property
    def url(self) -> str:
        return self._url

    def _tree(self) -> list[list[Any]]:
        return list(json.loads((self._mirror / "tree.json").read_text()))

    def tip(self) -> str:
        return blob_id((self._mirror / "tree.json").read_bytes())

    def branch(self) -> str:
        return "main"

    def files(self) -> Iterator[TreeFile]:
        for path, oid, mode in self._tree():
            yield TreeFile(path, oid, mode)

    def has_blob(self, oid: str) -> bool:
        return (self.objects / oid).exists()

    def fetch_blobs(
        self, oids: Sequence[str], progress: Progress = NULL_PROGRESS, label: str = "archives"
    ) -> FetchStats:
        where = {oid: path for path, oid, _ in self._tree()}
        received = 0
        for oid in oids:
            source = self.root / where[oid]
            data = os.readlink(source).encode() if source.is_symlink() else source.read_bytes()
            if blob_id(data) != oid:  # changed since the listing: as a remote losing a blob
                raise GitCommandError(f"cannot fetch from {self.url}", f"{oid} changed")
            (self.objects / oid).write_bytes(data)
            received += len(data)
        return FetchStats(len(oids), received)

    @contextlib.contextmanager
    def blob_reader(self) -> Iterator[_Reader]:
        yield _Reader(self.objects)

    def bytes_received(self) -> int:
        return sum(p.stat().st_size for p in self.objects.iterdir())


class DirKind:
    name = "dir"

    def handles(self, url: str) -> bool:
        return url.startswith("dir:")

    def canonical(self, url: str) -> str:
        return "dir:" + str(Path(url.removeprefix("dir:")).resolve())

    def label(self, url: str) -> str:
        return Path(url.removeprefix("dir:")).name

    def refresh(self, path: Path, url: str, progress: Progress) -> tuple[DirRemote, bool]:
        first = not path.exists()
        tree = [[p, blob_id(data), mode] for p, data, mode in _listing(Path(url[4:]))]
        if not tree:
            raise EmptyRemoteError(url)
        (path / "objects").mkdir(parents=True, exist_ok=True)
        (path / "tree.json").write_text(json.dumps(tree))
        return DirRemote(path, url), first

    def open(self, path: Path, url: str) -> DirRemote | None:
        return DirRemote(path, url) if path.exists() else None


@pytest.fixture
def dir_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "KINDS", [DirKind(), GIT_KIND])


def test_sync_from_a_directory_kind(dir_kind: None, tmp_path: Path) -> None:
    served = tmp_path / "served"
    shutil.copytree(SAMPLE, served, symlinks=True)
    store = Store(tmp_path / "cache")

    result = sync(store, DEBIAN, [f"dir:{served}/."])

    assert [r.url for r in result.remotes] == [f"dir:{served}"]  # the kind's spelling
    entries = [e for e in list_kernels(store, DEBIAN).entries if e.local_path]
    assert len(entries) == result.fetched == result.indexed == 4
    for entry in entries:
        original = served / entry.path
        assert entry.local_path is not None
        assert entry.local_path.read_bytes() == original.read_bytes()
        assert entry.blob_oid == blob_id(original.read_bytes())
    bookworm = store.archive_dir / "debian" / "bookworm"  # the codename link, as from git
    assert bookworm.is_symlink() and os.readlink(bookworm) == "12"

    again = sync(store, DEBIAN, [f"dir:{served}"])
    assert again.fetched == 0 and again.already_present == 4 and again.indexed == 0
