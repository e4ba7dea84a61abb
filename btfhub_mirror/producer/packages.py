"""Reading distro kernel packages (.deb / .ddeb, .rpm) for the kernel images they carry.

``btfmirror add`` takes a vendor's kernel package and needs three things from it: the kernel
image (or debug vmlinux) to take BTF from, and what the package says about itself (distro,
version, arch, ``uname -r``) so the BTF lands at btfhub-archive's
``<distro>/<version>/<arch>/<release>.btf.tar.xz``. Nothing is extracted to disk.

Formats, as their own tools read them:

- **.deb / .ddeb** (``deb(5)``): an ``ar`` archive (``!<arch>\\n``, 60-byte member headers,
  members padded to even offsets) of ``debian-binary`` (``2.x``), ``control.tar[.gz|.xz|.zst]``
  and ``data.tar[.gz|.xz|.zst|.bz2]``. dpkg picks the decompressor by the member's name; a
  member whose bytes are not what its name says is refused here too.
- **.rpm** (rpm's ``lib/header.c``, ``lib/rpmlead.c``): a 96-byte lead, the signature header
  (padded to 8 bytes), the main header (``8e ad e8 01``, index entries of 16 bytes, then the
  data store) and the payload: a ``newc`` cpio (``070701``/``070702``) compressed as
  ``PAYLOADCOMPRESSOR`` says.

Everything is untrusted. Each number read is bounds-checked against the file and against
:class:`PackageLimits` before it is used; payloads are streamed and decompressed through a cap
(the project's :func:`~btfhub_mirror.runtime.extract.open_capped`), entries are skipped without
keeping their bytes, and only the kernel images returned are held in memory. Entry names are
only matched, never used as paths: a name with ``..`` or NUL is simply no kernel image.

Metadata is taken only where the package says it; the rest is None and ``add`` asks for the
flag. ``uname -r`` is the image's own path (``boot/vmlinuz-<r>``, ``lib/modules/<r>/``), which
agrees with the package name (``linux-image-<r>[-dbg]``) or VERSION-RELEASE.ARCH on Debian and
the RHEL family and is the only right one on SUSE. Arch maps dpkg's/rpm's names onto
btfhub-archive's (amd64 → x86_64, aarch64 → arm64, ppc64el → ppc64le). Distro and version: a
Debian suite marker (``+deb12``, ``~bpo11``, ``.deb11.``) or the Debian Kernel Team's own
series (6.1.0-N is bookworm's), Ubuntu's maintainer and ``~20.04`` backport suffix, rpm dist
tags ``fcNN`` / ``amznN``, and ``elN`` only with a vendor saying CentOS, Red Hat or Oracle.
"""

from __future__ import annotations

import bz2
import io
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, cast

from ..errors import ArchiveError, PackageError
from ..pack import tarwalk
from ..package import FORMATS, MAGIC_LEN, CappedReader, compression_of
from ..runtime.extract import MAX_META_SIZE, ExtractLimits, archive_errors, open_capped

_MIB = 1024 * 1024
_GIB = 1024 * _MIB


@dataclass(frozen=True, slots=True)
class PackageLimits:
    """Caps on what reading one package may cost.

    Sized from real Debian 12 kernel packages (6.1.0-57, ``apt-cache show`` and the files):
    ``linux-image-*-amd64`` is a 71 MB .deb installing 400 MB; ``-cloud-amd64`` 27 MB, 1,379
    entries; ``linux-image-*-amd64-dbg`` an 859 MB .deb installing 5.6 GB; the cloud ``-dbg``
    283 MB installing 1.75 GB, whose one debug vmlinux is 590 MB. Reading that -dbg takes 16 s
    and 619 MB of RSS: the vmlinux once, everything else streamed.
    """

    #: Decompressed payload bytes walked (kept or skipped): a bound on time (~100 MB/s of xz)
    #: rather than memory, as skipped bytes are streamed; three times the 5.6 GB -dbg.
    max_total_size: int = 16 * _GIB
    #: Entries in a payload (tar or cpio): a kernel package has a few thousand.
    max_members: int = 200_000
    #: One kernel image or vmlinux kept in memory: a debug vmlinux is ~600 MB.
    max_image_size: int = 2 * _GIB
    #: All images kept together (a -dbg package has one vmlinux; the others are links).
    max_images_total: int = 3 * _GIB
    #: ``control.tar`` decompressed (its ``control`` file is a few KB).
    max_control_size: int = 16 * _MIB
    #: An rpm header's index entries: rpm's own HEADER_TAGS_MAX.
    max_header_entries: int = 0xFFFF
    #: An rpm header's data store (rpm allows 256 MiB): a kernel-debuginfo's file list is MBs.
    max_header_store: int = 64 * _MIB
    #: One entry name (a cpio ``namesize``, a tar name after PAX / GNU long names); PATH_MAX.
    max_name_length: int = 4096


