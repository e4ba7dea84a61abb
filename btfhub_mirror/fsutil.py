"""Small file-system helpers shared by every writer: nothing is ever left half written."""

from __future__ import annotations

import contextlib
import errno as errnos
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from .errors import FileReadError, FileWriteError, NotFoundError

T = TypeVar("T")


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a place a user's output can go, checked before any work is done: its
    directory must exist (it is never created: a typo must not make a tree) and take new
    files, and ``path`` itself must not be a directory. Raises :class:`FileWriteError`."""
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise FileWriteError(f"{target}: cannot write: is a directory")
    if not parent.exists():
        raise FileWriteError(f"{target}: cannot write: directory {parent} does not exist")
    if not parent.is_dir():
        raise FileWriteError(f"{target}: cannot write: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FileWriteError(f"{target}: cannot write: permission denied in {parent}")
    return target


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, parents: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically: see :func:`write_atomic_with`."""
    write_atomic_with(path, lambda out: out.write(data), mode=mode, parents=parents)


def write_atomic_with(
    path: str | os.PathLike[str],
    fill: Callable[[BinaryIO], T],
    *,
    mode: int = 0o644,
    parents: bool = True,
    check: Callable[[Path], None] | None = None,
) -> T:
    """Write ``path`` through a temporary file in the same directory that ``fill`` writes into,
    renamed into place, so readers see the old file or the new one, never a partial one (Ctrl-C
    included: the temporary file is removed on any failure). Returns what ``fill`` returns.
    Missing parent directories are made only with ``parents`` (the cache's own files; a user's
    output goes through :func:`check_output_path` instead). ``check`` reads the complete
    temporary file before the rename; what it raises leaves ``path`` as it was.
    """
    target = Path(path)
    tmp: str | None = None
    try:
        if parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            result = fill(out)
        if check is not None:
            check(Path(tmp))
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as err:
        raise FileWriteError(f"{target}: cannot write: {err.strerror or err}") from err
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return result


def read_capped(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``path``: a longer result means the file is over the cap
    (the caller says so in its own terms). Reading with a cap also suits sysfs files, whose
    reported size is not their length. A missing file (or a directory, or a path through a
    file) is a NotFoundError; one that is there but cannot be read (EACCES, EIO...) a
    FileReadError with its errno.
    """
    try:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)
    except FileNotFoundError as err:
        raise NotFoundError(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise NotFoundError(f"{path}: is a directory") from err
    except NotADirectoryError as err:
        raise NotFoundError(f"{path}: cannot read: {err.strerror}") from err
    except OSError as err:
        raise FileReadError(os.fspath(path), err.errno or 0, err.strerror or str(err)) from err


#: renameat2(2) flag: swap two paths atomically (Linux 3.15; ext4, xfs, btrfs, tmpfs...).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap directories ``a`` and ``b`` in one step; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # glibc before 2.28, musl before 1.2.2
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (errnos.EINVAL, errnos.ENOSYS, errnos.EOPNOTSUPP):
        return False  # a filesystem without RENAME_EXCHANGE
    raise OSError(errno, os.strerror(errno), os.fsdecode(a))


def _swap_in(tmp: Path, target: Path) -> None:
    """Put directory ``tmp`` at ``target``, replacing the directory there; the old one ends
    up at ``tmp``. Readers see the old tree or the new one: an exchange where the filesystem
    can, else two renames with SIGINT and SIGTERM held back in between, so Ctrl-C cannot leave
    ``target`` missing."""
    if _exchange(tmp, target):
        return
    aside = tmp.with_name(tmp.name + ".old")
    blocked = {signal.SIGINT, signal.SIGTERM}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        os.rename(target, aside)
        try:
            os.rename(tmp, target)
        except OSError:
            os.rename(aside, target)
            raise
        os.rename(aside, tmp)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def write_dir_atomic_with(
    path: str | os.PathLike[str],
    fill: Callable[[Path], T],
    *,
    check: Callable[[Path], None] | None = None,
) -> T:
    """Build a directory tree through ``fill`` in a temporary directory beside ``path``, then
    put it at ``path`` in one rename: readers see nothing or the old tree, then the new one,
    never a partial tree (an interrupted ``fill`` leaves no trace). An existing ``path`` must
    be a directory; the caller decides whether it may be replaced. Returns what ``fill``
    returns. ``check`` reads the complete tree before the rename, as in
    :func:`write_atomic_with`."""
    target = Path(path)
    tmp: Path | None = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        result = fill(tmp)
        if check is not None:
            check(tmp)
        try:
            os.rename(tmp, target)  # atomic when nothing or an empty directory is there
        except OSError as err:
            if err.errno not in (errnos.ENOTEMPTY, errnos.EEXIST):
                raise
            _swap_in(tmp, target)  # tmp now holds the old tree, removed below
        else:
            tmp = None
    except OSError as err:
        raise FileWriteError(f"{target}: cannot write: {err.strerror or err}") from err
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return result
