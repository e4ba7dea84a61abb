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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import UsageError

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


def normalize_arch(arch: str) -> str:
    """btfhub-archive's directory name for an architecture (``aarch64`` → ``arm64``)."""
    return ARCH_ALIASES.get(arch, arch)


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

    @property
    def is_range(self) -> bool:
        return bool(self.clauses)

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
        """Build a filter from option strings, normalising arches and parsing patterns."""
        return cls(
            distros=tuple(dict.fromkeys(distros)),
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
        if self.distros and distro not in self.distros:
            return False
        if self.arches and normalize_arch(arch) not in self.arches:
            return False
        if (
            self.versions
            and version not in self.versions
            and not any(alias in self.versions for alias in version_aliases)
        ):
            return False
        return not self.kernels or any(p.matches(release) for p in self.kernels)

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
