"""Unpacking a btfmirror package (``./package.json`` + ``./btfhub-archive/...``) safely.

The package is a tar, plain or compressed in a format of :data:`~btfhub_mirror.package.FORMATS`
(told apart by magic bytes). It comes from wherever a program was shipped, so nothing in it is
trusted:

- every entry name is checked before anything is written: no absolute names, no ``..``, no NUL;
- only directories, regular files, hard links and symbolic links are accepted. A hard link must
  name a regular file that came earlier in the same archive (``pack --hardlinks`` writes those). A
  symbolic link must be relative and stay inside the tree; links are created only after every
  file is written, so no write ever goes through one;
- devices, FIFOs and anything else are refused, as are duplicate names;
- the number of entries, each file's size and the total decompressed size are capped
  (:class:`ExtractLimits`), so a decompression bomb fails early;
- files are created with ``O_EXCL | O_NOFOLLOW`` and fixed modes (0644, dirs 0755): owners and
  set-id bits in the archive are ignored.

Any failure removes the partial directory and raises :class:`~btfhub_mirror.errors.ArchiveError`
naming the entry.

A ``wanted`` predicate limits what is written to the entries it accepts (``select`` wants one
kernel's file out of thousands): every entry is still read and checked as above, and counts
towards the limits, so a hostile archive fails the same way either way. Where writing less could
change the outcome, :class:`NeedsFullExtraction` asks for a full unpack instead: a symbolic link
(it may lead to a file that was not written), a wanted hard link to a file that was not, and an
entry named like a directory that only the files not written would have created.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import weakref
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, cast

import zstandard

from ..archive import MAX_BTF_SIZE
from ..errors import ArchiveError, NotFoundError
from ..package import (
    ARCHIVE_DIR,
    CHUNK,
    MAX_PACKAGE_JSON,
    PACKAGE_JSON,
    CappedReader,
    open_decompressed,
    xz_error,
    zstd_error,
)


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """Caps on what one archive may make us write."""

    # btfhub-archive holds about 7,000 kernels; with the aarch64/codename aliases a package of
    # every one of them stays under 30,000 entries.
    max_entries: int = 100_000
    # One member is one kernel's BTF: the same cap as every other BTF we read.
    max_file_size: int = MAX_BTF_SIZE
    # A minimized package is megabytes; 1 GiB still holds ~40 full un-deduplicated CentOS 8
    # BTFs, or a few hundred ordinary full kernel BTFs. Callers may raise it.
    max_total_size: int = 1024 * 1024 * 1024
    max_package_json_size: int = MAX_PACKAGE_JSON
    max_name_length: int = 1024


DEFAULT_LIMITS = ExtractLimits()


class ExtractedArchive:
    """A temporary directory holding an unpacked package; removed by :meth:`close`.

    :attr:`path` is its ``btfhub-archive`` directory (or :attr:`root` itself, for a layout
    without one), :attr:`root` the directory holding everything.
    Also a context manager; the directory is removed at interpreter exit at the latest.
    """

    def __init__(self, root: Path, path: Path | None = None):
        self.root = root
        self.path = root / ARCHIVE_DIR if path is None else path
        self._finalizer = weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Remove the temporary directory (idempotent)."""
        self._finalizer()

    def __enter__(self) -> ExtractedArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class UnpackedPackage:
    """What :func:`unpack_tar` returns.

    ``package_json`` is ``None`` when the archive has no ``package.json``; ``archive`` is
    ``None`` when it has no ``btfhub-archive`` directory nor any other directory at its top
    (its temporary directory is then already removed).
    """

    package_json: bytes | None
    archive: ExtractedArchive | None


class NeedsFullExtraction(ArchiveError):
    """Writing only the wanted entries could give another result: extract everything.

    An ArchiveError so a caller of ``unpack_tar(wanted=...)`` never sees an untyped exception.
    """


