"""``verify``: read a package as each consumer's loader reads it, for every kernel in it.

A package serves a loader only if, on each packed kernel's system, the name that loader builds
from os-release and ``uname`` (:meth:`~.consumers.ReaderRules.name_for`) finds the right bytes
*the way that loader reads the archive*: in the compression it decompresses, by the name it
compares (a C reader's raw ustar name field, Go's exact full name, or a path in an unpacked
tree), following hard links or getting 0 bytes from them. :func:`verify_package` does exactly
that for every consumer of :data:`~.consumers.CONSUMERS` (or one) and reports per kernel: found,
non-empty, valid BTF, and equal to the packed file (the sha256 of the manifest; unknown without
one).

The kernels come from the package's ``btfmirror.json`` (format 2 names each kernel's btfhub
identity; format 1, written before consumers existed, only its file name) or, without one, from
the ``.btf`` names themselves: ``./`` and ``btfhub-archive/`` stripped, quotes taken off ``ID``,
``aarch64`` read as btfhub's ``arm64``, and the names of one identity (aliases, codename
directories) counted as one kernel.

A package is a tar (any compression; :mod:`.tarwalk` reads it header by header, capped) or a
``dir`` package: a directory with a ``btfmirror.json``. Nothing is written anywhere.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ArchiveError
from ..package import ARCHIVE_DIR, FORMATS, MAGIC_LEN, Compression, compression_of
from ..runtime.extract import (
    DEFAULT_LIMITS,
    ExtractLimits,
    archive_errors,
    open_capped,
    open_package,
)
from .consumers import (
    CONSUMERS,
    DEFAULT_CONSUMER,
    UNAME_MACHINES,
    Consumer,
    KernelIdentity,
    consumer_named,
)
from .pack import MANIFEST
from .tarwalk import HEADER_ONLY_TYPES, Content, TarEntry, summarize, walk_tar

PackageKind = Literal["tar", "dir"]
#: Manifest formats this module reads: 1 (pack before consumers), 2 (with identities, aliases).
MANIFEST_FORMATS = (1, 2)
#: How many symbolic links one lookup may go through, as Linux's MAXSYMLINKS.
MAX_SYMLINKS = 40

_ARCH_OF_MACHINE = {machine: arch for arch, machine in UNAME_MACHINES.items()}


# -- the report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedKernel:
    """A kernel the package is for, and what it should hold for it."""

    identity: KernelIdentity
    sha256: str | None  # of the packed file, from the manifest; None without one
    names: tuple[str, ...]  # its entries in the package (primary first, then aliases)

    @property
    def label(self) -> str:
        return self.identity.btfhub_name.removesuffix(".btf")


@dataclass(frozen=True, slots=True)
class KernelCheck:
    """What one consumer's reader gets for one kernel."""

    kernel: KernelIdentity
    name: str  # the name the reader looks for
    found: bool
    nonempty: bool
    valid_btf: bool
    equal: bool | None  # None: no manifest sha256 to compare with
    miss: str | None  # why it missed; None when the reader gets the right BTF

    @property
    def ok(self) -> bool:
        return self.miss is None

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel.btfhub_name.removesuffix(".btf"),
            "name": self.name,
            "found": self.found,
            "nonempty": self.nonempty,
            "valid_btf": self.valid_btf,
            "equal": self.equal,
            "ok": self.ok,
            "miss": self.miss,
        }


