"""Selected kernels whose local archives stay as they are while the caller reads them.

``pack`` and ``check`` read many archives for many seconds. A ``sync`` running meanwhile could
replace one (a new upstream blob) after its catalog row was read, and the package's manifest
would then name a blob id its file was not made from. So readers hold the cache lock shared for
the whole read (syncs wait; other readers do not), after fetching what is missing under the
exclusive lock as :func:`~.sync.ensure_local` does.

On a cache never synced (no catalog), a selection first runs a :func:`~.sync.sync` of it
(from ``$BTFHUB_REPO`` or btfhub-archive, as ``btfmirror sync`` would), so ``btfmirror pack
-k '5.15.*'`` works on a fresh machine; without a selection there is nothing to fetch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from ..catalog.queries import KernelEntry
from ..errors import CacheLockedError, NotFoundError, Param
from ..kernels import KernelFilter
from ..paths import REMOTES_ENV, choose_remotes
from ..progress import NULL_PROGRESS, Progress
from .store import Store, list_kernels
from .verify import KnownIds, damaged_archives, repair_archives

#: How often the selection is redone when a sync slips in between fetching and reading.
MAX_ATTEMPTS = 3


def _local(store: Store, flt: KernelFilter) -> list[KernelEntry]:
    """What a read gets: with a selection, every selected row that is local per the catalog
    (as :func:`~.sync.ensure_local` returns them; a file deleted behind the catalog's back is
    reported by the reader); without, every kernel whose file is there."""
    entries = list_kernels(store, flt, local_only=flt.is_empty).entries
    if flt.is_empty:
        return [e for e in entries if e.local_path is not None and e.local_path.is_file()]
    return [e for e in entries if e.local_path is not None]


def _complete(store: Store, flt: KernelFilter, known: KnownIds) -> bool:
    """Whether every selected kernel still offered upstream is local and intact (its blob id
    checks), i.e. whether ensure_local would fetch nothing. Reads only."""
    return all(
        entry.local_path is not None and known.blob_id(entry) == entry.blob_oid
        for entry in list_kernels(store, flt, include_removed=False).entries
    )


#: How to select kernels, for the errors of an empty selection.
SELECT_HINT: tuple[str | Param, ...] = (
    "select kernels (",
    Param("distro"),
    ", ",
    Param("version"),
    ", ",
    Param("arch"),
    ", ",
    Param("kernels"),
    ") to fetch them",
)


def _nothing_matches(
    store: Store, flt: KernelFilter, unmatched: Sequence[str | Param]
) -> NotFoundError:
    """The error for a selection that gives no local kernel although each one is as local as
    it can be: either it matches no catalog row, or only rows removed upstream and gone."""
    matched = list_kernels(store, flt).entries
    if matched:
        return NotFoundError(
            f"{len(matched)} kernel(s) in the catalog of {store.root} match {flt.describe()}, "
            "but none is local and no remote offers them any more (removed upstream)",
            *unmatched,
        )
    return NotFoundError(
        f"no kernel in the catalog of {store.root} matches {flt.describe()} "
        "(btfmirror list --distros shows what there is)",
        *unmatched,
    )


def _first_sync(
    store: Store, flt: KernelFilter, hint: Sequence[str | Param], progress: Progress, wait: bool
) -> None:
    """Make the catalog of a cache never synced, fetching what ``flt`` selects."""
    if flt.is_empty:
        raise NotFoundError(
            f"no catalog in {store.root} (nothing synced yet): ",
            *hint,
            ", or run `btfmirror sync` first",
        )
    from .gitrepo import canonical_url
    from .sync import sync  # the git machinery: only with a selection

    # What sync will use: a new cache remembers no remotes.
    remotes = ", ".join(canonical_url(u) for u in choose_remotes(()).urls)
    progress.note(
        f"no catalog in {store.root} yet: syncing it from {remotes} (${REMOTES_ENV} picks "
        f"others) and fetching {flt.describe()}"
    )
    sync(store, flt, (), wait=wait, progress=progress)


def _same(a: list[KernelEntry], b: list[KernelEntry]) -> bool:
    return [(e.path, e.blob_oid) for e in a] == [(e.path, e.blob_oid) for e in b]


@contextlib.contextmanager
def held_local(
    store: Store,
    flt: KernelFilter,
    progress: Progress = NULL_PROGRESS,
    *,
    wait: bool = True,
    hint: Sequence[str | Param] = SELECT_HINT,
    unmatched: Sequence[str | Param] = (),
) -> Iterator[list[KernelEntry]]:
    """The kernels ``flt`` selects, each with its local ``.btf.tar.xz``, under a shared lock.

    A non-empty filter first checks, under the shared lock, that every selected kernel is local
    and intact; only when one is not does it fetch (exclusive lock, :func:`~.sync.ensure_local`)
    and select again; in a cache without a catalog it syncs first. An empty one takes every
    kernel already local. Raises NotFoundError when nothing is selected (``hint`` says how to
    select; ``unmatched`` is added when a selection was given and matches nothing),
    UnknownSelectionError when the filter names a distro, version or arch the catalog lacks,
    CacheLockedError when ``wait`` is False and a sync holds the cache.
    """
    store.check_layout()
    if not store.catalog_path.exists():  # checked before any lock: one creates the cache
        _first_sync(store, flt, hint, progress, wait)
    fetched: list[KernelEntry] | None = None
    for _ in range(MAX_ATTEMPTS):
        with store.lock(wait=wait, progress=progress, shared=True):
            entries = _local(store, flt)
            known = KnownIds(store)  # the files unchanged since a run hashed them: not again
            # Without a selection nothing below has checked the files: a truncated one would
            # only fail later, in the xz reader (a selection is checked by _complete).
            damaged = (
                damaged_archives(store, entries, stale=True, known=known) if flt.is_empty else []
            )
            ready = (
                (flt.is_empty and not damaged)
                or (fetched is None and _complete(store, flt, known))
                or (fetched is not None and _same(entries, fetched))
            )
            known.save()
            if ready:
                if not entries and not flt.is_empty:
                    # Every selected kernel is as local as it can be, and there are none: no
                    # fetch can cure that (a typo in a distro, version or arch is refused
                    # earlier, by the catalog query).
                    raise _nothing_matches(store, flt, unmatched)
                if not entries:
                    raise NotFoundError(f"no kernel is local in {store.root}: ", *hint)
                yield entries
                return
        # Something is missing or damaged, or a sync slipped in since the fetch: fetch (under
        # the exclusive lock), then select again under the shared one.
        if damaged:
            repair_archives(store, damaged, progress, wait=wait)
            continue
        from .sync import ensure_local

        fetched = ensure_local(store, flt, progress, wait=wait)
    raise CacheLockedError(
        f"{store.root}: the selected kernels kept changing (a sync running alongside?); run again"
    )
