"""Small file-system helpers shared by every writer: nothing is ever left half written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import FileWriteError, NotFoundError


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, renamed into
    place, so readers see the old file or the new one, never a partial one (Ctrl-C included).
    """
    target = Path(path)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as err:
        raise FileWriteError(f"{target}: cannot write: {err.strerror or err}") from err
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def read_capped(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``path``: a longer result means the file is over the cap
    (the caller says so in its own terms). Reading with a cap also suits sysfs files, whose
    reported size is not their length. A missing or unreadable file is a NotFoundError.
    """
    try:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)
    except FileNotFoundError as err:
        raise NotFoundError(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise NotFoundError(f"{path}: is a directory") from err
    except OSError as err:
        raise NotFoundError(f"{path}: cannot read: {err.strerror}") from err
