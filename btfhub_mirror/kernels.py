"""Kernel releases, kernel patterns and the :class:`KernelFilter` every selecting command uses.

A btfhub-archive file is named after ``uname -r`` of its kernel. :func:`parse_release` reads the
version out of it (``5.15.0-71-generic`` is 5.15.0, build 71, flavour ``generic``) so kernels can
be compared as versions, not as strings.

Kernel patterns come in two forms:

- a glob, matched against the whole release string: ``5.15.*``, ``*-azure``, ``4.18.0-147*``;
- a version range, comma-separated clauses of ``>= > <= < == !=`` and a version:
  ``>=5.4,<5.16``, ``==5.15``, ``<5.15.0-71``. A clause compares only as many components as its
  version has (major, minor, patch, build), so ``<=5.15`` includes every 5.15.x and ``>5.15``
  starts at 5.16.
"""

from __future__ import annotations

import fnmatch
import operator
import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .errors import Param, UnknownSelectionError, UsageError

#: Most digits read from one version number (major, minor, patch, build). Real ones have at most
#: 5 (Ubuntu builds such as ``5.4.0-1103``); nine always fit the catalog's SQLite INTEGER, and a
#: longer run (``99999999999999999999.0.0``) makes the release "not a version" instead of an
#: OverflowError at insert time or a pathological int() on thousands of digits.
MAX_VERSION_DIGITS = 9
_RELEASE_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?(.*)", re.DOTALL)
_BUILD_RE = re.compile(r"-(\d+)(.*)", re.DOTALL)
_CLAUSE_RE = re.compile(
    rf"\s*(>=|<=|==|!=|>|<|=)\s*(\d{{1,{MAX_VERSION_DIGITS}}}(?:\.\d{{1,{MAX_VERSION_DIGITS}}}){{0,2}}"
    rf"(?:-\d{{1,{MAX_VERSION_DIGITS}}})?)\s*"
)
_OPS: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}

#: Other names of btfhub-archive's arch directories (``uname -m`` and Debian names).
ARCH_ALIASES = {"aarch64": "arm64", "amd64": "x86_64", "x64": "x86_64"}

#: ASCII letters only, as SQLite's ``NOCASE`` collation and ``lower()`` fold them: the catalog
#: query and :meth:`KernelFilter.matches` then agree on every name (btfhub's are ASCII).
_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
#: How close a name must be to be suggested (:func:`difflib.get_close_matches`' default).
SUGGEST_CUTOFF = 0.6

#: Value of :attr:`KernelRelease.build` when a release has no build number.
NO_BUILD = -1


