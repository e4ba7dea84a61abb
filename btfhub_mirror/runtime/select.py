"""Choosing, at program start-up, the BTF in a btfmirror package that fits the running kernel.

The lookup is ``<ID>/<VERSION_ID>/<arch>/<uname -r>.btf`` under the package's
``btfhub-archive`` directory, exactly, or at its top for the layouts without one (bcc's and
Inspektor Gadget's, a ``dir`` package). On top of what other loaders do:

- ``VERSION_CODENAME`` is tried when no ``VERSION_ID`` directory exists (``debian/bullseye``),
  and the raw ``uname -m`` (``aarch64``) when btfhub-archive's name (``arm64``) does not exist;
- ``ID`` is read without os-release's quotes, and the quoted directory (``"centos"``, which bcc
  and Inspektor Gadget look for) is tried after the plain one;
- a kernel that exposes ``/sys/kernel/btf/vmlinux`` needs no custom BTF, and that is said first,
  before the archive is even looked at (ecli fails on such kernels when the archive lacks them);
  an identity given explicitly always selects from the archive;
- opt-in nearest match: same distro, version and arch, same major.minor and flavour
  (``-generic``, ``-aws``...), closest patch then build number, the older one on a tie. It is
  reported through ``progress.note`` and in the result, never silently.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import (
    ArchiveError,
    FileWriteError,
    NoBtfFoundError,
    NotFoundError,
    Param,
    UsageError,
)
from ..kernels import KernelRelease, parse_release
from ..package import ARCHIVE_DIR, PACKAGE_JSON
from ..progress import NULL_PROGRESS, Progress
from .extract import (
    DEFAULT_LIMITS,
    ExtractLimits,
    NeedsFullExtraction,
    open_package,
    unpack_tar,
)
from .identity import SystemIdentity, current_identity

#: Where a kernel with built-in BTF exposes it.
VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")

_BTF_MAGICS = (b"\x9f\xeb", b"\xeb\x9f")


@dataclass(frozen=True, slots=True)
class BtfMatch:
    """A BTF file found in an archive directory for an identity."""

    path: Path
    member: str  # relative to the btfhub-archive directory
    release: str  # the kernel release the file is for
    exact: bool


@dataclass(frozen=True, slots=True)
class SelectResult:
    """What :func:`select_btf` decided.

    When ``custom_btf_needed`` is False the kernel has its own BTF (``vmlinux``) and nothing
    else is set. Otherwise ``member`` names the chosen file inside the package
    (``./btfhub-archive/...``), ``path`` is where it can be read (in an archive directory or
    under ``extract_to``; None for a tar without ``extract_to``), and ``exact`` is False when
    ``nearest`` picked another kernel's BTF.
    """

    identity: SystemIdentity | None
    explicit_identity: bool
    custom_btf_needed: bool
    vmlinux: Path
    path: Path | None = None
    member: str | None = None
    release: str | None = None
    exact: bool = True
    package_json: Path | None = None


def kernel_has_btf(vmlinux: Path = VMLINUX_BTF) -> bool:
    """Whether the running kernel exposes its own BTF (so libbpf needs no custom BTF)."""
    return vmlinux.is_file() and os.access(vmlinux, os.R_OK)


def _unique(*names: str) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def candidate_dirs(identity: SystemIdentity) -> list[str]:
    """``<ID>/<VERSION_ID>/<arch>`` directories that may hold ``identity``'s BTF, best first.

    Besides btfhub-archive's own names, the names other loaders compute, which packages for
    them carry (see ``btfhub_mirror.pack.consumers``): ``ID`` with os-release's quotes
    (``"centos"``: bcc and Inspektor Gadget keep them), the raw ``uname -m`` (``aarch64``), the
    codename, and bcc's empty ``VERSION_ID`` where os-release leaves it unquoted (Fedora).
    """
    ids = [identity.os_id, f'"{identity.os_id}"']
    versions = _unique(identity.version_id, identity.version_codename)
    arches = _unique(identity.arch, identity.machine)
    dirs = [f"{i}/{v}/{a}" for i in ids for v in versions for a in arches]
    return dirs + [f"{i}/{a}" for i in ids for a in arches]


def _candidate_dirs(archive_dir: Path, identity: SystemIdentity) -> list[Path]:
    return [archive_dir / d for d in candidate_dirs(identity)]


def _checked(path: Path, archive_dir: Path) -> Path:
    """``path`` after checking it stays inside the archive and starts like raw BTF."""
    if not _inside(path, archive_dir):
        raise ArchiveError(f"{path} leads outside {archive_dir}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(2)
    except OSError as err:
        raise ArchiveError(f"cannot read {path}: {err.strerror or err}") from err
    if magic not in _BTF_MAGICS:
        raise ArchiveError(f"{path} is not raw BTF (starts with {magic.hex() or 'nothing'})")
    return path


def _nearest(wanted: KernelRelease, releases: list[str]) -> str | None:
    """The release closest to ``wanted``: same major.minor and flavour, then patch, then build."""
    best: tuple[tuple[int, int, int], str] | None = None
    for release in releases:
        have = parse_release(release)
        if have is None or have.flavour != wanted.flavour:
            continue
        if (have.major, have.minor) != (wanted.major, wanted.minor):
            continue
        patch_gap = abs(have.patch - wanted.patch)
        build_gap = abs(have.build - wanted.build)
        rank = (patch_gap, build_gap, 0 if have.key <= wanted.key else 1)  # tie: the older
        if best is None or rank < best[0]:
            best = (rank, release)
    return best[1] if best else None


def find_btf(
    archive_dir: Path,
    identity: SystemIdentity,
    *,
    nearest: bool = False,
    progress: Progress = NULL_PROGRESS,
    display: str | None = None,
) -> BtfMatch:
    """The BTF file for ``identity`` in a btfhub-archive directory; NoBtfFoundError if none.

    ``display`` names the directory in messages (default: its path).
    """
    dirs = _candidate_dirs(archive_dir, identity)
    for directory in dirs:
        path = directory / f"{identity.release}.btf"
        if path.is_file():
            member = path.relative_to(archive_dir).as_posix()
            return BtfMatch(_checked(path, archive_dir), member, identity.release, exact=True)
    existing = [d for d in dirs if d.is_dir() and _inside(d, archive_dir)]
    releases = {p.name.removesuffix(".btf"): p for d in existing for p in sorted(d.glob("*.btf"))}
    where = f"{display or archive_dir}/{identity.archive_path}"
    if not nearest:
        hint = (
            (f"; it has {len(releases)} other kernel(s) there (try ", Param("nearest", True), ")")
            if releases
            else ()
        )
        raise NoBtfFoundError(f"no BTF for {identity.describe()}: {where} does not exist", *hint)
    wanted = parse_release(identity.release)
    if wanted is None:
        raise NoBtfFoundError(
            f"no BTF for {identity.describe()}, and {identity.release!r} is not a kernel version "
            "a nearest match can be computed for"
        )
    picked = _nearest(wanted, list(releases))
    if picked is None:
        flavours = sorted({r.flavour or "(none)" for r in map(parse_release, releases) if r})
        raise NoBtfFoundError(
            f"no BTF for {identity.describe()}, and no kernel {wanted.major}.{wanted.minor} with "
            f"flavour {wanted.flavour or '(none)'!r} under "
            f"{identity.os_id}/{identity.version_id}/{identity.arch} to use instead "
            f"(flavours there: {', '.join(flavours) or 'none'})"
        )
    path = releases[picked]
    progress.note(f"no BTF for kernel {identity.release}; using the nearest, {picked}")
    member = path.relative_to(archive_dir).as_posix()
    return BtfMatch(_checked(path, archive_dir), member, picked, exact=False)


def get_current_system_btf_file(
    archive_dir: Path,
    identity: SystemIdentity | None = None,
    *,
    nearest: bool = False,
    vmlinux: Path = VMLINUX_BTF,
    progress: Progress = NULL_PROGRESS,
) -> Path | None:
    """The BTF file in ``archive_dir`` for the running system, or None if none is needed.

    None means the kernel has its own BTF at ``vmlinux``; with an explicit ``identity`` the
    archive is always used. NoBtfFoundError when the archive has nothing that fits; a missing
    ``archive_dir`` is a NotFoundError even where the kernel has BTF (see :func:`select_btf`).
    """
    if not archive_dir.is_dir():
        raise NotFoundError(f"{archive_dir} is not a directory (a btfhub-archive tree)")
    if identity is None:
        if kernel_has_btf(vmlinux):
            return None
        identity = current_identity()
    return find_btf(archive_dir, identity, nearest=nearest, progress=progress).path


def _archive_dir_of(directory: Path) -> Path:
    inner = directory / ARCHIVE_DIR
    return inner if inner.is_dir() else directory


def _check_extract_dir(extract_to: Path) -> None:
    """Refuse an ``--extract-to`` that cannot take files before anything is unpacked."""
    if extract_to.exists() and not extract_to.is_dir():
        raise FileWriteError(f"{extract_to}: cannot extract there: not a directory")
    existing = next((p for p in (extract_to, *extract_to.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise FileWriteError(f"{extract_to}: cannot extract there: {existing} is not a directory")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise FileWriteError(f"{extract_to}: cannot extract there: permission denied in {existing}")


def _install_selection(
    extract_to: Path, btf: Path, release: str, package_json: Path | None
) -> tuple[Path, Path | None]:
    """Copy the chosen BTF (as ``<release>.btf``) and ``package_json`` into ``extract_to``.

    Both are copied to temporary files first and renamed only when both copies succeeded, so a
    failure (a destination that is a directory, a full disk) installs neither. Returns the two
    destinations.
    """
    pairs = [(btf, extract_to / f"{release}.btf")]
    if package_json is not None:
        pairs.append((package_json, extract_to / PACKAGE_JSON))
    staged: list[tuple[str, Path]] = []
    try:
        extract_to.mkdir(parents=True, exist_ok=True)
        for _, dest in pairs:
            if dest.is_dir():
                raise FileWriteError(f"{dest}: cannot write: is a directory")
        for src, dest in pairs:
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=extract_to)
            staged.append((tmp, dest))
            with os.fdopen(fd, "wb") as out, src.open("rb") as data:
                shutil.copyfileobj(data, out)
            os.chmod(tmp, 0o644)
        for tmp, dest in staged:
            os.replace(tmp, dest)
    except OSError as err:
        name = getattr(err, "filename", None) or extract_to
        raise FileWriteError(f"{name}: cannot write: {err.strerror or err}") from err
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
    return pairs[0][1], pairs[1][1] if package_json is not None else None


def _resolve_identity(
    identity: SystemIdentity | None,
    os_release: Path | None,
    machine: str | None,
    release: str | None,
) -> tuple[SystemIdentity | None, bool]:
    overrides = (os_release, machine, release)
    if identity is not None:
        if any(o is not None for o in overrides):
            raise UsageError("give either an identity or os-release/machine/release overrides")
        return identity, True
    if any(o is not None for o in overrides):
        if os_release is not None and not os_release.is_file():
            raise NotFoundError(f"os-release file {os_release} does not exist")
        return current_identity(os_release=os_release, machine=machine, release=release), True
    return None, False


def select_btf(
    archive: Path,
    *,
    identity: SystemIdentity | None = None,
    os_release: Path | None = None,
    machine: str | None = None,
    release: str | None = None,
    nearest: bool = False,
    extract_to: Path | None = None,
    vmlinux: Path = VMLINUX_BTF,
    limits: ExtractLimits = DEFAULT_LIMITS,
    progress: Progress = NULL_PROGRESS,
) -> SelectResult:
    """Choose the BTF for this system (or the given identity) from a package or directory.

    ``archive`` is a package tar (any of .tar, .tar.gz, .tar.xz, .tar.zst) or a directory: an
    unpacked package or a btfhub-archive tree. ``os_release``, ``machine`` and ``release``
    replace what would be read from this system and make the identity explicit, as does
    ``identity``: then the archive is used even when the kernel has BTF. With ``extract_to``,
    the chosen BTF (as ``<release>.btf``) and ``package.json`` are written there.
    """
    ident, explicit = _resolve_identity(identity, os_release, machine, release)
    if extract_to is not None:
        _check_extract_dir(extract_to)
    # A missing or unreadable package is an error even where the kernel has BTF: a deployment
    # that ships the wrong path must fail on the machine it is tested on, not on the old one.
    if not archive.is_dir():
        open_package(archive).close()
    if ident is None:
        if kernel_has_btf(vmlinux):
            return SelectResult(None, False, custom_btf_needed=False, vmlinux=vmlinux)
        ident = current_identity()
    if archive.is_dir():
        match = find_btf(_archive_dir_of(archive), ident, nearest=nearest, progress=progress)
        path, pkg = match.path, None
        if extract_to is not None:
            candidate = archive / PACKAGE_JSON
            shipped = candidate.is_file() and _inside(candidate, archive)
            path, pkg = _install_selection(
                extract_to, match.path, match.release, candidate if shipped else None
            )
        return SelectResult(
            ident, explicit, True, vmlinux, path, match.member, match.release, match.exact, pkg
        )
    return _select_from_package(
        archive, ident, explicit, nearest, extract_to, vmlinux, limits, progress
    )


def _wanted(ident: SystemIdentity, nearest: bool) -> Callable[[str], bool]:
    """The package entries worth writing for ``ident``: package.json and its exact BTF file or,
    for a nearest match, its candidate directories."""
    # Under btfhub-archive/ (bpf-compatible, ecli) or at the top (bcc, Inspektor Gadget).
    dirs = [f"{top}{d}/" for top in (f"{ARCHIVE_DIR}/", "") for d in candidate_dirs(ident)]
    exact = {f"{d}{ident.release}.btf" for d in dirs}

    def wanted(name: str) -> bool:
        if name == PACKAGE_JSON or name in exact:
            return True
        return nearest and any(name.startswith(d) and "/" not in name[len(d) :] for d in dirs)

    return wanted


def _select_from_package(
    archive: Path,
    ident: SystemIdentity,
    explicit: bool,
    nearest: bool,
    extract_to: Path | None,
    vmlinux: Path,
    limits: ExtractLimits,
    progress: Progress,
) -> SelectResult:
    def select_with(*, nearest: bool, wanted: Callable[[str], bool] | None) -> SelectResult:
        progress.phase(f"unpacking {archive}" if wanted is None else f"reading {archive}")
        with open_package(archive) as handle:
            unpacked = unpack_tar(handle, limits=limits, source=str(archive), wanted=wanted)
        if unpacked.archive is None:
            raise NoBtfFoundError(
                f"{archive} has no {ARCHIVE_DIR} directory nor any <ID>/<VERSION_ID>/<arch> "
                "tree, so no BTF at all"
            )
        with unpacked.archive as extracted:
            top = extracted.path.relative_to(extracted.root).as_posix()
            where = "./" if top == "." else f"./{top}/"
            match = find_btf(
                extracted.path,
                ident,
                nearest=nearest,
                progress=progress,
                display=f"{archive}:{where.rstrip('/')}",
            )
            path = pkg = None
            if extract_to is not None:
                package_json = (
                    None if unpacked.package_json is None else extracted.root / PACKAGE_JSON
                )
                path, pkg = _install_selection(extract_to, match.path, match.release, package_json)
        member = f"{where}{match.member}"
        return SelectResult(
            ident, explicit, True, vmlinux, path, member, match.release, match.exact, pkg
        )

    # First write only what can match; every entry is still read and checked. Entries that
    # could make a partial tree answer otherwise (a symbolic link, a name a skipped file's
    # directory would take) send the package to the full unpack, so results and messages never
    # differ. A miss is never a reason to unpack everything: its message counts the other
    # kernels in the candidate directories, so only those are written, and only on a miss.
    try:
        try:
            return select_with(nearest=nearest, wanted=_wanted(ident, nearest))
        except NoBtfFoundError:
            if nearest:
                raise  # the candidate directories were written whole already
            return select_with(nearest=False, wanted=_wanted(ident, True))
    except NeedsFullExtraction:
        return select_with(nearest=nearest, wanted=None)
