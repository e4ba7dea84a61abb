"""``sync``: learn what the remotes offer, then make exactly the selected kernels local.

Remotes are reached through :class:`~.remote.Remote` (a git mirror, :mod:`.gitrepo`, is the
kind every URL gets today; :func:`~.remote.kind_for` picks it): nothing here names git.

One run, under the cache lock:

1. For each remote, make or update its mirror (git: clone trees only on the first run, fetch
   the new tip's trees on later runs).
2. Walk the tip's tree (no blobs needed) into archive entries and symlink aliases; with
   several remotes the first one offering a path wins. Symlink blobs are tiny and fetched in one
   batch so codename links (``ubuntu/focal`` → ``20.04``) can be resolved. Git does not check
   fetched trees, so names that are not plain file names (``..``, ``.``, control characters,
   not UTF-8, longer than NAME_MAX) and versions too long to store are skipped with a warning
   (:class:`SkippedEntry`), never catalogued.
3. Diff that offer against the catalog in one transaction: new paths are added, paths gone from
   every remote are marked removed (their local files stay), changed blobs become stale.
4. Check every selected local file against its blob id; write the ones that are missing or
   wrong from blobs already in the mirror, and fetch the rest in batched requests of at most
   ``chunk_size`` blobs. Each chunk's files and catalog rows are committed before the next
   chunk, so a run killed at any point resumes without fetching a completed chunk again.
   Blobs are streamed from the mirror (``git cat-file``) into their file, never whole in
   memory; one over :data:`MAX_ARCHIVE_BYTES` is skipped with a warning before it is read.
   Every write is confined to ``archive/`` (:meth:`Store.local_file` resolves and compares
   the path).
5. Index each archive as its file is written (and every selected one without a current
   index), in worker processes while the next chunk is fetched (:mod:`.indexing`): requests
   start at :data:`FIRST_CHUNK` blobs and double, so the workers start early. A ``pack`` or
   ``check`` afterwards reads the saved indexes only. ``index=False`` (``--no-index``) skips
   this step.
"""

from __future__ import annotations

import contextlib
import functools
import posixpath
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..archive import ARCHIVE_SUFFIX
from ..catalog import connect, transaction
from ..catalog.queries import (
    ABSENT,
    PRESENT,
    KernelEntry,
    OfferedAlias,
    OfferedEntry,
    apply_offer,
    count_entries,
    live_aliases,
    mark_local,
    remotes,
    select_entries,
    set_remotes,
)
from ..errors import (
    BlobTooLargeError,
    CatalogError,
    EmptyRemoteError,
    NotFoundError,
    RemoteContentError,
)
from ..kernels import KernelFilter, release_problem
from ..paths import RemoteChoice, RemoteSource, choose_remotes
from ..progress import NULL_PROGRESS, Progress
from .indexing import Indexer, IndexFailure, IndexTask, needs_index
from .remote import BlobSource, Remote, TreeFile, kind_for
from .store import Store, link_aliases, unsafe_path
from .verify import local_blob_id

#: Git modes of the blobs that can be archive entries (a file, an executable file).
REGULAR_MODES = (0o100644, 0o100755)
#: Longest symlink target read from a remote (Linux PATH_MAX); longer ones count as dangling.
MAX_LINK_TARGET = 4096
#: Blobs per fetch request: large enough to amortise the round trip, small enough that a killed
#: run loses little.
DEFAULT_CHUNK = 500
#: The first request's size when archives are indexed as they come: small, so the index
#: workers start while git transfers the next (doubling) requests.
FIRST_CHUNK = 8
#: Largest archive blob sync writes (the ``max_archive_bytes`` default). btfhub-archive's biggest
#: ``.btf.tar.xz`` is a few MB (2.5 MB: centos 8 arm64 4.18.0-147); a larger blob is skipped with
#: a warning, before it is read, and never written.
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
#: Skipped entries told one by one through ``Progress.note``; the rest in one summary note.
MAX_SKIP_NOTES = 20