@dataclass(frozen=True, slots=True)
class KernelRelease:
    """A ``uname -r`` string and the version read from it."""

    release: str
    major: int
    minor: int
    patch: int
    build: int  # NO_BUILD when absent
    flavour: str

    @property
    def version(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @property
    def key(self) -> tuple[int, int, int, int]:
        """Sort and comparison key: (major, minor, patch, build)."""
        return (self.major, self.minor, self.patch, self.build)


def release_problem(release: str) -> str | None:
    """Why a release that starts like a version cannot be read as one, or None.

    A version number longer than :data:`MAX_VERSION_DIGITS` is refused (not silently treated
    as a plain name), so ``sync`` can skip such an entry and say so.
    """
    match = _RELEASE_RE.fullmatch(release)
    if match is None:
        return None
    numbers = [g for g in match.groups()[:3] if g]
    build = _BUILD_RE.fullmatch(match.group(4))
    if build is not None:
        numbers.append(build.group(1))
    if any(len(n) > MAX_VERSION_DIGITS for n in numbers):
        return f"a version number has more than {MAX_VERSION_DIGITS} digits"
    return None


def parse_release(release: str) -> KernelRelease | None:
    """The version of a kernel release string, or None when it does not start with one (or
    :func:`release_problem` refuses it).

    ``5.15.0-71-generic`` → 5.15.0 build 71 flavour ``generic``;
    ``4.18.0-147.5.1.el8_1.aarch64`` → 4.18.0 build 147, no flavour;
    ``6.12.95+deb12-s390x`` → 6.12.95, no build, flavour ``s390x``.
    """
    match = _RELEASE_RE.fullmatch(release)
    if match is None or release_problem(release) is not None:
        return None
    major, minor, patch, rest = match.groups()
    build = NO_BUILD
    build_match = _BUILD_RE.fullmatch(rest)
    if build_match is not None:
        build, rest = int(build_match.group(1)), build_match.group(2)
    flavour = rest.split("-", 1)[1] if "-" in rest else ""
    return KernelRelease(release, int(major), int(minor), int(patch or 0), build, flavour)


def release_sort_key(release: str) -> tuple[tuple[int, ...], str]:
    """Order releases as kernel versions; unparsable names sort first, by name."""
    parsed = parse_release(release)
    return ((parsed.key if parsed else ()), release)


def fold_name(name: str) -> str:
    """The case-insensitive form of a distro or arch name (``Debian`` → ``debian``); folds
    ASCII letters only, exactly as SQLite's ``NOCASE`` does."""
    return name.translate(_ASCII_FOLD)


def normalize_arch(arch: str) -> str:
    """btfhub-archive's directory name for an architecture, any case (``AArch64`` →
    ``arm64``)."""
    folded = fold_name(arch)
    return ARCH_ALIASES.get(folded, folded)


@dataclass(frozen=True, slots=True)
class ArchiveDir:
    """One ``<distro>/<version>/<arch>`` directory of an archive, with the codenames that link
    to its version directory (``focal`` for ``ubuntu/20.04``)."""

    distro: str
    version: str
    arch: str
    version_aliases: tuple[str, ...] = ()


def closest_name(value: str, known: Iterable[str]) -> str | None:
    """The known name most like ``value`` (compared case-insensitively), or None."""
    by_fold: dict[str, str] = {}
    for name in known:
        by_fold.setdefault(fold_name(name), name)
    import difflib  # a suggestion is rare; the import (heapq...) costs every command's start

    match = difflib.get_close_matches(fold_name(value), list(by_fold), n=1, cutoff=SUGGEST_CUTOFF)
    return by_fold[match[0]] if match else None


def _natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    # Version directories in numeric order (9 before 10, 20.04 before 22.04); a number is
    # compared by length then digits, no int() of a name a remote chose.
    return tuple(
        (0, len(p.lstrip("0")), p.lstrip("0")) if p[0] in string.digits else (1, 0, p)
        for p in re.split(r"([0-9]+)", name)
        if p
    )


def sorted_names(names: Iterable[str]) -> tuple[str, ...]:
    """Distinct names in natural order (``9``, ``10``, ``V10``, ``bookworm``)."""
    return tuple(sorted(set(names), key=lambda n: (_natural_key(n), n)))


def _version_tuple(text: str) -> tuple[int, ...]:
    version, _, build = text.partition("-")
    parts = tuple(int(p) for p in version.split("."))
    if build:
        parts = parts + (0,) * (3 - len(parts)) + (int(build),)
    return parts


@dataclass(frozen=True, slots=True)
class KernelPattern:
    """One ``--kernels`` pattern: a glob on the release or a version range."""

    text: str
    clauses: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def matches(self, release: str) -> bool:
        if not self.clauses:
            return fnmatch.fnmatchcase(release, self.text)
        parsed = parse_release(release)
        if parsed is None:
            return False
        key = parsed.key
        return all(_OPS[op](key[: len(ver)], ver) for op, ver in self.clauses)


def parse_pattern(text: str) -> KernelPattern:
    """A :class:`KernelPattern` from ``5.15.*`` or ``>=5.4,<5.16``; UsageError if malformed."""
    stripped = text.strip()
    if not stripped:
        raise UsageError("empty kernel pattern")
    if stripped[0] not in "<>=!":
        return KernelPattern(stripped)
    clauses = []
    for part in stripped.split(","):
        match = _CLAUSE_RE.fullmatch(part)
        if match is None:
            raise UsageError(
                f"kernel pattern {text!r}: cannot read {part.strip()!r} "
                "(expected e.g. '>=5.4', '<5.16', '==5.15.0-71')"
            )
        clauses.append((match.group(1), _version_tuple(match.group(2))))
    return KernelPattern(stripped, tuple(clauses))


@dataclass(frozen=True, slots=True)
class KernelFilter:
    """Which archive entries a command works on; an empty field matches everything.

    ``versions`` match a version directory (``20.04``) or one of its codename aliases
    (``focal``); ``arches`` accept ``uname -m`` names (``aarch64``); a kernel matches when any
    of ``kernels`` does.
    """

    distros: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    kernels: tuple[KernelPattern, ...] = ()

    @classmethod
    def create(
        cls,
        distros: Iterable[str] = (),
        versions: Iterable[str] = (),
        arches: Iterable[str] = (),
        kernels: Iterable[str] = (),
    ) -> KernelFilter:
        """Build a filter from option strings: distros folded to lower case, arches
        normalised (any case, aliases), patterns parsed."""
        return cls(
            distros=tuple(dict.fromkeys(fold_name(d) for d in distros)),
            versions=tuple(dict.fromkeys(versions)),
            arches=tuple(dict.fromkeys(normalize_arch(a) for a in arches)),
            kernels=tuple(parse_pattern(k) for k in kernels),
        )

    @property
    def is_empty(self) -> bool:
        return not (self.distros or self.versions or self.arches or self.kernels)

    def matches(
        self,
        distro: str,
        version: str,
        arch: str,
        release: str,
        version_aliases: Iterable[str] = (),
    ) -> bool:
        """Whether an archive entry is selected."""
        if not self.matches_dir(distro, version, arch, version_aliases):
            return False
        return not self.kernels or any(p.matches(release) for p in self.kernels)

    def matches_dir(
        self, distro: str, version: str, arch: str, version_aliases: Iterable[str] = ()
    ) -> bool:
        """Whether the distro, version and arch of a directory are selected (the kernel
        patterns aside). Distro and arch compare case-insensitively, versions exactly."""
        if self.distros and fold_name(distro) not in self.distros:
            return False
        if self.arches and normalize_arch(arch) not in self.arches:
            return False
        return (
            not self.versions
            or version in self.versions
            or any(alias in self.versions for alias in version_aliases)
        )

    def check_names(self, dirs: Sequence[ArchiveDir], catalog: str = "") -> None:
        """UnknownSelectionError for the first distro, version or arch of this filter that
        names no directory among ``dirs`` (a typo): a silent empty selection would let
        ``sync -d debain`` report "0 selected" and exit 0.

        Each level is checked within the levels above it: a version among the selected
        distros' versions (and codenames), an arch among the selected versions' arches.
        """

        def scope(*levels: tuple[str, tuple[str, ...]]) -> str:
            named = " ".join(f"{n}={','.join(v)}" for n, v in levels if v)
            return f"for {named}" if named else ""

        for distro in self.distros:
            known = [d.distro for d in dirs]
            if distro not in {fold_name(k) for k in known}:
                raise UnknownSelectionError(
                    Param("distro"),
                    distro,
                    sorted_names(known),
                    closest_name(distro, known),
                    catalog=catalog,
                )
        in_distros = [d for d in dirs if not self.distros or fold_name(d.distro) in self.distros]
        for version in self.versions:
            known = [v for d in in_distros for v in (d.version, *d.version_aliases)]
            if version not in known:
                raise UnknownSelectionError(
                    Param("version"),
                    version,
                    sorted_names(known),
                    closest_name(version, known),
                    scope=scope(("distro", self.distros)),
                    catalog=catalog,
                )
        in_versions = [
            d
            for d in in_distros
            if not self.versions
            or d.version in self.versions
            or any(a in self.versions for a in d.version_aliases)
        ]
        for arch in self.arches:
            known = [d.arch for d in in_versions]
            if arch not in {normalize_arch(k) for k in known}:
                raise UnknownSelectionError(
                    Param("arch"),
                    arch,
                    sorted_names(known),
                    closest_name(arch, known),
                    scope=scope(("distro", self.distros), ("version", self.versions)),
                    catalog=catalog,
                )

    def describe(self) -> str:
        """Human summary for messages: ``distro=ubuntu arch=x86_64 kernels=5.15.*``."""
        parts = [
            f"{name}={','.join(values)}"
            for name, values in (
                ("distro", self.distros),
                ("version", self.versions),
                ("arch", self.arches),
                ("kernels", tuple(p.text for p in self.kernels)),
            )
            if values
        ]
        return " ".join(parts) or "all kernels"