@dataclass(frozen=True, slots=True)
class ConsumerReport:
    """One consumer's reading of the package: a package-wide problem, or one check per kernel."""

    consumer: str
    reader: str
    problem: str | None  # e.g. the wrong compression: then every kernel misses for it
    kernels: tuple[KernelCheck, ...]

    @property
    def missed(self) -> int:
        return sum(not k.ok for k in self.kernels)

    @property
    def ok(self) -> bool:
        """Every kernel found as packed (and at least one kernel)."""
        return self.problem is None and bool(self.kernels) and self.missed == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "reader": self.reader,
            "ok": self.ok,
            "problem": self.problem,
            "missed": self.missed,
            "kernels": [k.to_json() for k in self.kernels],
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Every checked consumer's reading of one package.

    :attr:`passed` is the verdict: with a consumer asked for, that one finds every kernel;
    else the package's own consumer (the manifest's ``consumer``; format 1: bpf-compatible)
    does; with no manifest, at least one consumer does. A package of no kernel never passes.
    """

    package: Path
    kind: PackageKind
    compression: Compression | None  # of a tar package; None for a directory
    manifest_format: int | None
    own_consumer: str | None  # the manifest's consumer
    requested: str | None
    kernels: tuple[ListedKernel, ...]
    consumers: tuple[ConsumerReport, ...]
    ignored: tuple[str, ...]  # .btf names that name no kernel (read without a manifest)

    def report_for(self, consumer: str) -> ConsumerReport:
        return next(c for c in self.consumers if c.consumer == consumer)

    @property
    def judged_by(self) -> str | None:
        """The consumer whose reading decides :attr:`passed`; None: any consumer."""
        return self.requested or self.own_consumer

    @property
    def passed(self) -> bool:
        if not self.kernels:
            return False
        if self.judged_by is not None:
            return self.report_for(self.judged_by).ok
        return any(c.ok for c in self.consumers)

    def verdict(self) -> str:
        """One line: what passed or failed, and for whom."""
        total = len(self.kernels)
        if not total:
            return f"{self.package}: no kernel in the package"
        if self.judged_by is not None:
            report = self.report_for(self.judged_by)
            if report.ok:
                return f"{self.package}: {report.consumer} finds all {total} kernel(s)"
            if report.problem is not None:
                return f"{self.package}: {report.consumer}: {report.problem}"
            return f"{self.package}: {report.consumer} misses {report.missed} of {total} kernel(s)"
        serving = [c.consumer for c in self.consumers if c.ok]
        if serving:
            return f"{self.package}: {', '.join(serving)} find(s) all {total} kernel(s)"
        return f"{self.package}: no consumer finds all {total} kernel(s)"

    def to_json(self) -> dict[str, Any]:
        return {
            "package": str(self.package),
            "kind": self.kind,
            "compression": self.compression,
            "manifest_format": self.manifest_format,
            "consumer": self.own_consumer,
            "judged_by": self.judged_by,
            "passed": self.passed,
            "verdict": self.verdict(),
            "kernels": [
                {
                    "kernel": k.label,
                    "distro": k.identity.distro,
                    "version": k.identity.version,
                    "arch": k.identity.arch,
                    "release": k.identity.release,
                    "sha256": k.sha256,
                    "names": list(k.names),
                }
                for k in self.kernels
            ],
            "ignored": list(self.ignored),
            "consumers": [c.to_json() for c in self.consumers],
        }


# -- names and identities ----------------------------------------------------------------------


def clean_name(name: str) -> str:
    """A name as an unpacking reader resolves it: no leading ``/`` or ``./``, no empty parts."""
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def identity_of_name(name: str) -> KernelIdentity | None:
    """The kernel a package name is for, in btfhub-archive's terms; None for other names.

    Takes any consumer's spelling: ``./btfhub-archive/``, ``./`` or nothing before
    ``<ID>/<VERSION_ID>/<arch>/<release>.btf``, a quoted ID, ``aarch64`` for ``arm64``.
    """
    rel = name.lstrip("/")
    while rel.startswith("./"):
        rel = rel[2:].lstrip("/")
    rel = rel.removeprefix(f"{ARCHIVE_DIR}/")
    parts = rel.split("/")
    if len(parts) != 4 or not parts[3].endswith(".btf"):
        return None
    distro, version, machine, file_name = parts
    if len(distro) >= 2 and distro[0] == distro[-1] == '"':
        distro = distro[1:-1]
    release = file_name.removesuffix(".btf")
    if not distro or not machine or not release or '"' in distro:
        return None
    if any(p in (".", "..") for p in (distro, version, machine, release)):
        return None
    return KernelIdentity(distro, version, _ARCH_OF_MACHINE.get(machine, machine), release)


def _key(kernel: KernelIdentity) -> tuple[str, str, str, str]:
    """One kernel, however a name spells its version (``bookworm`` and ``12`` are one)."""
    return (kernel.distro, kernel.version_id, kernel.arch, kernel.release)


def kernels_from_names(names: list[str]) -> tuple[list[ListedKernel], list[str]]:
    """The kernels that ``.btf`` names are for (names of one identity grouped), and the names
    that name none."""
    groups: dict[tuple[str, str, str, str], list[tuple[KernelIdentity, str]]] = {}
    ignored = []
    for name in names:
        kernel = identity_of_name(name)
        if kernel is None:
            ignored.append(name)
        else:
            groups.setdefault(_key(kernel), []).append((kernel, name))
    # bcc's name for a distro with an unquoted VERSION_ID has an empty version: it belongs to
    # the same kernel under a numbered version, where the package has one.
    for key in [k for k in groups if k[1] == ""]:
        others = [k for k in groups if k[1] and (k[0], k[2], k[3]) == (key[0], key[2], key[3])]
        if len(others) == 1:
            groups[others[0]] += groups.pop(key)
    kernels = []
    for members in groups.values():
        # btfhub's own directory is the numbered one (codename directories are links to it).
        kernel = next((k for k, _ in members if k.version == k.version_id), members[0][0])
        kernels.append(ListedKernel(kernel, None, tuple(dict.fromkeys(n for _, n in members))))
    kernels.sort(key=lambda k: k.identity.btfhub_name)
    return kernels, ignored


# -- the manifest ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``btfmirror.json`` says verify needs: its format, consumer and kernels."""

    format: int
    consumer: str
    kernels: tuple[ListedKernel, ...]