#: Kinds of :class:`SkippedEntry`.
SKIP_UNSAFE_PATH = "unsafe-path"
SKIP_BAD_VERSION = "bad-version"
SKIP_TOO_LARGE = "too-large"
SKIP_EMPTY_REMOTE = "empty-remote"


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """Something a remote offers that sync refused and went on without.

    ``path`` is printable: control characters and non-UTF-8 bytes are escaped (``repr``), so a
    hostile name cannot forge lines of the output.
    """

    kind: str  # one of the SKIP_* constants
    path: str
    remote: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path} from {self.remote}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "remote": self.remote, "reason": self.reason}


def _printable(path: str) -> str:
    return path if path.isprintable() else repr(path)[1:-1]


@dataclass(frozen=True, slots=True)
class RemoteState:
    """One remote after a sync."""

    url: str
    tip: str
    branch: str
    entries: int  # archive entries its tip offers
    cloned: bool  # first sync of this remote


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What ``sync`` did."""

    remotes: tuple[RemoteState, ...]
    selection: str
    selected: int  # entries matching the filter (not removed)
    fetched: int  # blobs downloaded by this run
    already_present: int  # selected files already local and intact
    from_mirror: int  # files (re)written from blobs already in the mirror, no download
    repaired: tuple[str, ...]  # local files that were missing or corrupt and were replaced
    tree_bytes: int  # received for commits, trees and symlinks
    blob_bytes: int  # received for the selected archives
    selected_bytes: int  # size of the selected archives
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    restored: tuple[str, ...]
    catalog_entries: int
    seconds: float
    skipped: tuple[SkippedEntry, ...] = ()
    fetched_oids: tuple[str, ...] = field(default=(), repr=False)
    #: Archives whose saved index this run wrote (see :mod:`.indexing`); with ``index=False``
    #: none.
    indexed: int = 0
    #: Archives that could not be indexed (corrupt, not BTF): local all the same.
    unindexed: tuple[IndexFailure, ...] = ()
    #: Where the corrupt catalog this run replaced was moved (rebuilt from the trees and the
    #: local files); None when the catalog was sound.
    catalog_rebuilt: str | None = None
    #: Where this run's remotes came from (see :func:`~btfhub_mirror.paths.choose_remotes`).
    remote_source: RemoteSource = RemoteSource.DEFAULT
    #: The remotes the cache was synced from before this run (empty on the first sync).
    previous_remotes: tuple[str, ...] = ()

    @property
    def bytes_received(self) -> int:
        return self.tree_bytes + self.blob_bytes

    @property
    def remotes_changed(self) -> bool:
        """Whether this run replaced the remotes an earlier sync recorded (``--remote`` or
        ``$BTFHUB_REPO`` naming others): their entries no other remote offers are removed."""
        return bool(self.previous_remotes) and self.previous_remotes != tuple(
            r.url for r in self.remotes
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "selection": self.selection,
            "kernels_selected": self.selected,
            "fetched": self.fetched,
            "already_present": self.already_present,
            "from_mirror": self.from_mirror,
            "repaired": list(self.repaired),
            "bytes_received": self.bytes_received,
            "tree_bytes": self.tree_bytes,
            "blob_bytes": self.blob_bytes,
            "selected_bytes": self.selected_bytes,
            "catalog": {
                "entries": self.catalog_entries,
                "added": len(self.added),
                "changed": len(self.changed),
                "removed": len(self.removed),
                "restored": len(self.restored),
            },
            "remotes": [
                {
                    "url": r.url,
                    "tip": r.tip,
                    "branch": r.branch,
                    "entries": r.entries,
                    "cloned": r.cloned,
                }
                for r in self.remotes
            ],
            "remote_source": self.remote_source.value,
            "previous_remotes": list(self.previous_remotes),
            "remotes_changed": self.remotes_changed,
            "skipped": [s.to_json() for s in self.skipped],
            "indexed": self.indexed,
            "not_indexed": [f.to_json() for f in self.unindexed],
            "catalog_rebuilt": self.catalog_rebuilt,
            "seconds": round(self.seconds, 3),
        }


class _Skips:
    """Collects skipped entries and tells the first ones as they happen."""

    def __init__(self, progress: Progress) -> None:
        self.entries: list[SkippedEntry] = []
        self._progress = progress

    def add(self, kind: str, path: str, remote: str, reason: str) -> None:
        entry = SkippedEntry(kind, _printable(path), remote, reason)
        self.entries.append(entry)
        if len(self.entries) <= MAX_SKIP_NOTES:
            self._progress.note(f"warning: {entry}")

    def finish(self) -> tuple[SkippedEntry, ...]:
        hidden = len(self.entries) - MAX_SKIP_NOTES
        if hidden > 0:
            self._progress.note(f"warning: skipped {hidden} more entries (see --json)")
        return tuple(self.entries)


@dataclass(slots=True)
class _Offer:
    entries: dict[str, OfferedEntry] = field(default_factory=dict)
    aliases: dict[str, OfferedAlias] = field(default_factory=dict)


@dataclass(slots=True)
class _Work:
    skips: _Skips
    max_bytes: int = MAX_ARCHIVE_BYTES
    fetched: list[str] = field(default_factory=list)
    already_present: int = 0
    from_mirror: int = 0
    repaired: list[str] = field(default_factory=list)
    blob_bytes: int = 0
    index: bool = True  # index every selected archive (see .indexing)
    indexer: Indexer | None = None
    indexed: int = 0
    unindexed: list[IndexFailure] = field(default_factory=list)


def _index_task(store: Store, entry: KernelEntry) -> IndexTask:
    return IndexTask(entry.path, str(store.local_file(entry.path)), str(store.index_dir_for(entry)))


def _index(store: Store, work: _Work, entry: KernelEntry) -> None:
    """Queue a freshly written archive for indexing (when this run indexes)."""
    if work.indexer is not None:
        work.indexer.submit(_index_task(store, entry))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _classify(
    files: Sequence[TreeFile], repo: Remote, remote: str, offer: _Offer, skips: _Skips
) -> int:
    """Add a tree's archive entries and symlinks to ``offer`` (first remote wins).

    Entries with an unsafe name (``..``, control characters, ...) or a version that cannot be
    stored are skipped and reported in ``skips``; they never reach the catalog.
    """
    safe = []
    for f in files:
        reason = f.refused or unsafe_path(f.path)
        if reason is not None:
            skips.add(SKIP_UNSAFE_PATH, f.path, remote, reason)
        else:
            safe.append(f)
    files = safe
    dirs = {posixpath.dirname(f.path) for f in files}
    for d in list(dirs):
        while d:
            d = posixpath.dirname(d)
            dirs.add(d)
    paths = {f.path for f in files}
    with repo.blob_reader() as reader:
        return _classify_files(files, reader, remote, offer, skips, dirs, paths)


def _classify_files(
    files: Sequence[TreeFile],
    reader: BlobSource,
    remote: str,
    offer: _Offer,
    skips: _Skips,
    dirs: set[str],
    paths: set[str],
) -> int:
    count = 0
    for f in files:
        parts = f.path.split("/")
        if f.is_symlink:
            try:
                raw = reader.read(f.oid, MAX_LINK_TARGET)
            except BlobTooLargeError:
                raw = None  # longer than PATH_MAX: it cannot name anything
            target = (raw or b"").decode("utf-8", "replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(f.path), target))
            escaped = (
                raw is None or target.startswith("/") or resolved.startswith("..") or "\0" in target
            )
            kind = (
                "dangling"
                if escaped
                else "dir"
                if resolved in dirs
                else "file"
                if resolved in paths
                else "dangling"
            )
            offer.aliases.setdefault(f.path, OfferedAlias(f.path, resolved, kind, remote))
        elif (
            len(parts) == 4
            and parts[3].endswith(ARCHIVE_SUFFIX)
            and len(parts[3]) > 11
            and f.mode in REGULAR_MODES  # a gitlink (submodule) there is no blob to fetch
        ):
            release = parts[3][: -len(ARCHIVE_SUFFIX)]
            problem = release_problem(release)
            if problem is not None:
                skips.add(SKIP_BAD_VERSION, f.path, remote, problem)
                continue
            count += 1
            offer.entries.setdefault(
                f.path, OfferedEntry(f.path, parts[0], parts[1], parts[2], release, f.oid, remote)
            )
    return count


def _refresh_remote(
    store: Store, url: str, offer: _Offer, progress: Progress, skips: _Skips
) -> tuple[Remote, RemoteState, int]:
    kind, path = kind_for(url), store.repo_path(url)
    existing = kind.open(path, url)
    before = 0 if existing is None else existing.bytes_received()
    repo, cloned = kind.refresh(path, url, progress)
    progress.phase(f"reading the tree of {kind.label(url)}")
    files = list(repo.files())
    links = [f.oid for f in files if f.is_symlink and not repo.has_blob(f.oid)]
    repo.fetch_blobs(list(dict.fromkeys(links)), progress, label="symlinks")
    entries = _classify(files, repo, url, offer, skips)
    state = RemoteState(url, repo.tip(), repo.branch(), entries, cloned)
    return repo, state, repo.bytes_received() - before


def _check_local(
    store: Store,
    conn: sqlite3.Connection,
    selected: Sequence[KernelEntry],
    work: _Work,
    progress: Progress,
) -> dict[str, list[KernelEntry]]:
    """Blob-id check of every selected file; returns what is missing, by blob id."""
    progress.phase("checking local files", len(selected))
    need: dict[str, list[KernelEntry]] = {}
    with transaction(conn):
        for entry in selected:
            actual = local_blob_id(store, entry)
            if actual == entry.blob_oid:
                work.already_present += 1
                if entry.local_state != PRESENT:
                    size = store.local_file(entry.path).stat().st_size
                    mark_local(conn, entry.path, PRESENT, archive_size=size)
            else:
                if actual is not None or entry.local_state == PRESENT:
                    work.repaired.append(entry.path)
                    what = (
                        "is missing"
                        if actual is None
                        else (
                            f"does not match its blob {entry.blob_oid[:12]} (truncated or "
                            "overwritten)"
                        )
                    )
                    progress.note(f"warning: {entry.path}: the local archive {what}; restoring it")
                if entry.local_state == PRESENT:
                    mark_local(conn, entry.path, "stale")
                need.setdefault(entry.blob_oid, []).append(entry)
            progress.advance()
    return need


def _write_blobs(
    store: Store,
    conn: sqlite3.Connection,
    repo: Remote,
    oids: Iterable[str],
    need: dict[str, list[KernelEntry]],
    work: _Work,
    progress: Progress,
) -> None:
    """Stream each blob into its file (never whole in memory); skip blobs over the cap."""
    now = _now()
    with transaction(conn), repo.blob_reader() as reader:
        for oid in oids:
            first, *others = need[oid]
            try:
                written = store.write_archive(
                    first.path, functools.partial(reader.copy, oid, limit=work.max_bytes)
                )
            except BlobTooLargeError as err:
                for entry in need[oid]:
                    work.skips.add(SKIP_TOO_LARGE, entry.path, entry.remote, str(err))
                progress.advance()
                continue
            length = written.stat().st_size
            mark_local(conn, first.path, PRESENT, archive_size=length, now=now)
            _index(store, work, first)
            for entry in others:  # the same blob at several paths: copy the first file
                store.write_archive(entry.path, functools.partial(_copy_file, written))
                mark_local(conn, entry.path, PRESENT, archive_size=length, now=now)
                _index(store, work, entry)
            progress.advance()


def _copy_file(source: Path, out: Any) -> None:
    with open(source, "rb") as handle:
        shutil.copyfileobj(handle, out)


def _chunks(oids: list[str], chunk_size: int, growing: bool) -> Iterator[list[str]]:
    """``oids`` in fetch requests of ``chunk_size``; ``growing``: starting at FIRST_CHUNK and
    doubling, so indexing the first archives overlaps fetching the next ones."""
    size = min(chunk_size, FIRST_CHUNK) if growing else chunk_size
    start = 0
    while start < len(oids):
        yield oids[start : start + size]
        start += size
        size = min(chunk_size, size * 2)


def _materialize(
    store: Store,
    conn: sqlite3.Connection,
    repos: dict[str, Remote],
    selected: Sequence[KernelEntry],
    chunk_size: int,
    progress: Progress,
    work: _Work,
) -> _Work:
    """Make every selected archive local and intact (and, with ``work.index``, indexed)."""
    indexer = work.indexer = Indexer() if work.index else None
    try:
        _materialize_files(store, conn, repos, selected, chunk_size, progress, work)
        if indexer is not None:
            indexer.finish(progress)
            work.indexed, work.unindexed = indexer.indexed, indexer.failures
    finally:
        if indexer is not None:
            indexer.close()  # interrupted: no worker outlives the lock
        work.indexer = None
    if work.unindexed:
        first = work.unindexed[0]
        more = f" and {len(work.unindexed) - 1} more" if len(work.unindexed) > 1 else ""
        progress.note(f"warning: {first}{more} (local all the same: pack reports them)")
    return work


def fetch_for_reader(
    store: Store,
    conn: sqlite3.Connection,
    repos: dict[str, Remote],
    wanted: Sequence[KernelEntry],
    progress: Progress,
) -> _Work:
    """Make ``wanted`` local for a reader (pack, check, repair) without indexing them: the
    reader opens each kernel next and indexes it in its own pool, under the shared lock,
    instead of under this exclusive one."""
    return _materialize(
        store, conn, repos, wanted, DEFAULT_CHUNK, progress, _Work(_Skips(progress), index=False)
    )


def _materialize_files(
    store: Store,
    conn: sqlite3.Connection,
    repos: dict[str, Remote],
    selected: Sequence[KernelEntry],
    chunk_size: int,
    progress: Progress,
    work: _Work,
) -> None:
    confined = []
    for entry in selected:  # a catalog written by an older btfmirror may hold unsafe paths
        try:
            store.local_file(entry.path)
        except RemoteContentError as err:
            work.skips.add(SKIP_UNSAFE_PATH, entry.path, entry.remote, str(err))
        else:
            confined.append(entry)
    selected = confined
    need = _check_local(store, conn, selected, work, progress)
    if work.indexer is not None:  # local and intact, but not indexed (or since changed)
        rewritten = {e.path for entries in need.values() for e in entries}
        for entry in selected:
            if entry.path not in rewritten:
                task = _index_task(store, entry)
                if needs_index(task):
                    work.indexer.submit(task)
    in_mirror = [oid for oid in need if repos[need[oid][0].remote].has_blob(oid)]
    if in_mirror:
        progress.phase("checking out from the mirror", len(in_mirror))
        for remote, oids in _by_remote(in_mirror, need).items():
            _write_blobs(store, conn, repos[remote], oids, need, work, progress)
        work.from_mirror = sum(len(need[oid]) for oid in in_mirror)
    done = set(in_mirror)
    missing = [oid for oid in need if oid not in done]
    for remote, oids in _by_remote(missing, need).items():
        repo = repos[remote]
        for chunk in _chunks(oids, chunk_size, growing=work.indexer is not None):
            stats = repo.fetch_blobs(chunk, progress)
            work.blob_bytes += stats.bytes_received
            work.fetched.extend(chunk)
            progress.phase("checking out", len(chunk))
            _write_blobs(store, conn, repo, chunk, need, work, progress)


def _by_remote(oids: Iterable[str], need: dict[str, list[KernelEntry]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for oid in oids:
        grouped.setdefault(need[oid][0].remote, []).append(oid)
    return grouped


def sync(
    store: Store,
    flt: KernelFilter | None,
    remote_urls: Sequence[str] = (),
    *,
    wait: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    max_archive_bytes: int = MAX_ARCHIVE_BYTES,
    repair: bool = False,
    index: bool = True,
    progress: Progress = NULL_PROGRESS,
) -> SyncResult:
    """Update the catalog from the remotes and make the kernels ``flt`` selects local.

    ``flt=None`` updates the catalog only (an empty :class:`KernelFilter` selects everything).

    ``remote_urls`` (``--remote``) replace the remotes recorded in the catalog; without them
    ``$BTFHUB_REPO``, else the recorded ones, else btfhub-archive (:func:`choose_remotes`).
    Each URL is checked and spelled by its kind (:meth:`~.remote.RemoteKind.canonical`; git's
    turns plain paths into ``file://`` URLs, :func:`~.gitrepo.canonical_url`). A failing
    remote raises :class:`~btfhub_mirror.errors.GitCommandError` before the catalog or work
    tree change.
    A URL whose protocol is not allowed (``ext::``) is a UsageError. An empty remote raises
    :class:`~btfhub_mirror.errors.EmptyRemoteError` when it is the only one; among several it
    is skipped with a warning (it offers nothing, so the others' entries win as usual).

    Entries a remote cannot be trusted with (unsafe names, versions too long to store, blobs
    over ``max_archive_bytes``) are skipped with a warning and listed in ``skipped``.

    ``repair`` also checks every local kernel's file against its blob id and rewrites the ones
    that differ (from the mirror, else fetched); they are listed in ``repaired``.

    ``index`` (the default) writes the saved index of every selected archive that lacks one,
    in worker processes while git fetches (:mod:`.indexing`), so a ``pack`` or ``check``
    afterwards only reads indexes; an archive that cannot be indexed is listed in
    ``unindexed``, never an error.
    """
    explicit = choose_remotes(remote_urls)
    if explicit.source is not RemoteSource.DEFAULT:  # refused before the cache is touched
        explicit = RemoteChoice(_canonical(explicit.urls), explicit.source)
    started = time.monotonic()
    skips = _Skips(progress)
    with (
        store.lock(wait=wait, progress=progress),
        store.writing_catalog(repair=True) as (
            conn,
            corrupt_aside,
        ),
    ):
        previous = tuple(r.url for r in remotes(conn))
        if corrupt_aside is not None and not previous:
            previous = _salvage_remotes(corrupt_aside)
        choice = (
            explicit
            if explicit.source is not RemoteSource.DEFAULT
            else choose_remotes((), previous)
        )
        urls = _canonical(choice.urls)
        offer, repos, states, tree_bytes = _Offer(), {}, [], 0
        for url in urls:
            try:
                repo, state, received = _refresh_remote(store, url, offer, progress, skips)
            except EmptyRemoteError as err:
                if len(urls) == 1:
                    raise
                skips.add(SKIP_EMPTY_REMOTE, url, url, err.detail)
                continue
            repos[url], tree_bytes = repo, tree_bytes + received
            states.append(state)
        if not states:
            raise EmptyRemoteError(", ".join(urls))
        now = _now()
        changes = apply_offer(conn, list(offer.entries.values()), list(offer.aliases.values()), now)
        set_remotes(conn, [(s.url, s.tip, s.branch) for s in states], now)
        if corrupt_aside is not None:  # a new catalog: which entries are local, from the files
            from .rebuild import restore_local_state

            restore_local_state(store, conn, now)
        selected = [] if flt is None else select_entries(conn, flt, include_removed=False)
        if repair:  # every local kernel as well: _check_local re-checks each file's blob id
            chosen = {e.path for e in selected}
            selected += [
                e
                for e in select_entries(conn, KernelFilter.create(), include_removed=False)
                if e.path not in chosen and e.local_state != ABSENT
            ]
        work = _materialize(
            store,
            conn,
            repos,
            selected,
            chunk_size,
            progress,
            _Work(skips, max_archive_bytes, index=index),
        )
        link_aliases(store, list(offer.aliases.values()))
        total = count_entries(conn)
        sizes = sum(_size(store, e.path) for e in selected)
    return SyncResult(
        remotes=tuple(states),
        selection=_describe(flt, repair),
        selected=len(selected),
        fetched=len(work.fetched),
        already_present=work.already_present,
        from_mirror=work.from_mirror,
        repaired=tuple(work.repaired),
        tree_bytes=tree_bytes,
        blob_bytes=work.blob_bytes,
        selected_bytes=int(sizes),
        added=changes.added,
        changed=changes.changed,
        removed=changes.removed,
        restored=changes.restored,
        catalog_entries=int(total),
        seconds=time.monotonic() - started,
        skipped=skips.finish(),
        fetched_oids=tuple(work.fetched),
        indexed=work.indexed,
        unindexed=tuple(work.unindexed),
        catalog_rebuilt=None if corrupt_aside is None else str(corrupt_aside),
        remote_source=choice.source,
        previous_remotes=previous,
    )


def _salvage_remotes(aside: Path) -> tuple[str, ...]:
    """The remotes a corrupt catalog recorded, when its ``remotes`` table can still be read
    (the damage is elsewhere): the rebuilt catalog is then made from the same remotes."""
    try:
        with contextlib.closing(connect(aside, readonly=True)) as old:
            return tuple(r.url for r in remotes(old))
    except (CatalogError, sqlite3.Error):
        return ()


def _canonical(urls: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(kind_for(u).canonical(u) for u in urls))


def _describe(flt: KernelFilter | None, repair: bool) -> str:
    if flt is None:
        return "every local kernel (repair)" if repair else "catalog only"
    return flt.describe() + (" and every local kernel (repair)" if repair else "")


def _size(store: Store, path: str) -> int:
    try:
        return store.local_file(path).stat().st_size
    except (FileNotFoundError, RemoteContentError):
        return 0


def local_remotes(store: Store, conn: sqlite3.Connection) -> dict[str, Remote]:
    """The mirrors of the catalog's remotes as the last sync left them (no network), by URL;
    a remote never mirrored here is left out."""
    found = {}
    for row in remotes(conn):
        remote = kind_for(row.url).open(store.repo_path(row.url), row.url)
        if remote is not None:
            found[row.url] = remote
    return found


def ensure_local(
    store: Store, flt: KernelFilter, progress: Progress = NULL_PROGRESS, *, wait: bool = True
) -> list[KernelEntry]:
    """The catalog rows ``flt`` selects, each with its verified local ``.btf.tar.xz`` path.

    Uses the catalog and mirrors as the last ``sync`` left them (no tip update); fetches
    whatever selected archive is missing or corrupt. Kernels removed from the remotes are
    returned only when their file is still local. Raises NotFoundError when nothing matches.
    """
    with store.lock(wait=wait, progress=progress), store.writing_catalog() as (conn, _):
        repos = local_remotes(store, conn)
        rows = select_entries(conn, flt)
        wanted = [e for e in rows if not e.removed and e.remote in repos]
        fetch_for_reader(store, conn, repos, wanted, progress)
        link_aliases(store, live_aliases(conn))
        result = [
            e for e in select_entries(conn, flt, root=store.archive_dir) if e.local_path is not None
        ]
    if not result:
        raise NotFoundError(
            f"no kernel in the catalog of {store.root} matches {flt.describe()} "
            "(run `btfmirror sync` with that selection)"
        )
    return result
