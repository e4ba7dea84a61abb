"""A ``flock`` on the cache: exclusive for runs that write it (sync, fetching), shared for runs
that only read the archive files (pack, check), so no sync replaces a file while it is read and
readers still run side by side."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import CacheLockedError

#: Descriptors of the locks this process holds. A forked child (a pack worker) shares their
#: open file description, and with it the flock: were it to outlive us, the lock would stay
#: taken. Children close their copies at once; closing a copy never unlocks it for us (flock
#: is released when the last descriptor goes, or by LOCK_UN, which a child must not call).
_HELD: set[int] = set()


def _close_inherited() -> None:
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_inherited)


@contextlib.contextmanager
def cache_lock(
    path: Path,
    *,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    shared: bool = False,
) -> Iterator[None]:
    """Hold a lock on ``path`` for the block: exclusive, or ``shared`` with other readers.

    Tries without blocking first; when another process holds a conflicting lock, either raises
    :class:`CacheLockedError` (``wait=False``) or calls ``on_wait`` and blocks. The kernel
    drops the lock when the holder dies, even by ``kill -9``, so a crash never leaves it stale.
    """
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    # O_CLOEXEC: nothing exec'd from here (git) inherits it either.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    _HELD.add(fd)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise CacheLockedError(
                    f"{path.parent}: another btfmirror is using this cache "
                    "(run again later, or without --no-wait to wait for it)"
                ) from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, mode)
        yield
    finally:
        _HELD.discard(fd)
        os.close(fd)