DEFAULT_PACKAGE_LIMITS = PackageLimits()


@dataclass(frozen=True, slots=True)
class PackageImage:
    """One kernel image or vmlinux found in a package."""

    member: str  # clean path inside the package, e.g. "boot/vmlinuz-6.1.0-50-amd64"
    data: bytes


@dataclass(frozen=True, slots=True)
class PackageContents:
    """What a kernel package says about itself, and the images it carries (best first)."""

    distro: str | None
    version: str | None
    arch: str | None
    release: str | None
    images: tuple[PackageImage, ...]


# --- which entries are kernel images --------------------------------------------------------

#: (pattern, rank): lower ranks come first. A debug vmlinux is a full ELF with DWARF and, on
#: kernels built with CONFIG_DEBUG_INFO_BTF, the .BTF section; vmlinuz / Image need unpacking.
_IMAGE_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"usr/lib/debug/boot/vmlinux-(?P<r>[^/]+?)(?:\.debug)?"), 0),
    (re.compile(r"usr/lib/debug/lib/modules/(?P<r>[^/]+)/vmlinux(?:\.debug)?"), 0),
    (re.compile(r"boot/vmlinux-(?P<r>[^/]+?)(?:\.gz)?"), 1),
    (re.compile(r"lib/modules/(?P<r>[^/]+)/vmlinux"), 1),
    (re.compile(r"boot/vmlinuz-(?P<r>[^/]+)"), 2),
    (re.compile(r"lib/modules/(?P<r>[^/]+)/vmlinuz"), 2),
    (re.compile(r"boot/Image-(?P<r>[^/]+)"), 2),
)
#: What a uname -r looks like (kernel version first): excludes meta names like "amd64".
_RELEASE = re.compile(r"\d+\.\d+[0-9A-Za-z.+_~-]*")
#: Files kept next to an image under its name plus a suffix (Fedora's .vmlinuz.hmac, detached
#: signatures, checksums): never images themselves.
_NOT_IMAGE_SUFFIXES = (".hmac", ".sig", ".p7s", ".asc", ".sha256", ".sha512")


def clean_name(name: str) -> str | None:
    """``name`` as a relative POSIX path, or None when it is no path we would match."""
    if "\0" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


def image_match(name: str) -> tuple[int, str] | None:
    """(rank, release) when the clean ``name`` is a kernel image's place, else None."""
    if name.endswith(_NOT_IMAGE_SUFFIXES):
        return None
    for pattern, rank in _IMAGE_PATTERNS:
        found = pattern.fullmatch(name)
        if found and _RELEASE.fullmatch(found["r"]):
            return rank, found["r"]
    return None


@dataclass(slots=True)
class _Found:
    rank: int
    order: int
    release: str
    image: PackageImage