def open_package(path: Path) -> BinaryIO:
    """``path`` opened for reading: NotFoundError when it is missing, ArchiveError when it
    cannot be read (the errors ``select`` and ``verify`` give)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist") from None
    except OSError as err:
        raise ArchiveError(f"cannot read {path}: {err.strerror or err}") from err
    return cast(BinaryIO, handle)


def normalize_name(name: str, *, what: str = "entry") -> str:
    """A tar entry name as a clean relative POSIX path; ArchiveError if it could escape."""
    if "\0" in name:
        raise ArchiveError(f"{what} {name!r}: name contains NUL")
    if name.startswith("/"):
        raise ArchiveError(f"{what} {name!r}: absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"{what} {name!r}: name contains '..'")
    return "/".join(parts)


def _shown(kind: str) -> str:
    return "file" if kind == "skipped" else kind


class _Extractor:
    """State of one extraction: what was written, totals, deferred symlinks."""

    def __init__(
        self,
        root: Path,
        limits: ExtractLimits,
        source: str,
        wanted: Callable[[str], bool] | None = None,
    ):
        self.root = root
        self.limits = limits
        self.source = source
        self.wanted = wanted
        #: Directories that writing the skipped files would have created (``wanted`` only).
        self.implicit_dirs: set[str] = set()
        #: clean name -> "dir" | "file" | "link" | "symlink" | "skipped" (a file not wanted)
        self.seen: dict[str, str] = {}
        self.symlinks: list[tuple[str, str]] = []
        self.total = 0
        self.package_json: bytes | None = None

    def fail(self, name: str, message: str) -> ArchiveError:
        return ArchiveError(f"{self.source}: entry {name!r}: {message}")

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if len(member.name) > self.limits.max_name_length:
            raise self.fail(member.name[:80] + "...", "name too long")
        if member.issparse():
            # A sparse member's declared size says nothing of its real size on disk or the work
            # to fill its holes; no btfmirror package needs one.
            raise self.fail(member.name, "sparse members are refused")
        name = normalize_name(member.name, what=f"{self.source}: entry")
        if not name:
            if member.isdir():
                return  # "./" itself
            raise self.fail(member.name, "empty name")
        if name in self.seen and not (member.isdir() and self.seen[name] == "dir"):
            raise self.fail(member.name, "appears twice in the archive")
        wanted_only = self.wanted is not None and not member.isdir()
        if wanted_only and (member.issym() or name in self.implicit_dirs):
            raise NeedsFullExtraction(name)
        if member.isdir():
            self._mkdirs(name)
            self.seen[name] = "dir"
        elif member.isreg():
            if self.wanted is None or self.wanted(name):
                self._write_file(tar, member, name)
                self.seen[name] = "file"
            else:
                self._check_path(name)
                self._count(member, name)  # tarfile reads past the data itself
                self._note_parents(name)
                # Its directory is made, empty, as a full unpack would make it, so a reader of
                # the partial tree sees the same directories (a miss is told as it would be).
                if "/" in name:
                    self._mkdirs(name.rsplit("/", 1)[0])
                self.seen[name] = "skipped"
        elif member.islnk():
            self.seen[name] = self._hard_link(member, name)
        elif member.issym():
            self._check_symlink(member, name)
            self.seen[name] = "symlink"
        else:
            raise self.fail(member.name, f"{_type_name(member)} entries are not allowed")

    def _mkdirs(self, name: str) -> Path:
        """Create directory ``name`` (and parents) inside root; refuse anything in the way."""
        self._check_path(name, itself=True)
        path = self.root
        for part in name.split("/"):
            path = path / part
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                if path.is_symlink() or not path.is_dir():
                    raise self.fail(name, f"{part!r} is not a directory") from None
            except OSError as err:
                raise self.fail(name, f"cannot create directory: {err.strerror}") from err
        return path

    def _note_parents(self, name: str) -> None:
        parts = name.split("/")
        self.implicit_dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))

    def _check_path(self, name: str, *, itself: bool = False) -> None:
        """Refuse a path through an entry that is no directory (``itself``: ``name`` too)."""
        parts = name.split("/")
        for i in range(1, len(parts) + 1 if itself else len(parts)):
            kind = self.seen.get("/".join(parts[:i]))
            if kind is not None and kind != "dir":
                raise self.fail(name, f"goes through {'/'.join(parts[:i])!r}, a {_shown(kind)}")

    def _parent(self, name: str) -> Path:
        parent, _, _ = name.rpartition("/")
        return self._mkdirs(parent) if parent else self.root

    def _count(self, member: tarfile.TarInfo, name: str) -> None:
        """Apply the size limits to a file, written or not."""
        limit = self.limits.max_file_size
        if name == PACKAGE_JSON:
            limit = min(limit, self.limits.max_package_json_size)
        if member.size > limit:
            raise self.fail(member.name, f"{member.size} bytes, more than the {limit} allowed")
        self.total += member.size
        if self.total > self.limits.max_total_size:
            raise self.fail(
                member.name, f"archive holds more than {self.limits.max_total_size} bytes"
            )

    def _write_file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        self._count(member, name)
        path = self._parent(name) / name.rpartition("/")[2]
        source = tar.extractfile(member)
        if source is None:
            raise self.fail(member.name, "has no data")
        keep = bytearray() if name == PACKAGE_JSON else None
        written = 0
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise self.fail(member.name, f"cannot create file: {err.strerror}") from err
        with os.fdopen(fd, "wb", buffering=0) as out:  # unbuffered: write errors surface here
            while chunk := source.read(CHUNK):
                written += len(chunk)
                try:
                    view = memoryview(chunk)
                    while view:  # a raw write may be partial
                        view = view[out.write(view) or 0 :]
                except OSError as err:  # a full disk is not a bad archive: say which it is
                    raise self.fail(member.name, f"cannot write: {err.strerror}") from err
                if keep is not None:
                    keep += chunk
        if written != member.size:
            raise self.fail(member.name, f"truncated: {written} of {member.size} bytes")
        if keep is not None:
            self.package_json = bytes(keep)

    def _hard_link(self, member: tarfile.TarInfo, name: str) -> str:
        """Link ``name`` to its earlier file; what it is now ("link" or "skipped")."""
        target = normalize_name(member.linkname, what=f"{self.source}: hard link target")
        target_kind = self.seen.get(target)
        if target_kind not in ("file", "link", "skipped"):
            raise self.fail(
                member.name, f"hard link to {member.linkname!r}, which is no earlier file"
            )
        if self.wanted is not None and not self.wanted(name):
            self._check_path(name)
            self._note_parents(name)
            return "skipped"
        if target_kind == "skipped":
            raise NeedsFullExtraction(name)
        dest = self._parent(name) / name.rpartition("/")[2]
        try:
            os.link(self.root / target, dest, follow_symlinks=False)
        except OSError:
            try:  # a filesystem without hard links: a copy is as good for reading
                shutil.copyfile(self.root / target, dest, follow_symlinks=False)
            except OSError as err:
                raise self.fail(member.name, f"cannot create hard link: {err.strerror}") from err
        return "link"

    def _check_symlink(self, member: tarfile.TarInfo, name: str) -> None:
        target = member.linkname
        if not target or target.startswith("/") or "\0" in target:
            raise self.fail(member.name, f"symbolic link to {target!r} leaves the archive")
        parts = target.split("/")
        ups = 0
        while ups < len(parts) and parts[ups] == "..":
            ups += 1
        # Only leading ".." (which walk real directories: no entry name goes through a link).
        if ".." in parts[ups:]:
            raise self.fail(member.name, f"symbolic link to {target!r}: '..' after a name")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if resolved in ("", ".", "..") or resolved.startswith("../"):
            raise self.fail(member.name, f"symbolic link to {target!r} leaves the archive")
        self.symlinks.append((name, resolved))

    def finish(self) -> None:
        """Create the deferred symbolic links, after every file is in place.

        A link may not point at or through another link, so what it names is exactly the
        lexical resolution checked in :meth:`_check_symlink`.
        """
        for name, resolved in self.symlinks:
            parts = resolved.split("/")
            for i in range(1, len(parts) + 1):
                if self.seen.get("/".join(parts[:i])) == "symlink":
                    raise self.fail(name, "symbolic link to a symbolic link")
            dest = self._parent(name) / name.rpartition("/")[2]
            target = posixpath.relpath(resolved, posixpath.dirname(name) or ".")
            try:
                os.symlink(target, dest)
            except OSError as err:
                raise self.fail(name, f"cannot create symbolic link: {err.strerror}") from err


#: Largest PAX / GNU long-name header accepted; tarfile reads one whole into memory.
MAX_META_SIZE = 1024 * 1024
_META_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)


class _CappedTarInfo(tarfile.TarInfo):
    """Refuses an oversized metadata header before tarfile reads it into memory."""

    def _proc_member(self, tar: tarfile.TarFile) -> Any:
        if self.type in _META_TYPES and self.size > MAX_META_SIZE:
            raise ArchiveError(
                f"a {self.size}-byte metadata (PAX or long name) header; at most "
                f"{MAX_META_SIZE} allowed"
            )
        return super()._proc_member(tar)  # type: ignore[misc]


def _stream_cap(limits: ExtractLimits) -> int:
    """Decompressed bytes a tar within ``limits`` can need: data, headers, padding."""
    return limits.max_total_size + limits.max_entries * 4 * 512 + tarfile.RECORDSIZE


def _type_name(member: tarfile.TarInfo) -> str:
    if member.ischr():
        return "character device"
    if member.isblk():
        return "block device"
    if member.isfifo():
        return "FIFO"
    return f"type {member.type!r}"


def _members(tar: tarfile.TarFile, limits: ExtractLimits, source: str) -> Iterator[tarfile.TarInfo]:
    for count, member in enumerate(tar, start=1):
        if count > limits.max_entries:
            raise ArchiveError(f"{source}: more than {limits.max_entries} entries; refusing")
        yield member


def extract_package(
    data: bytes | BinaryIO,
    dest: Path,
    *,
    limits: ExtractLimits = DEFAULT_LIMITS,
    source: str = "archive",
    wanted: Callable[[str], bool] | None = None,
) -> bytes | None:
    """Unpack the package in ``data`` into the empty directory ``dest``; package.json's bytes.

    With ``wanted``, only the files (and hard links) whose clean name it accepts are written;
    NeedsFullExtraction when a wanted hard link names a file that was not. On failure ``dest``
    may hold a partial tree: the caller owns and removes it.
    """
    extractor = _Extractor(dest, limits, source, wanted)
    with archive_errors(source):
        capped = open_capped(data, limits, source)
        with tarfile.open(fileobj=capped, mode="r|", tarinfo=_CappedTarInfo) as tar:
            for member in _members(tar, limits, source):
                extractor.add(tar, member)
        extractor.finish()
    return extractor.package_json


def open_capped(data: bytes | BinaryIO, limits: ExtractLimits, source: str) -> BinaryIO:
    """:func:`open_decompressed`, refusing more decompressed bytes than a tar within ``limits``
    can need (ArchiveError when read past that)."""
    # Headers and padding count too: a tar of a billion empty entries is a bomb as well.
    stream = CappedReader(open_decompressed(data), _stream_cap(limits), source)
    return cast(BinaryIO, io.BufferedReader(stream))


@contextlib.contextmanager
def archive_errors(source: str) -> Iterator[None]:
    """Reading a package inside: every decompressor's or tar's failure as one ArchiveError."""
    try:
        yield
    except ArchiveError:
        raise
    except lzma.LZMAError as err:
        raise xz_error(err, source) from err
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ArchiveError(f"{source}: not a readable tar archive: {err}") from err
    except zstandard.ZstdError as err:
        raise zstd_error(err, source) from err


def unpack_tar(
    data: bytes | BinaryIO,
    *,
    limits: ExtractLimits = DEFAULT_LIMITS,
    tmp_dir: Path | None = None,
    source: str = "archive",
    wanted: Callable[[str], bool] | None = None,
) -> UnpackedPackage:
    """Unpack a btfmirror package (its bytes, or a seekable file) into a new temporary directory.

    Returns ``package.json``'s bytes and, when the package has a ``btfhub-archive`` directory
    or, as bcc's and Inspektor Gadget's layouts, ``<ID>/...`` directories at its top, an
    :class:`ExtractedArchive` that owns the directory (close it when done). ``tmp_dir`` is
    where the temporary directory is made (default: the system's). ``wanted``: see
    :func:`extract_package`.
    """
    root = Path(tempfile.mkdtemp(prefix="btfmirror-", dir=tmp_dir))
    try:
        package_json = extract_package(data, root, limits=limits, source=source, wanted=wanted)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    inner = root / ARCHIVE_DIR
    if inner.is_dir() and not inner.is_symlink():
        return UnpackedPackage(package_json, ExtractedArchive(root, inner))
    # bcc's and Inspektor Gadget's layouts put <ID>/... at the top: any real directory there
    # (a wanted-only unpack makes the directories of the files it skips too).
    if any(p.is_dir() and not p.is_symlink() for p in root.iterdir()):
        return UnpackedPackage(package_json, ExtractedArchive(root, root))
    shutil.rmtree(root, ignore_errors=True)
    return UnpackedPackage(package_json, None)
