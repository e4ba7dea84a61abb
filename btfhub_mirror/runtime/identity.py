"""Who is running: the os-release ``ID``/``VERSION_ID`` and ``uname -m``/``-r`` of this system.

os-release is read as its specification says (https://www.freedesktop.org/software/systemd/man/
latest/os-release.html): ``/etc/os-release`` if it exists, else ``/usr/lib/os-release``; lines are
``KEY=value`` assignments, ``#`` starts a comment, values may be single- or double-quoted and use
shell-style backslash escapes. Other loaders keep the quotes of ``ID="centos"``, which then
names no archive directory; this one does not.

The identity picks a path in a btfhub-archive tree: ``<ID>/<VERSION_ID>/<arch>/<release>.btf``,
where ``arch`` is btfhub-archive's directory name (``arm64`` for ``aarch64``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import IdentityError
from ..kernels import normalize_arch

#: Where os-release lives, in the order the specification says to look.
OS_RELEASE_PATHS = (Path("/etc/os-release"), Path("/usr/lib/os-release"))

#: An os-release file larger than this is not one (real files are well under 1 KiB).
MAX_OS_RELEASE_SIZE = 64 * 1024

_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Inside double quotes the shell removes a backslash only before these characters.
_DQUOTE_ESCAPABLE = '$`"\\'


@dataclass(frozen=True, slots=True)
class SystemIdentity:
    """The four facts that name a kernel's BTF in a btfhub-archive tree.

    ``version_codename`` (os-release ``VERSION_CODENAME``) is an optional second name for the
    version directory: btfhub-archive has ``debian/bullseye`` next to numbered versions.
    """

    os_id: str
    version_id: str
    machine: str
    release: str
    version_codename: str = ""

    def __post_init__(self) -> None:
        for field, value in (
            ("ID", self.os_id),
            ("VERSION_ID", self.version_id),
            ("machine", self.machine),
            ("release", self.release),
        ):
            check_path_component(field, value)
        if self.version_codename:
            check_path_component("VERSION_CODENAME", self.version_codename)

    @property
    def arch(self) -> str:
        """btfhub-archive's directory name for the machine (``aarch64`` → ``arm64``)."""
        return normalize_arch(self.machine)

    @property
    def archive_path(self) -> str:
        """``<ID>/<VERSION_ID>/<arch>/<release>.btf``, relative to a btfhub-archive directory."""
        return f"{self.os_id}/{self.version_id}/{self.arch}/{self.release}.btf"

    def describe(self) -> str:
        return f"{self.os_id} {self.version_id} {self.machine} {self.release}"


def check_path_component(field: str, value: str) -> None:
    """Refuse a value that cannot safely be one directory or file name."""
    if not value:
        raise IdentityError(f"{field} is empty")
    if value in (".", "..") or "/" in value or "\0" in value or len(value) > 255:
        raise IdentityError(f"{field} {value!r} cannot name a directory in an archive")


def parse_os_release(text: str, *, source: str = "os-release") -> dict[str, str]:
    """The assignments of an os-release file, values unquoted and unescaped.

    Comment and blank lines are skipped. A line that is not a valid assignment is ignored, as
    systemd does, unless it assigns ``ID`` or ``VERSION_ID``, which the lookup depends on: then
    :class:`IdentityError` names the file and line.
    """
    values: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, rest = line.partition("=")
        key = key.strip()
        try:
            if not sep or not _KEY_RE.fullmatch(key):
                raise ValueError("not a KEY=value assignment")
            values[key] = _unquote(rest.strip())
        except ValueError as err:
            if key in ("ID", "VERSION_ID"):
                raise IdentityError(f"{source}:{lineno}: {key}: {err}") from err
    return values


def _unquote(value: str) -> str:
    """One shell word: quoted and unquoted runs, backslash escapes; no expansion."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "'":
            end = value.find("'", i + 1)
            if end < 0:
                raise ValueError("unterminated single quote")
            out.append(value[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unterminated double quote")
                c = value[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and value[i + 1] in _DQUOTE_ESCAPABLE:
                    out.append(value[i + 1])
                    i += 2
                else:
                    out.append(c)
                    i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise ValueError("dangling backslash")
            out.append(value[i + 1])
            i += 2
        elif c.isspace():
            raise ValueError("unquoted whitespace in value")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_os_release(paths: Sequence[Path] = OS_RELEASE_PATHS) -> tuple[Path, dict[str, str]]:
    """The first os-release file of ``paths`` that exists, and its parsed values."""
    for path in paths:
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_OS_RELEASE_SIZE + 1)
        except FileNotFoundError:
            continue
        except OSError as err:
            raise IdentityError(f"cannot read {path}: {err.strerror or err}") from err
        if len(data) > MAX_OS_RELEASE_SIZE:
            raise IdentityError(f"{path}: larger than {MAX_OS_RELEASE_SIZE} bytes")
        text = data.decode("utf-8", errors="replace")
        return path, parse_os_release(text, source=str(path))
    tried = ", ".join(str(p) for p in paths)
    raise IdentityError(f"no os-release file found (tried {tried})")


def identity_from_os_release(
    values: dict[str, str], *, machine: str, release: str, source: str = "os-release"
) -> SystemIdentity:
    """A :class:`SystemIdentity` from parsed os-release values and uname facts."""
    for key in ("ID", "VERSION_ID"):
        if not values.get(key):
            raise IdentityError(f"{source}: no {key}, so no archive directory can be chosen")
    return SystemIdentity(
        os_id=values["ID"],
        version_id=values["VERSION_ID"],
        machine=machine,
        release=release,
        version_codename=values.get("VERSION_CODENAME", ""),
    )


def current_identity(
    *,
    os_release: Path | None = None,
    machine: str | None = None,
    release: str | None = None,
) -> SystemIdentity:
    """The identity of the running system; any argument given replaces what would be read.

    ``os_release`` names one file to read instead of the standard locations; ``machine`` and
    ``release`` replace ``uname -m`` and ``uname -r``.
    """
    path, values = read_os_release((os_release,) if os_release is not None else OS_RELEASE_PATHS)
    uname = os.uname()
    return identity_from_os_release(
        values,
        machine=machine if machine is not None else uname.machine,
        release=release if release is not None else uname.release,
        source=str(path),
    )