class _Collector:
    """The images kept so far, within the caps."""

    def __init__(self, path: str, limits: PackageLimits):
        self.path = path
        self.limits = limits
        self.found: list[_Found] = []
        self.total = 0  # bytes of the images kept
        self.walked = 0  # bytes of every entry's data, kept or skipped

    def count(self, size: int, where: str) -> None:
        """Count an entry's data towards the total cap before it is read or skipped (the
        decompressed stream's own cap also allows for headers, so it alone is looser)."""
        self.walked += size
        if self.walked > self.limits.max_total_size:
            raise PackageError(
                self.path,
                f"{where}: the payload holds more than {self.limits.max_total_size} bytes",
            )

    def wants(self, name: str, size: int, where: str) -> tuple[int, str] | None:
        match = image_match(name)
        if match is None or size == 0:
            return None
        if size > self.limits.max_image_size:
            raise PackageError(
                self.path,
                f"{where}: kernel image {name!r} is {size} bytes, more than the "
                f"{self.limits.max_image_size} allowed",
            )
        if self.total + size > self.limits.max_images_total:
            raise PackageError(
                self.path,
                f"{where}: kernel images total more than {self.limits.max_images_total} bytes",
            )
        return match

    def add(self, match: tuple[int, str], name: str, data: bytes) -> None:
        self.total += len(data)
        self.found.append(_Found(match[0], len(self.found), match[1], PackageImage(name, data)))

    def images(self) -> tuple[PackageImage, ...]:
        return tuple(f.image for f in sorted(self.found, key=lambda f: (f.rank, f.order)))

    def release(self, stated: str | None) -> str | None:
        """The release the images' paths name; the package's own when it is among them."""
        named = [f.release for f in sorted(self.found, key=lambda f: (f.rank, f.order))]
        if stated is not None and (not named or stated in named):
            return stated
        return named[0] if named else stated


# --- reading helpers ------------------------------------------------------------------------


class _Section(io.RawIOBase):
    """``size`` bytes of ``inner`` from ``start``, as a seekable stream of their own."""

    def __init__(self, inner: BinaryIO, start: int, size: int):
        self._inner = inner
        self._start = start
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(base + offset, 0), self._size)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        self._inner.seek(self._start + self._pos)
        data = self._inner.read(want)
        self._pos += len(data)
        view[: len(data)] = data
        return len(data)


def _section(handle: BinaryIO, start: int, size: int) -> BinaryIO:
    return cast(BinaryIO, io.BufferedReader(_Section(handle, start, size), _MIB))


#: bzip2, which dpkg and rpm still take for a payload but no btfmirror package is written in.
_BZ2_MAGIC = b"BZh"
#: Decompressor names as deb member suffixes (``data.tar.xz``: ``.xz``) and rpm's
#: PAYLOADCOMPRESSOR (``xz``) say them: the package formats' own, and bzip2.
_COMPRESSION_BY_NAME: dict[str, str] = {
    **{f.suffix.removeprefix(".tar"): f.compression for f in FORMATS.values()},
    **{f.codec: f.compression for f in FORMATS.values()},
    ".bz2": "bz2",
    "bzip2": "bz2",
}
_SHOWN: dict[str, str] = {
    **{f.compression: f.codec or "uncompressed" for f in FORMATS.values()},
    "bz2": "bzip2",
}


def _decompressed(
    raw: BinaryIO, expected: str, limits: PackageLimits, path: str, where: str, cap: int
) -> BinaryIO:
    """``raw`` decompressed as ``expected`` says (checked against its magic), capped at ``cap``
    decompressed bytes."""
    start = raw.tell()
    magic = raw.read(MAGIC_LEN)
    raw.seek(start)
    actual = "bz2" if magic[:3] == _BZ2_MAGIC else compression_of(magic)
    if actual != expected:
        raise PackageError(
            path, f"{where}: said to be {_SHOWN[expected]}, but its bytes are {_SHOWN[actual]}"
        )
    extract = ExtractLimits(max_entries=limits.max_members, max_total_size=cap)
    if actual == "bz2":
        stream = CappedReader(cast(BinaryIO, bz2.BZ2File(raw)), cap, f"{path}: {where}")
        return cast(BinaryIO, io.BufferedReader(stream))
    return open_capped(raw, extract, f"{path}: {where}")


def _typed(path: str) -> Callable[[ArchiveError], PackageError]:
    def convert(err: ArchiveError) -> PackageError:
        if isinstance(err, PackageError):
            return err
        text = str(err)
        return PackageError(path, text.removeprefix(f"{path}: "))

    return convert


