"""``add``: kernel BTF from images, vmlinux files and distro packages into an archive repository.

Each source is read and its BTF checked (it parses, has types of the kinds a kernel has, and its
byte order is the arch's) before anything is written; then every archive of the run is written
and committed in one commit. Any failure leaves the repository at its previous commit with a
clean work tree.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..archive import ARCHIVE_SUFFIX, read_btf_archive
from ..btf.parse import parse_btf
from ..btf.wire import ByteOrder, Kind
from ..errors import (
    BtfFormatError,
    BtfmirrorError,
    KernelImageError,
    NotFoundError,
    Param,
    UsageError,
)
from ..fsutil import read_capped, write_atomic
from ..kernels import ARCH_ALIASES, fold_name, parse_release
from ..pack.tarball import Member, source_date_epoch, write_archive
from . import archive_repo
from .images import MAX_IMAGE_SIZE, FoundBtf, check_size, find_btf
from .packages import read_package
from .pahole import dwarf_to_btf

#: Byte order of each arch btfhub-archive has or a kernel runs BTF on (``uname -m`` names
#: folded by :data:`~btfhub_mirror.kernels.ARCH_ALIASES` and :data:`MORE_ARCH_ALIASES`).
ARCH_BYTE_ORDER: dict[str, ByteOrder] = {
    "x86_64": "little",
    "arm64": "little",
    "ppc64le": "little",
    "riscv64": "little",
    "loongarch64": "little",
    "s390x": "big",
    "ppc64": "big",
}
#: Debian's and RPM's names of the same arches.
MORE_ARCH_ALIASES = {"ppc64el": "ppc64le", "s390": "s390x", "riscv": "riscv64"}
#: Package suffixes handed to the package reader.
PACKAGE_SUFFIXES = (".deb", ".ddeb", ".udeb", ".rpm")
PACKAGE_MAGICS = (b"!<arch>\n", b"\xed\xab\xee\xdb")


@dataclass(frozen=True, slots=True)
class Identity:
    """What ``--distro --version --arch --release`` say; None where not given."""

    distro: str | None = None
    version: str | None = None
    arch: str | None = None
    release: str | None = None


@dataclass(frozen=True, slots=True)
class AddedKernel:
    source: str
    path: str  # <distro>/<version>/<arch>/<release>.btf.tar.xz
    how: str  # where in the source the BTF was found
    btf_size: int
    byte_order: ByteOrder
    kinds: Mapping[str, int]  # kind name → count
    status: str  # "added", "replaced" or "unchanged"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": self.path,
            "how": self.how,
            "btf_size": self.btf_size,
            "byte_order": self.byte_order,
            "kinds": dict(self.kinds),
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class AddResult:
    archive: str
    kernels: tuple[AddedKernel, ...]
    commit: str | None  # None when nothing changed
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "commit": self.commit,
            "kernels": [k.to_json() for k in self.kernels],
        }


def canonical_arch(arch: str) -> str:
    folded = fold_name(arch)
    folded = MORE_ARCH_ALIASES.get(folded, folded)
    name = ARCH_ALIASES.get(folded, folded)
    if name not in ARCH_BYTE_ORDER:
        raise UsageError(
            Param("arch"), f" {arch!r}: unknown arch (known: {', '.join(ARCH_BYTE_ORDER)})"
        )
    return name


def _component(option: Param, value: str) -> str:
    """A path component of the archive: no separators, no dot names, printable."""
    if (
        not value
        or value in (".", "..")
        or "/" in value
        or "\\" in value
        or value.startswith("-")
        or not value.isprintable()
        or len(value) > 200
    ):
        raise UsageError(option, f" {value!r}: not usable as a directory or file name")
    return value


def check_btf(data: bytes, arch: str, source: str) -> tuple[ByteOrder, dict[str, int]]:
    """Parse ``data`` in full and check it is a kernel's BTF for ``arch``: kind counts."""
    check_size(data, source)
    try:
        btf = parse_btf(data, source=source)
        counts = Counter(btf.kind(i) for i in btf.own_ids())
    except BtfFormatError as err:
        raise KernelImageError(f"{source}: the BTF does not parse: {err}") from err
    expected = ARCH_BYTE_ORDER[arch]
    if btf.byte_order != expected:
        raise KernelImageError(
            f"{source}: the BTF is {btf.byte_order}-endian but {arch} kernels are "
            f"{expected}-endian (wrong ",
            Param("arch"),
            ", or BTF of another kernel?)",
        )
    if not counts[Kind.INT] or not counts[Kind.STRUCT]:
        raise KernelImageError(
            f"{source}: the BTF has no {'INT' if not counts[Kind.INT] else 'STRUCT'} types "
            f"({len(btf.own_ids())} types in all): not a kernel's BTF"
        )
    return btf.byte_order, {k.name: n for k, n in sorted(counts.items())}


def _is_package(path: Path, head: bytes) -> bool:
    return path.name.endswith(PACKAGE_SUFFIXES) or head.startswith(PACKAGE_MAGICS)


