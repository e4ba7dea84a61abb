"""A ``flock`` on the cache: exclusive for runs that write it (sync, fetching), shared for runs
that only read the archive files (pack, check), so no sync replaces a file while it is read and
readers still run side by side."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import CacheError, CacheLockedError, Param


def _open_lock(path: Path, shared: bool) -> int | None:
    """The lock file's descriptor. flock needs no write access, so a reader opens an existing
    lock read-only and works on a read-only cache. A reader that can create no lock there gets
    None: nobody can sync through that read-only view. O_NOFOLLOW: never a lock elsewhere."""
    try:
        if shared:
            try:
                return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                pass
        # O_CLOEXEC: nothing exec'd from here (git) inherits it either.
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if shared and err.errno in (errno.EROFS, errno.EACCES) and not os.path.lexists(path):
            return None
        raise CacheError(f"{path}: cannot open the cache lock: {err.strerror}") from None


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
    fd = _open_lock(path, shared)
    if fd is None:
        yield  # a read-only cache without a lock file: see _open_lock
        return
    _HELD.add(fd)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise CacheLockedError(
                    f"{path.parent}: another btfmirror is using this cache (run again later, or ",
                    Param("wait", True),
                    " to wait for it)",
                ) from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, mode)
        yield
    finally:
        _HELD.discard(fd)
        os.close(fd)
