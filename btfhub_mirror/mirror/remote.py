"""The seam between ``sync`` and where archives come from: a :class:`Remote` and its kind.

``sync`` walks what a remote offers, asks which blobs are already here, fetches the rest in
batches and streams each one into its file; it never names git. A kind of remote is a module
that provides a :class:`RemoteKind` (the git mirror of :mod:`.gitrepo` is the one today) and
registers it in :data:`KINDS`, as pipx's backends do: a second kind of archive source (an HTTP
directory of ``.btf.tar.xz`` files, an OCI registry) is a new module, not an edit of sync.

Blob ids are git's (``sha1("blob <size>\\0" + content)``) whatever the kind: the catalog records
them and :mod:`.verify` checks every local file against them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import UsageError
from ..progress import NULL_PROGRESS, Progress

SYMLINK_MODE = 0o120000


@dataclass(frozen=True, slots=True)
class TreeFile:
    """A non-directory entry of a remote's tree: its path, blob id and git mode.

    ``refused`` says why the entry cannot be used (an unsafe name on its path); such an entry
    stands for its whole subtree, which is not walked.
    """

    path: str
    oid: str
    mode: int
    refused: str | None = None

    @property
    def is_symlink(self) -> bool:
        return self.mode == SYMLINK_MODE


@dataclass(frozen=True, slots=True)
class FetchStats:
    objects: int
    bytes_received: int


class BlobSource(Protocol):
    """Reads blobs already fetched, streamed, never whole in memory (but :meth:`read`)."""

    def copy(self, oid: str, out: Any, limit: int) -> int:
        """Copy blob ``oid`` into the binary file ``out``; its size. BlobTooLargeError, before
        any content is read, when it is over ``limit`` bytes."""
        ...

    def read(self, oid: str, limit: int) -> bytes:
        """A whole small blob (a symlink target); BlobTooLargeError over ``limit`` bytes."""
        ...


class Remote(Protocol):
    """One remote as its local mirror sees it: the tip's files, and its blobs on demand."""

    @property
    def url(self) -> str: ...

    def tip(self) -> str:
        """The commit (or version) the files are of."""
        ...

    def branch(self) -> str: ...

    def files(self) -> Iterator[TreeFile]:
        """Every non-directory entry of the tip, ``<distro>/<version>/<arch>/<file>`` deep."""
        ...

    def has_blob(self, oid: str) -> bool:
        """Whether blob ``oid`` is here already (never goes to the network)."""
        ...

    def fetch_blobs(
        self, oids: Sequence[str], progress: Progress = NULL_PROGRESS, label: str = "archives"
    ) -> FetchStats:
        """Download exactly ``oids`` in one request; GitCommandError (or another typed error)
        when the remote fails or does not send them all."""
        ...

    def blob_reader(self) -> AbstractContextManager[BlobSource]: ...

    def bytes_received(self) -> int:
        """Bytes the mirror holds as received over the wire (to tell what a run downloaded)."""
        ...


class RemoteKind(Protocol):
    """A kind of remote: which URLs it serves, how its mirror is made and reopened."""

    name: str

    def handles(self, url: str) -> bool:
        """Whether this kind serves ``url`` (checked in :data:`KINDS` order)."""
        ...

    def canonical(self, url: str) -> str:
        """``url`` checked (UsageError when it cannot be used) and in the one spelling the
        catalog records, so the same remote is never recorded twice."""
        ...

    def label(self, url: str) -> str:
        """A short name of the remote for progress lines."""
        ...

    def refresh(self, path: Path, url: str, progress: Progress) -> tuple[Remote, bool]:
        """Make or update the mirror of ``url`` at ``path`` to the remote's tip, blobs not
        included; (the remote, whether this was its first sync). EmptyRemoteError when the
        remote offers nothing yet."""
        ...

    def open(self, path: Path, url: str) -> Remote | None:
        """The mirror at ``path`` as the last sync left it (no network); None if never made."""
        ...


#: Every kind of remote, the first that handles a URL serves it; filled by :func:`kind_for`.
KINDS: list[RemoteKind] = []


def _builtin_kinds() -> list[RemoteKind]:
    from .gitrepo import GIT_KIND  # git and pygit2: only once a remote is used

    return [GIT_KIND]


def kind_for(url: str) -> RemoteKind:
    """The kind serving ``url`` (git serves every URL no other kind claims)."""
    if not KINDS:
        KINDS.extend(_builtin_kinds())
    for kind in KINDS:
        if kind.handles(url):
            return kind
    raise UsageError(f"remote {url!r}: no kind of remote serves it")  # git serves them all
