"""The one error hierarchy of btfmirror.

Every error the library raises on purpose derives from :class:`BtfmirrorError`; each says what
went wrong and where (a file, a section and byte offset, a git command, a catalog path). The
command line maps ``exit_code`` to the process exit status in one place (``cli/_errors.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Param:
    """A caller's parameter named inside an error message, by the library's name for it
    (``jobs``, ``btf_files``; with ``value``, a setting to try: ``nearest=True``).

    The library says what is wrong in its own terms; a front end spells the parameter as its
    own option (the command line: ``--jobs``, ``--nearest``) with :meth:`BtfmirrorError.render`.
    """

    name: str
    value: object = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}={self.value!r}"


class BtfmirrorError(Exception):
    """Base of every expected btfmirror failure.

    The message is its arguments joined: text, and :class:`Param` where it names one of the
    caller's parameters.
    """

    exit_code: int = 1

    def __str__(self) -> str:
        return "".join(str(part) for part in self.args)

    def render(self, spell: Callable[[Param], str]) -> str:
        """The message with each :class:`Param` spelled by ``spell`` (the CLI's options)."""
        return "".join(spell(p) if isinstance(p, Param) else str(p) for p in self.args)


class UsageError(BtfmirrorError):
    """The caller asked for something that cannot be done as asked."""

    exit_code = 2


class UnknownSelectionError(UsageError):
    """A distro, version or arch (``option``) that names nothing in the catalog (a typo, most
    likely): says what the catalog has there and the closest name."""

    def __init__(
        self,
        option: Param,
        value: str,
        known: tuple[str, ...],
        closest: str | None,
        *,
        scope: str = "",
        catalog: str = "",
    ) -> None:
        self.option = option
        self.value = value
        self.known = known
        self.closest = closest
        where = f"the catalog {catalog}" if catalog else "the catalog"
        hint = f": did you mean {closest}?" if closest else ""
        shown = ", ".join(known[:MAX_KNOWN_SHOWN]) + (
            f" and {len(known) - MAX_KNOWN_SHOWN} more" if len(known) > MAX_KNOWN_SHOWN else ""
        )
        there = f"{scope} it has {shown}" if known else "it has no entries"
        super().__init__(
            option,
            f" {value!r} names nothing in {where}{hint} ({there.strip()}; "
            "`btfmirror list --distros` counts them)",
        )


#: Names an UnknownSelectionError lists before "and N more" (btfhub-archive has ~20 distros).
MAX_KNOWN_SHOWN = 30


class NotFoundError(BtfmirrorError):
    """A file, kernel or entry that was asked for does not exist."""

    exit_code = 3


class BtfFormatError(BtfmirrorError):
    """Raw BTF that cannot be parsed: names the section and byte offset of the fault."""

    def __init__(self, message: str, *, section: str, offset: int, source: str | None = None):
        self.message = message
        self.section = section
        self.offset = offset
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}BTF {self.section} at byte {self.offset}: {self.message}"


class ArchiveError(BtfmirrorError):
    """A compressed or tar archive that cannot be read safely (bad xz, bad tar, hostile entry)."""


class ElfFormatError(BtfmirrorError):
    """An ELF object (BPF program) that cannot be read."""


class KernelImageError(BtfmirrorError):
    """A kernel image, vmlinux or BTF given to ``add`` that yields no usable kernel BTF (not a
    kernel image, truncated, an unsupported compression, BTF of the wrong byte order)."""


class PaholeError(BtfmirrorError):
    """``pahole -J`` (dwarves) is needed to turn DWARF into BTF and is missing, too old, or
    failed on the given vmlinux."""


class GitCommandError(BtfmirrorError):
    """A git command failed: names the command and repeats git's own last words."""

    def __init__(self, action: str, detail: str, *, command: str = "", returncode: int = 1):
        self.action = action
        self.detail = detail
        self.command = command
        self.returncode = returncode
        super().__init__(f"{action}: {detail}")


class CacheLockedError(BtfmirrorError):
    """Another btfmirror holds the cache lock and the caller chose not to wait."""


class CatalogError(BtfmirrorError):
    """The catalog database cannot be used (unreadable, newer schema, corrupt)."""


class CatalogCorruptError(CatalogError):
    """The catalog file is damaged (bad pages, truncated, not SQLite); ``sync`` rebuilds it."""

    def __init__(self, path: str, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(
            f"catalog {path} is corrupt ({detail}): run `btfmirror sync` to rebuild it "
            "from the mirror"
        )


class CacheError(BtfmirrorError):
    """The cache directory cannot be used as it is: a file where a directory belongs (or the
    reverse), or read-only for a command that writes it. Names the path and the fault."""


class IdentityError(BtfmirrorError):
    """The running system's identity (os-release, uname) cannot be read or is unusable."""


class NoBtfFoundError(NotFoundError):
    """No BTF in an archive fits the system it was asked for (its own exit code for scripts)."""

    exit_code = 5


class CoreReloError(BtfmirrorError):
    """A CO-RE relocation record that does not fit its object's BTF (bad access string or id)."""


class FileWriteError(BtfmirrorError):
    """An output file cannot be written (missing directory, permissions, full disk)."""


class FileReadError(BtfmirrorError):
    """An input file that is there cannot be read: no permission, an I/O error. ``errno`` and
    ``path`` say which (a missing file is a :class:`NotFoundError`)."""

    def __init__(self, path: str, errno: int, strerror: str):
        self.path = path
        self.errno = errno
        super().__init__(f"{path}: cannot read: {strerror}")


class PackError(BtfmirrorError):
    """A package cannot be made as asked (``strict`` and a kernel bpftool would refuse)."""


class RemoteContentError(BtfmirrorError):
    """A remote offers something btfmirror refuses to use (an unsafe path, a blob over the cap).

    Raised per entry; ``sync`` skips that entry with a warning and goes on.
    """


class BlobTooLargeError(RemoteContentError):
    """A blob is larger than the per-archive cap: it is never read or written."""

    def __init__(self, oid: str, size: int, limit: int) -> None:
        self.oid = oid
        self.size = size
        self.limit = limit
        super().__init__(f"blob {oid} is {size} bytes, over the {limit}-byte cap per archive")


class EmptyRemoteError(GitCommandError):
    """A remote has no commit (an empty repository, or no default branch)."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"remote {url}", "it has no commits (an empty repository)")


class VerifyError(BtfmirrorError):
    """A package that the consumer it is judged by cannot read for some kernel (``verify``;
    its own exit code, so CI can tell a miss from a package that cannot be read at all)."""

    exit_code = 7


class DamagedArchiveError(ArchiveError):
    """A local kernel archive whose contents no longer match the blob id the catalog records
    (truncated, overwritten), which could not be fetched again."""

    def __init__(self, path: str, expected: str, actual: str | None, reason: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        found = "cannot be read" if actual is None else f"hashes to blob {actual[:12]}"
        super().__init__(
            f"{path}: the local archive is damaged (it {found}, the remote's is blob "
            f"{expected[:12]}) and could not be fetched again: {reason}; run "
            "`btfmirror sync --repair` once the remote is reachable"
        )


class PackageError(ArchiveError):
    """A distro kernel package (.deb, .ddeb, .rpm) that cannot be read safely: names the file
    and the part of it at fault (an ar member, an rpm header and byte offset, a payload entry)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")