def _read_exact(handle: BinaryIO, size: int, path: str, where: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise PackageError(path, f"{where}: truncated (wanted {size} bytes, found {len(data)})")
    return data


# --- payloads (tar, cpio) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayloadEntry:
    """One entry of a payload (tar or cpio), as its header says it."""

    name: str  # as stored (clean it before matching)
    regular: bool
    size: int


#: An entry and a function returning its data (call it at most once; unread data is skipped).
EntryVisitor = Callable[[PayloadEntry, Callable[[], bytes]], None]

_TAR_BLOCK = tarwalk.BLOCK


class _Exact:
    """Exact reads from a decompressed payload; a short read is a truncated payload."""

    def __init__(self, stream: BinaryIO, path: str, what: str):
        self.stream = stream
        self.path = path
        self.what = what
        self.offset = 0

    def read(self, size: int, where: str) -> bytes:
        # One read(size) of a BufferedReader fills a single size-byte object: a kept image
        # costs its size once, not twice.
        data = self.stream.read(size)
        self.offset += len(data)
        if len(data) != size:
            raise PackageError(self.path, f"{self.what}: truncated in {where}")
        return data

    def skip(self, size: int, where: str) -> None:
        while size > 0:
            step = min(size, _MIB)
            self.read(step, where)
            size -= step


def walk_tar(
    stream: BinaryIO, limits: PackageLimits, path: str, what: str, visit: EntryVisitor
) -> None:
    """Walk a (decompressed) tar header by header, streaming: ``visit`` sees each file.

    Header fields, checksums and PAX records are read by the project's tar header parser
    (:mod:`btfhub_mirror.pack.tarwalk`); GNU long names and PAX ``path``/``size`` apply to
    the next entry, as GNU tar and Python's tarfile apply them.
    """
    reader = _Exact(stream, path, what)
    pending: dict[str, str] = {}
    for index in range(limits.max_members + 1):
        block = stream.read(_TAR_BLOCK)
        reader.offset += len(block)
        if not block or block.count(0) == _TAR_BLOCK:
            return  # the end blocks (or a tar ended without them, as GNU tar accepts)
        where = f"tar header {index} at byte {reader.offset - len(block)}"
        if len(block) != _TAR_BLOCK:
            raise PackageError(path, f"{what}: truncated in {where}")
        if index == limits.max_members:
            raise PackageError(path, f"{what}: more than {limits.max_members} entries")
        try:
            header = tarwalk.read_header(block, where)
        except ArchiveError as err:
            raise PackageError(path, f"{what}: {err}") from err
        name, kind, size = header.name, header.type, header.size
        if kind in tarwalk.META_TYPES:
            if size > MAX_META_SIZE:
                raise PackageError(path, f"{what}: {where}: a {size}-byte metadata header")
            data = reader.read(size, where)
            reader.skip(-size % _TAR_BLOCK, where)
            if kind == tarwalk.PAX:
                records = tarwalk.pax_records(data, where)
                pending.update((k, records[k]) for k in ("path", "size") if k in records)
            elif kind == tarwalk.GNU_LONGNAME:
                pending["path"] = tarwalk.cstring(data)
            continue
        name = pending.pop("path", name)
        if "size" in pending:
            size_text = pending.pop("size")
            if not size_text.isdigit():
                raise PackageError(path, f"{what}: {where}: PAX size {size_text!r}")
            size = int(size_text)
        if kind == b"S":
            raise PackageError(path, f"{what}: {where}: a GNU sparse entry; refusing")
        if len(name) > limits.max_name_length:
            raise PackageError(path, f"{what}: {where}: name longer than {limits.max_name_length}")
        if kind in tarwalk.HEADER_ONLY_TYPES:  # no data blocks, whatever the size says
            continue
        taken = False

        def take(size: int = size, where: str = where) -> bytes:
            nonlocal taken
            taken = True
            return reader.read(size, where)

        visit(PayloadEntry(name, kind in tarwalk.REGULAR_TYPES, size), take)
        if not taken:
            reader.skip(size, where)
        reader.skip(-size % _TAR_BLOCK, where)


def _image_visitor(collector: _Collector, what: str) -> EntryVisitor:
    """Keeps the regular files named like kernel images; counts every entry's bytes."""

    def visit(entry: PayloadEntry, read: Callable[[], bytes]) -> None:
        collector.count(entry.size, f"{what}: {entry.name[:200]!r}")
        name = clean_name(entry.name)
        if name is None or not entry.regular:
            return
        match = collector.wants(name, entry.size, f"{what}: {name}")
        if match is not None:
            collector.add(match, name, read())

    return visit


# --- .deb -----------------------------------------------------------------------------------

AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


@dataclass(frozen=True, slots=True)
class ArMember:
    name: str
    offset: int  # of the data
    size: int


def ar_members(handle: BinaryIO, file_size: int, path: str) -> Iterator[ArMember]:
    """The members of the ar archive ``handle`` (positioned after the global header)."""
    pos = len(AR_MAGIC)
    index = 0
    while pos < file_size:
        where = f"ar member {index} header at byte {pos}"
        handle.seek(pos)
        head = _read_exact(handle, _AR_HEADER, path, where)
        if head[58:60] != b"`\n":
            raise PackageError(path, f"{where}: bad header terminator (not an ar archive)")
        name = head[:16].decode("ascii", "replace").rstrip(" ").removesuffix("/")
        size_field = head[48:58].strip()
        if not size_field.isdigit():
            raise PackageError(path, f"{where}: size {size_field!r} is not a decimal number")
        size = int(size_field)
        data_at = pos + _AR_HEADER
        if size > file_size - data_at:
            raise PackageError(
                path,
                f"{where}: member {name!r} declares {size} bytes, only {file_size - data_at} "
                "remain (truncated?)",
            )
        yield ArMember(name, data_at, size)
        pos = data_at + size + (size & 1)
        index += 1


@dataclass(frozen=True, slots=True)
class DebControl:
    package: str
    version: str
    architecture: str
    source: str
    maintainer: str


def parse_control(text: str) -> dict[str, str]:
    """deb822 fields of one paragraph (continuation lines joined)."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        fields[key] = value.strip()
    return fields


def _member_compression(name: str, base: str) -> str | None:
    if not name.startswith(base):
        return None
    return _COMPRESSION_BY_NAME.get(name[len(base) :])


def _read_control(
    handle: BinaryIO, member: ArMember, expected: str, limits: PackageLimits, path: str
) -> DebControl:
    if member.size > limits.max_control_size:
        raise PackageError(path, f"{member.name}: {member.size} bytes, over the control cap")
    handle.seek(member.offset)
    raw = io.BytesIO(_read_exact(handle, member.size, path, member.name))
    found: list[bytes] = []

    def visit(entry: PayloadEntry, read: Callable[[], bytes]) -> None:
        if entry.regular and clean_name(entry.name) == "control" and not found:
            found.append(read())  # within max_control_size: the stream's cap holds it

    stream = _decompressed(raw, expected, limits, path, member.name, limits.max_control_size)
    walk_tar(stream, limits, path, member.name, visit)
    text = found[0].decode("utf-8", "replace") if found else None
    if text is None:
        raise PackageError(path, f"{member.name}: no control file")
    fields = parse_control(text)
    for required in ("package", "version", "architecture"):
        if not fields.get(required):
            raise PackageError(path, f"{member.name}: control has no {required.title()} field")
    return DebControl(
        package=fields["package"],
        version=fields["version"],
        architecture=fields["architecture"],
        source=fields.get("source", ""),
        maintainer=fields.get("maintainer", ""),
    )


def _read_deb_data(
    handle: BinaryIO,
    member: ArMember,
    expected: str,
    limits: PackageLimits,
    path: str,
    collector: _Collector,
) -> None:
    section = _section(handle, member.offset, member.size)
    stream = _decompressed(section, expected, limits, path, member.name, limits.max_total_size)
    walk_tar(stream, limits, path, member.name, _image_visitor(collector, member.name))


#: Debian's dpkg architecture → btfhub-archive's arch directory.
_DEB_ARCH = {"amd64": "x86_64", "arm64": "arm64", "s390x": "s390x", "ppc64el": "ppc64le"}
#: The kernel series each Debian stable release ships as its own ``linux`` (backports carry
#: ``.debNN.`` / ``+debNN`` in their ABI name, so an unmarked X.Y.0-N release is the suite's).
_DEBIAN_SERIES = {"3.16": "8", "4.9": "9", "4.19": "10", "5.10": "11", "6.1": "12"}
_DEB_NAME = re.compile(r"linux-image-(?:unsigned-)?(?P<r>.+?)(?:-unsigned)?(?:-dbg|-dbgsym)?")


def deb_release(package: str) -> str | None:
    """uname -r from a kernel image package's name (None for meta packages)."""
    found = _DEB_NAME.fullmatch(package)
    if found is None or not _RELEASE.fullmatch(found["r"]):
        return None
    return found["r"]


def deb_distro(control: DebControl, release: str | None) -> tuple[str | None, str | None]:
    """(distro, version) from clear evidence in the control file, else None for each."""
    maintainer = control.maintainer.lower()
    hay = f"{control.version} {release or ''}"
    if "ubuntu" in maintainer or "ubuntu" in control.version:
        # Ubuntu backports (HWE, cloud) say their series: 5.15.0-91.101~20.04.1.
        series = re.search(r"~(\d\d\.\d\d)(?:\.\d+)?$", control.version)
        return "ubuntu", series[1] if series else None
    marked = re.search(r"(?:\+deb|~deb|\.deb|~bpo)(\d+)", hay)
    if "debian" in maintainer or marked:
        if marked:
            return "debian", marked[1]
        if release and (series := re.match(r"(\d+\.\d+)\.0-\d+-", release)):
            return "debian", _DEBIAN_SERIES.get(series[1])
        return "debian", None
    return None, None


def read_deb(path: str, handle: BinaryIO, file_size: int, limits: PackageLimits) -> PackageContents:
    control: DebControl | None = None
    collector = _Collector(path, limits)
    members = ar_members(handle, file_size, path)
    first = next(members, None)
    if first is None or first.name != "debian-binary":
        raise PackageError(path, "not a Debian package: its first ar member is not debian-binary")
    handle.seek(first.offset)
    version = _read_exact(handle, min(first.size, 64), path, "debian-binary")
    if not version.startswith(b"2."):
        raise PackageError(path, f"debian-binary says {version[:16]!r}, not format 2.x")
    data_seen = False
    for member in members:
        if (compression := _member_compression(member.name, "control.tar")) is not None:
            if control is not None:  # dpkg-deb refuses a second one too
                raise PackageError(path, f"ar member {member.name!r}: a second control.tar")
            control = _read_control(handle, member, compression, limits, path)
        elif (compression := _member_compression(member.name, "data.tar")) is not None:
            if data_seen:
                raise PackageError(path, f"ar member {member.name!r}: a second data.tar")
            _read_deb_data(handle, member, compression, limits, path, collector)
            data_seen = True
        elif member.name.startswith(("control.tar", "data.tar")):
            raise PackageError(path, f"ar member {member.name!r}: unknown compression")
    if control is None:
        raise PackageError(path, "no control.tar member")
    if not data_seen:
        raise PackageError(path, "no data.tar member")
    stated = deb_release(control.package)
    release = collector.release(stated)
    distro, version_id = deb_distro(control, release)
    return PackageContents(
        distro=distro,
        version=version_id,
        arch=_DEB_ARCH.get(control.architecture),
        release=release,
        images=collector.images(),
    )


# --- .rpm -----------------------------------------------------------------------------------

RPM_LEAD_MAGIC = b"\xed\xab\xee\xdb"
RPM_HEADER_MAGIC = b"\x8e\xad\xe8\x01"
_LEAD_SIZE = 96

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_DISTRIBUTION = 1010
TAG_VENDOR = 1011
TAG_ARCH = 1022
TAG_PAYLOADFORMAT = 1124
TAG_PAYLOADCOMPRESSOR = 1125

_STRING, _STRING_ARRAY, _I18NSTRING = 6, 8, 9


@dataclass(frozen=True, slots=True)
class RpmHeader:
    """The string tags of one rpm header (the only ones a kernel package is read for)."""

    strings: dict[int, str]
    size: int  # bytes the header occupies

    def get(self, tag: int) -> str | None:
        return self.strings.get(tag)


def read_rpm_header(
    handle: BinaryIO, offset: int, file_size: int, limits: PackageLimits, path: str, what: str
) -> RpmHeader:
    where = f"{what} header at byte {offset}"
    handle.seek(offset)
    intro = _read_exact(handle, 16, path, where)
    if intro[:4] != RPM_HEADER_MAGIC:
        raise PackageError(path, f"{where}: bad magic {intro[:4].hex()} (want 8eade801)")
    count = int.from_bytes(intro[8:12], "big")
    store_size = int.from_bytes(intro[12:16], "big")
    if count > limits.max_header_entries:
        raise PackageError(
            path, f"{where}: {count} index entries, over the {limits.max_header_entries} cap"
        )
    if store_size > limits.max_header_store:
        raise PackageError(
            path, f"{where}: a {store_size}-byte store, over the {limits.max_header_store} cap"
        )
    size = 16 + 16 * count + store_size
    if size > file_size - offset:
        raise PackageError(
            path, f"{where}: declares {size} bytes, only {file_size - offset} remain"
        )
    index = _read_exact(handle, 16 * count, path, where)
    store = _read_exact(handle, store_size, path, where)
    strings: dict[int, str] = {}
    for i in range(count):
        tag, kind, at, n = (
            int.from_bytes(index[16 * i + 4 * k : 16 * i + 4 * k + 4], "big") for k in range(4)
        )
        if kind not in (_STRING, _STRING_ARRAY, _I18NSTRING) or n == 0:
            continue
        if at >= store_size:
            raise PackageError(
                path, f"{where}: tag {tag} points at {at}, past its {store_size}-byte store"
            )
        end = store.find(b"\0", at)
        if end < 0:
            raise PackageError(path, f"{where}: tag {tag}: string runs off the store")
        strings.setdefault(tag, store[at:end].decode("utf-8", "replace"))
    return RpmHeader(strings, size)


_CPIO_HEADER = 110
_CPIO_MAGICS = (b"070701", b"070702")


def _hex(field: bytes, what: str, path: str, where: str) -> int:
    try:
        return int(field, 16)
    except ValueError:
        raise PackageError(path, f"{where}: {what} {field!r} is not hexadecimal") from None


def read_cpio(stream: BinaryIO, limits: PackageLimits, path: str, visit: EntryVisitor) -> None:
    """Walk a (decompressed) newc cpio, streaming: ``visit`` sees each entry.

    newc (``070701``; ``070702`` adds a checksum nobody checks): a 110-byte header of 8-digit
    hex fields, the NUL-terminated name, both padded to 4 bytes, then the data, padded to 4;
    ``TRAILER!!!`` ends it.
    """
    reader = _Exact(stream, path, "payload")
    for index in range(limits.max_members + 1):
        where = f"cpio entry {index} at payload byte {reader.offset}"
        head = reader.read(_CPIO_HEADER, where)
        if head[:6] not in _CPIO_MAGICS:
            kind = "a stripped (07070X) cpio" if head[:6] == b"07070X" else repr(head[:6])
            raise PackageError(path, f"payload: {where}: {kind}, not a newc cpio")
        mode = _hex(head[14:22], "mode", path, where)
        size = _hex(head[54:62], "filesize", path, where)
        name_size = _hex(head[94:102], "namesize", path, where)
        if name_size == 0 or name_size > limits.max_name_length:
            raise PackageError(path, f"payload: {where}: name size {name_size}")
        raw_name = reader.read(name_size, where)
        reader.skip(-(_CPIO_HEADER + name_size) % 4, where)
        name = raw_name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if name == "TRAILER!!!":
            return
        if index == limits.max_members:
            raise PackageError(path, f"payload: more than {limits.max_members} entries")
        taken = False

        def take(size: int = size, where: str = where) -> bytes:
            nonlocal taken
            taken = True
            return reader.read(size, where)

        visit(PayloadEntry(name, stat.S_ISREG(mode), size), take)
        if not taken:
            reader.skip(size, where)
        reader.skip(-size % 4, where)


#: rpm arch → btfhub-archive's arch directory.
_RPM_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "s390x": "s390x", "ppc64le": "ppc64le"}


