"""An exclusive ``flock`` on the cache, so two btfmirror runs never write it at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import CacheLockedError


@contextlib.contextmanager
def cache_lock(
    path: Path, *, wait: bool = True, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block.

    Tries without blocking first; when another process holds it, either raises
    :class:`CacheLockedError` (``wait=False``) or calls ``on_wait`` and blocks. The kernel
    drops the lock when the holder dies, even by ``kill -9``, so a crash never leaves it stale.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise CacheLockedError(
                    f"{path.parent}: another btfmirror is using this cache "
                    "(run again later, or without --no-wait to wait for it)"
                ) from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