def _get(obj: dict[str, Any], key: str, kind: type, where: str, *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise ArchiveError(f"{where}: {key!r} is not a {kind.__name__}")
    return value


def _sha256(obj: dict[str, Any], where: str) -> str | None:
    digest = _get(obj, "sha256", str, where, optional=True)
    if digest is not None and (len(digest) != 64 or digest.strip("0123456789abcdef")):
        raise ArchiveError(f"{where}: 'sha256' is not a sha256 hex digest")
    return digest  # type: ignore[no-any-return]


def parse_manifest(data: bytes, source: str) -> Manifest:
    """``btfmirror.json``, format 1 or 2; ArchiveError names the field that is wrong."""
    where = f"{source}: {MANIFEST}"
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArchiveError(f"{where}: not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise ArchiveError(f"{where}: not a JSON object")
    fmt = _get(doc, "format", int, where)
    if fmt not in MANIFEST_FORMATS:
        raise ArchiveError(
            f"{where}: format {fmt}; this btfmirror reads formats "
            f"{', '.join(map(str, MANIFEST_FORMATS))}"
        )
    consumer = DEFAULT_CONSUMER if fmt == 1 else _get(doc, "consumer", str, where)
    if consumer not in CONSUMERS:
        raise ArchiveError(f"{where}: unknown consumer {consumer!r}; known: {', '.join(CONSUMERS)}")
    entries = _get(doc, "kernels", list, where)
    kernels = []
    for i, entry in enumerate(entries):
        at = f"{where}: kernels[{i}]"
        if not isinstance(entry, dict):
            raise ArchiveError(f"{at}: not a JSON object")
        file_name = _get(entry, "file", str, at)
        names = [file_name]
        # Format 1, and format 2 where "file" is btfhub-archive's own name, leave the
        # identity to the name.
        if fmt == 1 or "distro" not in entry:
            named = identity_of_name(file_name)
            if named is None:
                raise ArchiveError(f"{at}: 'file' {file_name!r} names no kernel")
            kernel = named
        else:
            kernel = KernelIdentity(
                *(_get(entry, k, str, at) for k in ("distro", "version", "arch", "release"))
            )
        if fmt != 1:
            for j, alias in enumerate(_get(entry, "aliases", list, at, optional=True) or []):
                if not isinstance(alias, dict):
                    raise ArchiveError(f"{at}: aliases[{j}]: not a JSON object")
                names.append(_get(alias, "file", str, f"{at}: aliases[{j}]"))
        kernels.append(ListedKernel(kernel, _sha256(entry, at), tuple(names)))
    return Manifest(fmt, consumer, tuple(kernels))


# -- reading a tar as each reader does ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hit:
    """What a lookup gave: the bytes (None: nothing found), and words for a miss."""

    content: Content | None
    why: str  # not found: why; found: what the entry is (for a 0-byte miss)


class _TarPackage:
    def __init__(self, entries: tuple[TarEntry, ...]):
        self.entries = entries
        self.by_field: dict[str, TarEntry] = {}
        self.by_name: dict[str, TarEntry] = {}
        self.tree: dict[str, TarEntry] = {}  # as unpacked: the last entry of a name wins
        for entry in entries:
            if entry.field_name is not None:
                self.by_field.setdefault(entry.field_name, entry)
            if not entry.is_meta:
                self.by_name.setdefault(entry.name, entry)
                self.tree[clean_name(entry.name)] = entry

    def names(self) -> list[str]:
        return [e.name for e in self.entries if not e.is_meta and not e.is_dir]

    def look(self, consumer: Consumer, name: str) -> _Hit:
        rules = consumer.rules
        if rules.raw_headers:
            return self._raw(consumer, name)
        if rules.extracts:
            return self._unpacked(consumer, name)
        entry = self.by_name.get(name)
        if entry is None:
            spelled = self.tree.get(clean_name(name))
            extra = "" if spelled is None else f" ({consumer.name} compares names exactly)"
            return _Hit(None, f"no entry named {name!r}{extra}")
        if entry.type in HEADER_ONLY_TYPES:
            return _Hit(_EMPTY, f"{entry.describe()}, which gives {consumer.name} no content")
        return _Hit(entry.content, entry.describe())

    def _raw(self, consumer: Consumer, name: str) -> _Hit:
        entry = self.by_field.get(name)
        if entry is None:
            why = f"no ustar name field says {name!r}"
            if name in self.by_name:
                why += (
                    f" (the name is only in a PAX or GNU long-name header or the ustar prefix, "
                    f"which {consumer.name}'s raw header walk does not read)"
                )
            return _Hit(None, why)
        # The C readers copy the entry's declared bytes whatever its type: a link has none.
        if entry.is_hardlink:
            how = f"{entry.describe()}; {consumer.name} copies the entry's bytes, links unfollowed"
        else:
            how = entry.describe()
        return _Hit(entry.content or _EMPTY, how)

    def _unpacked(self, consumer: Consumer, name: str) -> _Hit:
        path = clean_name(name)
        for _ in range(MAX_SYMLINKS):
            resolved = self._through_links(path)
            if resolved is None:
                return _Hit(None, f"no file {path!r} once unpacked")
            entry, rest = resolved
            if rest is None:
                break
            path = rest
        else:
            return _Hit(None, f"{path!r}: too many levels of symbolic links")
        seen = 0
        while entry.is_hardlink:
            target = self.tree.get(clean_name(entry.linkname))
            seen += 1
            if not consumer.rules.follows_hardlinks:
                return _Hit(_EMPTY, f"{entry.describe()}, which {consumer.name} does not follow")
            if target is None or seen > MAX_SYMLINKS:
                return _Hit(None, f"{entry.describe()}, which names no file")
            entry = target
        if not entry.is_file:
            return _Hit(None, f"{path!r} is {entry.describe()}")
        return _Hit(entry.content or _EMPTY, entry.describe())

    def _through_links(self, path: str) -> tuple[TarEntry, str | None] | None:
        """The entry at ``path``; or a path to look up instead, where a symbolic link on the way
        leads (inside the package only)."""
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            entry = self.tree.get("/".join(parts[:i]))
            if entry is None:
                if i == len(parts):
                    return None
                continue  # a directory only implied by the names below it
            if entry.is_symlink:
                base = parts[: i - 1]
                target = [p for p in entry.linkname.split("/") if p not in ("", ".")]
                if entry.linkname.startswith("/"):
                    return None  # leaves the package
                for part in target:
                    if part == "..":
                        if not base:
                            return None
                        base.pop()
                    else:
                        base.append(part)
                return entry, "/".join(base + parts[i:])
            if i < len(parts) and not entry.is_dir:
                return None
            if i == len(parts):
                return entry, None
        return None


_EMPTY = summarize(b"", "")


def _read_tar(path: Path, limits: ExtractLimits) -> tuple[Compression, _TarPackage, bytes | None]:
    source = str(path)
    with open_package(path) as handle, archive_errors(source):
        compression = compression_of(handle.read(MAGIC_LEN))
        handle.seek(0)
        listing = walk_tar(
            open_capped(handle, limits, source),
            limits=limits,
            source=source,
            interesting=lambda name: name.endswith(".btf"),
            keep=lambda name: clean_name(name) == MANIFEST,
            keep_limit=limits.max_package_json_size,
        )
    return compression, _TarPackage(listing.entries), listing.kept


# -- reading a directory package ---------------------------------------------------------------


class _DirPackage:
    def __init__(self, root: Path, limits: ExtractLimits):
        self.root = root
        self.limits = limits

    def names(self) -> list[str]:
        """Every file's path relative to the root, links not followed (capped)."""
        out: list[str] = []
        for top, dirs, files in os.walk(self.root, followlinks=False):
            dirs.sort()
            for name in sorted(files):
                out.append((Path(top) / name).relative_to(self.root).as_posix())
                if len(out) > self.limits.max_entries:
                    raise ArchiveError(
                        f"{self.root}: more than {self.limits.max_entries} files; refusing"
                    )
        return out

    def read(self, relative: str, limit: int) -> bytes | str:
        """The bytes of the regular file ``relative``, or why there is none.

        No component may be a symbolic link: ``go:embed`` refuses to embed one, and a link
        could lead out of the tree.
        """
        path = self.root
        for part in relative.split("/"):
            if part in ("", ".", ".."):
                return f"{relative!r} is no plain relative path"
            path = path / part
            try:
                info = path.lstat()
            except FileNotFoundError:
                return f"no file {relative!r} in the directory"
            except OSError as err:
                return f"cannot read {path}: {err.strerror}"
            if stat.S_ISLNK(info.st_mode):
                return f"{path.relative_to(self.root)} is a symbolic link (go:embed refuses one)"
        if not stat.S_ISREG(info.st_mode):
            return f"{relative!r} is not a regular file"
        if info.st_size > limit:
            raise ArchiveError(f"{path}: {info.st_size} bytes, more than the {limit} allowed")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(limit + 1)
        except OSError as err:
            return f"cannot read {path}: {err.strerror}"
        if len(data) > limit:
            raise ArchiveError(f"{path}: more than the {limit} bytes allowed")
        return data

    def look(self, name: str) -> _Hit:
        data = self.read(name, self.limits.max_file_size)
        if isinstance(data, str):
            return _Hit(None, data)
        return _Hit(summarize(data, str(self.root / name)), "a file")


# -- the checks --------------------------------------------------------------------------------


def _other_names(
    kernel: ListedKernel, wanted: str, present: dict[tuple[str, ...], list[str]]
) -> str:
    """A hint for a miss: the names the package does have for this kernel."""
    names = [n for n in present.get(_key(kernel.identity), []) if n != wanted]
    if not names:
        return ""
    hint = f"; the package has {names[0]!r}"
    machine = kernel.identity.machine
    if machine != kernel.identity.arch and all(f"/{machine}/" not in n for n in names):
        hint += f" but no {machine} alias (the reader builds the name from uname -m)"
    return hint


def _check(kernel: ListedKernel, name: str, hit: _Hit, hint: str) -> KernelCheck:
    ident = kernel.identity
    content = hit.content
    if content is None:
        return KernelCheck(ident, name, False, False, False, None, f"{hit.why}{hint}")
    equal = None if kernel.sha256 is None else content.sha256 == kernel.sha256
    miss = None
    if content.size == 0:
        miss = f"0 bytes: {hit.why}"
    elif content.btf_error is not None:
        miss = f"not BTF: {content.btf_error}"
    elif equal is False:
        miss = (
            f"differs from the packed file (sha256 {content.sha256[:12]}..., the manifest says "
            f"{(kernel.sha256 or '')[:12]}...)"
        )
    valid = content.size > 0 and content.btf_error is None
    return KernelCheck(ident, name, True, content.size > 0, valid, equal, miss)


def _reads(compression: Compression | None) -> str:
    return "a directory tree" if compression is None else FORMATS[compression].reads


def _consumer_report(
    consumer: Consumer,
    kernels: list[ListedKernel],
    kind: PackageKind,
    compression: Compression | None,
    package: _TarPackage | _DirPackage,
    present: dict[tuple[str, ...], list[str]],
) -> ConsumerReport:
    rules = consumer.rules
    have = None if kind == "dir" else compression
    problem = None
    if rules.compression != have:
        problem = (
            f"wrong compression: {consumer.name} reads only {_reads(rules.compression)} "
            f"(the package is {_reads(have)})"
        )
    checks = []
    for kernel in kernels:
        name = rules.name_for(kernel.identity)
        if problem is not None:
            checks.append(KernelCheck(kernel.identity, name, False, False, False, None, problem))
            continue
        if rules.max_name is not None and len(name.encode()) > rules.max_name:
            why = (
                f"the name is {len(name.encode())} bytes; {consumer.name} builds it in a "
                f"{rules.max_name + 1}-byte buffer"
            )
            checks.append(KernelCheck(kernel.identity, name, False, False, False, None, why))
            continue
        if isinstance(package, _DirPackage):
            hit = package.look(name)
        else:
            hit = package.look(consumer, name)
        hint = _other_names(kernel, name, present) if hit.content is None else ""
        checks.append(_check(kernel, name, hit, hint))
    return ConsumerReport(consumer.name, consumer.reader_name, problem, tuple(checks))


def _by_identity(names: list[str]) -> dict[tuple[str, ...], list[str]]:
    out: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        kernel = identity_of_name(name)
        if kernel is not None:
            out.setdefault(_key(kernel), []).append(name)
    return out


def _manifest_of_dir(root: Path, limits: ExtractLimits) -> bytes | None:
    package = _DirPackage(root, limits)
    if not (root / MANIFEST).exists() and not (root / MANIFEST).is_symlink():
        return None
    data = package.read(MANIFEST, limits.max_package_json_size)
    if isinstance(data, str):
        raise ArchiveError(f"{root}: {MANIFEST}: {data}")
    return data


def verify_package(
    path: str | os.PathLike[str],
    consumer: str | None = None,
    *,
    limits: ExtractLimits = DEFAULT_LIMITS,
) -> VerifyReport:
    """Read the package at ``path`` as ``consumer``'s loader does (default: every consumer's).

    ``path`` is a package tar (any compression) or a ``dir`` package. UsageError for an unknown
    consumer, NotFoundError for a missing package, ArchiveError for one that cannot be read at
    all (a corrupt tar, a malformed manifest, anything over ``limits``).
    """
    chosen = [consumer_named(consumer)] if consumer is not None else list(CONSUMERS.values())
    root = Path(path)
    package: _TarPackage | _DirPackage
    compression: Compression | None = None
    if root.is_dir():
        kind: PackageKind = "dir"
        package = _DirPackage(root, limits)
        manifest_bytes = _manifest_of_dir(root, limits)
    else:
        kind = "tar"
        compression, package, manifest_bytes = _read_tar(root, limits)
    names = [n for n in package.names() if n.endswith(".btf")]
    ignored: list[str] = []
    if manifest_bytes is not None:
        manifest = parse_manifest(manifest_bytes, str(root))
        kernels = list(manifest.kernels)
        fmt, own = manifest.format, manifest.consumer
    else:
        kernels, ignored = kernels_from_names(names)
        fmt, own = None, None
    present = _by_identity(names)
    reports = tuple(
        _consumer_report(c, kernels, kind, compression, package, present) for c in chosen
    )
    return VerifyReport(
        root, kind, compression, fmt, own, consumer, tuple(kernels), reports, tuple(ignored)
    )
