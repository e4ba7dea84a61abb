"""An input that is there but cannot be read is said to be so, with its errno: not "not found"."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from btfhub_mirror.errors import BtfmirrorError, FileReadError, NotFoundError
from btfhub_mirror.fsutil import read_capped

NOBODY = 65534


def _read_unprivileged(path: Path) -> str:
    """What read_capped raises for ``path`` in a child running as nobody (root bypasses
    permission checks; an ordinary user is refused as it is)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, read, report, exit without pytest's cleanup
        os.close(rfd)
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            read_capped(path, 16)
            text = "read"
        except BtfmirrorError as err:
            text = f"{type(err).__name__}|{getattr(err, 'errno', '')}|{err}"
        except BaseException as err:  # anything else is the finding
            text = f"untyped|{err!r}"
        os.write(wfd, text.encode())
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as pipe:
        out = pipe.read().decode()
    os.waitpid(pid, 0)
    return out


def test_permission_denied_is_a_read_error(tmp_path: Path) -> None:
    secret = tmp_path / "secret.btf"
    secret.write_bytes(b"\x9f\xeb" + bytes(30))
    secret.chmod(0o000)
    kind, code, message = _read_unprivileged(secret).split("|", 2)
    assert (kind, code) == ("FileReadError", str(errno.EACCES))
    assert message == f"{secret}: cannot read: Permission denied"


def test_io_error_is_a_read_error() -> None:
    # Reading /proc/self/mem at offset 0 (never mapped) fails with EIO, for any user.
    with pytest.raises(FileReadError) as caught:
        read_capped("/proc/self/mem", 16)
    assert caught.value.errno == errno.EIO and caught.value.path == "/proc/self/mem"
    assert str(caught.value) == "/proc/self/mem: cannot read: Input/output error"
    assert not isinstance(caught.value, NotFoundError)


def test_missing_and_directory_stay_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        read_capped(tmp_path / "missing", 16)
    with pytest.raises(NotFoundError, match="is a directory"):
        read_capped(tmp_path, 16)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotFoundError):
        read_capped(tmp_path / "file" / "below", 16)