def _from_package(path: Path) -> tuple[FoundBtf, Identity]:
    contents = read_package(path)
    found_id = Identity(contents.distro, contents.version, contents.arch, contents.release)
    failures = []
    for image in contents.images:
        where = f"{path} ({image.member})"
        try:
            found = _resolve_dwarf(find_btf(image.data, where), where)
        except BtfmirrorError as err:
            failures.append(f"{image.member}: {err}")
            continue
        return FoundBtf(
            found.data, f"{image.member} > {found.how}", found.release, found.arch
        ), found_id
    if not failures:
        raise KernelImageError(f"{path}: the package holds no kernel image or vmlinux")
    raise KernelImageError(f"{path}: no kernel BTF in the package ({'; '.join(failures[:3])})")


def _resolve_dwarf(found: FoundBtf, source: str) -> FoundBtf:
    if found.dwarf_elf is None:
        return found
    btf = dwarf_to_btf(found.dwarf_elf, source)
    return FoundBtf(btf, f"{found.how} > pahole -J", found.release, found.arch)


def read_source(path: Path) -> tuple[FoundBtf, Identity]:
    """The BTF of one source and what the source itself says of its kernel."""
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    with path.open("rb") as handle:
        head = handle.read(8)
    if _is_package(path, head):  # the reader streams it, with its own caps
        return _from_package(path)
    data = read_capped(path, MAX_IMAGE_SIZE)
    if len(data) > MAX_IMAGE_SIZE:
        raise KernelImageError(f"{path}: larger than {MAX_IMAGE_SIZE} bytes")
    if path.name.endswith(ARCHIVE_SUFFIX):  # a btfhub archive itself: re-add its BTF
        release = path.name[: -len(ARCHIVE_SUFFIX)]
        btf = read_btf_archive(data, source=str(path))
        return FoundBtf(btf, "btfhub archive", release, None), Identity()
    found = _resolve_dwarf(find_btf(data, str(path)), str(path))
    return found, Identity()


def _identity(source: str, given: Identity, found: FoundBtf, pkg: Identity) -> tuple[str, ...]:
    """distro, version, arch, release: the flags first, then the package, then the image."""
    values = {
        "distro": given.distro or pkg.distro,
        "version": given.version or pkg.version,
        "arch": given.arch or pkg.arch or found.arch,
        "release": given.release or pkg.release or found.release,
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise UsageError(
            f"{source}: the source does not say its kernel's {', '.join(missing)}: give ",
            *(part for i, name in enumerate(missing) for part in ((" " if i else ""), Param(name))),
        )
    distro, version, arch, release = (str(v) for v in values.values())
    arch = canonical_arch(arch)
    if parse_release(release) is None:
        raise UsageError(
            Param("release"), f" {release!r}: not a kernel release (uname -r, e.g. 6.1.0-50-amd64)"
        )
    return (
        _component(Param("distro"), fold_name(distro)),
        _component(Param("version"), version),
        arch,
        _component(Param("release"), release),
    )


def archive_bytes(release: str, btf: bytes, environ: Mapping[str, str] = os.environ) -> bytes:
    """``<release>.btf.tar.xz`` as btfhub writes them: one member, no ``./``, reproducible."""
    out = io.BytesIO()
    write_archive(
        out,
        [Member(f"{release}.btf", data=btf)],
        "tar.xz",
        mtime=source_date_epoch(environ),
        dot_slash=False,
    )
    return out.getvalue()


def commit_message(kernels: Sequence[AddedKernel]) -> str:
    changed = [k for k in kernels if k.status != "unchanged"]
    title = f"Add {changed[0].path}" if len(changed) == 1 else f"Add {len(changed)} kernels"
    lines = [title, ""]
    lines += [f"{k.status} {k.path} (from {Path(k.source).name}: {k.how})" for k in changed]
    return "\n".join(lines) + "\n"


def add_sources(
    archive: str | os.PathLike[str],
    sources: Sequence[str | os.PathLike[str]],
    given: Identity,
) -> AddResult:
    """Add the BTF of every source to ``archive`` in one commit (see the module doc)."""
    if not sources:
        raise UsageError("no SOURCE given")
    root = archive_repo.open_archive(archive)
    planned: dict[str, tuple[bytes, AddedKernel]] = {}
    for source in sources:
        path = Path(source)
        found, pkg = read_source(path)
        distro, version, arch, release = _identity(str(path), given, found, pkg)
        order, kinds = check_btf(found.data, arch, str(path))
        rel = f"{distro}/{version}/{arch}/{release}{ARCHIVE_SUFFIX}"
        blob = archive_bytes(release, found.data)
        if rel in planned and planned[rel][0] != blob:
            raise UsageError(
                f"{path}: {rel} is also made from {planned[rel][1].source}, with other BTF"
            )
        target = root / rel
        status = "added"
        if target.is_file():
            status = "unchanged" if target.read_bytes() == blob else "replaced"
        planned[rel] = (
            blob,
            AddedKernel(str(path), rel, found.how, len(found.data), order, kinds, status),
        )
    kernels = tuple(k for _, k in planned.values())
    changed = [k for k in kernels if k.status != "unchanged"]
    if not changed:
        return AddResult(str(root), kernels, None)
    message = commit_message(kernels)
    written: list[str] = []
    try:
        for k in changed:
            written.append(k.path)
            write_atomic(root / k.path, planned[k.path][0])
        commit = archive_repo.commit_files(root, written, message)
    except BaseException:
        archive_repo.restore(root, written)
        raise
    return AddResult(str(root), kernels, commit, message)