def rpm_distro(release: str, vendor: str, distribution: str) -> tuple[str | None, str | None]:
    """(distro, version) from the rpm release's dist tag and its vendor, else None."""
    vendor_l = f"{vendor} {distribution}".lower()
    if found := re.search(r"\.fc(\d+)(?:\.|$)", release):
        return "fedora", found[1]
    if found := re.search(r"\.amzn(\d+)(?:\.|$)", release):
        return "amzn", found[1]
    if found := re.search(r"\.el(\d+)(?:uek)?(?:[_.]|$)", release):
        # el8 is CentOS, RHEL, Oracle, Rocky or Alma: only the vendor tells them apart.
        version = found[1]
        if "centos" in vendor_l:
            return "centos", version
        if "red hat" in vendor_l:
            return "rhel", version
        if "oracle" in vendor_l or "uek" in release:
            return "ol", version
        return None, version
    if "suse linux enterprise" in vendor_l and (
        found := re.search(r"enterprise\s+(?:server\s+)?(\d+)(?:\s+sp(\d+))?", vendor_l)
    ):
        return "sles", f"{found[1]}.{found[2] or 0}"
    return None, None


def read_rpm(path: str, handle: BinaryIO, file_size: int, limits: PackageLimits) -> PackageContents:
    if file_size < _LEAD_SIZE:
        raise PackageError(path, f"truncated rpm lead ({file_size} bytes, 96 needed)")
    signature = read_rpm_header(handle, _LEAD_SIZE, file_size, limits, path, "signature")
    main_at = _LEAD_SIZE + signature.size + (-signature.size % 8)
    header = read_rpm_header(handle, main_at, file_size, limits, path, "main")
    name, version, rel, arch = (
        header.get(tag) for tag in (TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_ARCH)
    )
    if not (name and version and rel and arch):
        raise PackageError(path, "main header lacks NAME, VERSION, RELEASE or ARCH")
    payload_format = header.get(TAG_PAYLOADFORMAT) or "cpio"
    if payload_format != "cpio":
        raise PackageError(path, f"payload format {payload_format!r}, not cpio")
    compressor = header.get(TAG_PAYLOADCOMPRESSOR) or "gzip"
    expected = _COMPRESSION_BY_NAME.get(compressor)
    if expected is None or expected == "tar":
        raise PackageError(path, f"payload compressor {compressor!r} is not supported")
    payload_at = main_at + header.size
    section = _section(handle, payload_at, file_size - payload_at)
    collector = _Collector(path, limits)
    stream = _decompressed(section, expected, limits, path, "payload", limits.max_total_size)

    read_cpio(stream, limits, path, _image_visitor(collector, "payload"))
    # uname -r of RHEL-family kernels is VERSION-RELEASE.ARCH; SUSE's is not (5.14.21-150400
    # .24.46-default): the /lib/modules/<release>/ path is the kernel's own word for it.
    release = collector.release(f"{version}-{rel}.{arch}")
    distro, version_id = rpm_distro(
        rel, header.get(TAG_VENDOR) or "", header.get(TAG_DISTRIBUTION) or ""
    )
    return PackageContents(
        distro=distro,
        version=version_id,
        arch=_RPM_ARCH.get(arch),
        release=release,
        images=collector.images(),
    )


# --- entry point ----------------------------------------------------------------------------


def read_package(
    path: str | os.PathLike[str], *, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS
) -> PackageContents:
    """Metadata and kernel images of the .deb / .ddeb / .rpm at ``path`` (told by magic bytes).

    PackageError (an ArchiveError) names the file and the part at fault for anything that is
    not a readable package within ``limits``; OSError reaches the caller for a missing file.
    """
    shown = os.fspath(path)
    with open(path, "rb") as handle:
        file_size = os.fstat(handle.fileno()).st_size
        magic = handle.read(8)
        try:
            with archive_errors(shown):
                if magic == AR_MAGIC:
                    return read_deb(shown, handle, file_size, limits)
                if magic[:4] == RPM_LEAD_MAGIC:
                    return read_rpm(shown, handle, file_size, limits)
        except ArchiveError as err:
            raise _typed(shown)(err) from err
    raise PackageError(shown, f"neither a .deb (ar) nor an .rpm: starts with {magic.hex()}")


__all__ = [
    "DEFAULT_PACKAGE_LIMITS",
    "PackageContents",
    "PackageImage",
    "PackageLimits",
    "read_package",
]
