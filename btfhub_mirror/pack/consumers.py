"""Who reads a package, and how: the one home of every consumer's rules.

A consumer is a loader that, on a kernel without ``/sys/kernel/btf/vmlinux``, finds the running
kernel's BTF in a package and hands it to libbpf. Every one of them builds a name from the
running system's identity (os-release ``ID``/``VERSION_ID``, ``uname -m``, ``uname -r``) and
looks for that name, exactly, in an archive it reads in its own way. None does a fuzzy match.
So a package serves a consumer only when its entries carry the names *that consumer computes*,
in a container *that consumer can read*. The rules below are read off each reader's code:

- **bpf-compatible** (its C reader ``ensure_core_btf_with_tar_binary``, linked into C loaders;
  the layout of bpf-compatible's ``btfgen`` script): gunzips an embedded ``.tar.gz``, walks raw
  512-byte ustar headers and compares the name field with
  ``./btfhub-archive/<ID>/<VERSION_ID>/<uname -m>/<uname -r>.btf``, then copies the entry's
  bytes. (It is Rust, bpf-compatible-sys, linked into C programs through ``btf_core.h``.) Its
  name comes from bpf-compatible-rs ``generate_current_system_btf_archive_path``, which reads
  os-release with the ``os_release`` crate: ``parse_line`` strips one pair of enclosing quotes,
  so ``ID="centos"`` reads ``centos`` and an unquoted ``VERSION_ID=38`` reads ``38``.
- **ecli** (and bpf-compatible-rs ``unpack_tar``): unpacks an *uncompressed* tar into a
  temporary directory and opens ``btfhub-archive/<ID>/<VERSION_ID>/<uname -m>/<uname -r>.btf``
  there; the Rust ``tar`` crate follows hard links and PAX names. ecli takes only ``.tar``.
- **bcc** libbpf-tools (``ensure_core_btf`` in ``btf_helpers.c``): as the C reader, without the
  ``btfhub-archive/`` level. ``ID`` is read by ``sscanf("ID=%64s")``, so os-release's quotes
  stay in it; ``VERSION_ID`` by ``sscanf("VERSION_ID=\\"%64s")`` minus its last byte, so an
  unquoted ``VERSION_ID`` (Fedora) reads as empty. The name is built in ``char name[100]``.
- **inspektor-gadget** (its btfgen operator, an OCI layer): Go's ``archive/tar`` over gzip,
  entry name exactly ``<ID>/<VERSION_ID>/<uname -m>/<uname -r>.btf`` (no ``./``). ``ID`` keeps
  os-release's quotes, ``VERSION_ID`` does not. A hard link's entry has no content.
- **dir** (tracee's ``go:embed dist/btfhub/*``, Rust ``include_bytes!`` trees): a directory tree
  with ``<ID>/<VERSION_ID>/<uname -m>/<uname -r>.btf``, quotes stripped (tracee's
  ``GetOSReleaseFieldValue``).

Where a consumer's reader does not compute btfhub-archive's own name (``arm64``, unquoted ``ID``,
numbered ``VERSION_ID``), the package also carries the name it does compute: an *alias*.
Aliases are written next to the file they repeat, so gzip and xz store them almost for free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import UsageError
from ..package import ARCHIVE_DIR, FORMATS, Compression, compression_for, strip_suffix
from .tarball import tar_name

AliasReason = Literal["uname-machine", "quoted-id", "version-id", "empty-version-id"]


@dataclass(frozen=True, slots=True)
class OsReleaseStyle:
    """How a distribution writes ``ID`` and ``VERSION_ID`` in ``/etc/os-release``.

    Readers that keep quotes (bcc's ``sscanf``) see ``"centos"``; those that need quotes see an
    unquoted ``VERSION_ID=38`` as empty.
    """

    id_quoted: bool
    version_id_quoted: bool


#: What the distributions' own os-release files say, by btfhub-archive's distro directory.
#: (CentOS, RHEL, Oracle Linux, Amazon Linux, SLES and openSUSE, and the openEuler family
#: quote ``ID``; Fedora alone leaves ``VERSION_ID`` unquoted.)
OS_RELEASE_STYLES: dict[str, OsReleaseStyle] = {
    "ubuntu": OsReleaseStyle(id_quoted=False, version_id_quoted=True),
    "debian": OsReleaseStyle(id_quoted=False, version_id_quoted=True),
    "fedora": OsReleaseStyle(id_quoted=False, version_id_quoted=False),
    "centos": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "rhel": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "ol": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "amzn": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "sles": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "opensuse-leap": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "almalinux": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "rocky": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "kylin": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "bclinux": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
    "openEuler": OsReleaseStyle(id_quoted=True, version_id_quoted=True),
}
#: A distro not listed above: the common case, ``ID=x`` and ``VERSION_ID="y"``.
DEFAULT_OS_RELEASE_STYLE = OsReleaseStyle(id_quoted=False, version_id_quoted=True)

#: btfhub-archive version directories named by a codename, and the ``VERSION_ID`` that
#: os-release gives on those systems (the archive has ``debian/bullseye`` beside ``debian/11``).
CODENAME_VERSION_IDS: dict[tuple[str, str], str] = {
    ("debian", "stretch"): "9",
    ("debian", "buster"): "10",
    ("debian", "bullseye"): "11",
    ("debian", "bookworm"): "12",
    ("debian", "trixie"): "13",
    ("ubuntu", "xenial"): "16.04",
    ("ubuntu", "bionic"): "18.04",
    ("ubuntu", "focal"): "20.04",
    ("ubuntu", "jammy"): "22.04",
    ("ubuntu", "noble"): "24.04",
}

#: ``uname -m`` on a machine of btfhub-archive's arch directory, where the two differ.
UNAME_MACHINES: dict[str, str] = {"arm64": "aarch64"}


@dataclass(frozen=True, slots=True)
class KernelIdentity:
    """A packed kernel: btfhub-archive's four directory names, and what its system reports."""

    distro: str  # btfhub-archive's directory: centos
    version: str  # its version directory: 8, or bullseye
    arch: str  # its arch directory: arm64
    release: str  # uname -r

    @property
    def style(self) -> OsReleaseStyle:
        return OS_RELEASE_STYLES.get(self.distro, DEFAULT_OS_RELEASE_STYLE)

    @property
    def version_id(self) -> str:
        """os-release ``VERSION_ID`` on this kernel's system, unquoted (``bullseye`` → ``11``)."""
        return CODENAME_VERSION_IDS.get((self.distro, self.version), self.version)

    @property
    def machine(self) -> str:
        """``uname -m`` on this kernel (``arm64`` → ``aarch64``)."""
        return UNAME_MACHINES.get(self.arch, self.arch)

    @property
    def btfhub_name(self) -> str:
        """btfhub-archive's own relative name: ``centos/8/arm64/<release>.btf``."""
        return f"{self.distro}/{self.version}/{self.arch}/{self.release}.btf"


@dataclass(frozen=True, slots=True)
class ReaderRules:
    """How one consumer's reader builds a name and reads the archive, as its code does.

    The defaults are what a reader that does not do a thing gets; each entry of
    :data:`CONSUMERS` names what its reader does.
    """

    compression: Compression | None  # the one it decompresses; None: a directory tree
    prefix: str  # before ``<ID>/...`` in the name it compares: "./btfhub-archive/", "./", ""
    keeps_id_quotes: bool = False  # sscanf("ID=%64s") keeps os-release's quotes
    needs_quoted_version_id: bool = False  # sscanf("VERSION_ID=\"%64s"): unquoted reads as empty
    raw_headers: bool = False  # walks 512-byte ustar headers: only the name field, no PAX
    follows_hardlinks: bool = False
    extracts: bool = False  # unpacks to a directory and opens the path there (no ``./``)
    max_name: int | None = None  # longest name it can match (bcc builds it in char name[100])

    def id_of(self, kernel: KernelIdentity) -> str:
        quoted = self.keeps_id_quotes and kernel.style.id_quoted
        return f'"{kernel.distro}"' if quoted else kernel.distro

    def version_id_of(self, kernel: KernelIdentity) -> str:
        if self.needs_quoted_version_id and not kernel.style.version_id_quoted:
            return ""
        return kernel.version_id

    def name_for(self, kernel: KernelIdentity) -> str:
        """The exact name this reader looks for on ``kernel``'s system."""
        return (
            f"{self.prefix}{self.id_of(kernel)}/{self.version_id_of(kernel)}/"
            f"{kernel.machine}/{kernel.release}.btf"
        )


@dataclass(frozen=True, slots=True)
class Consumer:
    """A package format some loader reads: container, layout, and the names written."""

    name: str
    reader_name: str  # who reads it, for messages and the README
    rules: ReaderRules
    dot_slash: bool = False  # entries are written as ``./name``, as ``tar -czf out .`` does
    layout_dir: str = ""  # "btfhub-archive/" or "": where ``<ID>/...`` starts
    keep_btfhub_names: bool = False  # also write btfhub-archive's own names (arm64, unquoted ID)

    @property
    def suffix(self) -> str:
        """The output's suffix: its format's first (:data:`~btfhub_mirror.package.FORMATS`)
        for the compression the reader takes (``.tar.gz``, ``.tar``); "" for a directory."""
        wanted = self.rules.compression
        return "" if wanted is None else FORMATS[wanted].suffix

    @property
    def hardlinks_allowed(self) -> bool:
        """``--hardlinks`` only where the reader follows links."""
        return self.rules.follows_hardlinks

    def entry_name(self, relative: str) -> str:
        """A name relative to the package root as this consumer's entries spell it."""
        return tar_name(relative, dot_slash=self.dot_slash)

    def output_compression(self, path: str | os.PathLike[str]) -> Compression:
        """The compression of a package at ``path``, checked to be the one this consumer's
        reader takes (by the suffix, as the loaders' build rules embed the file by its name);
        UsageError naming the right suffix otherwise. ``dir`` has no archive at all."""
        wanted = self.rules.compression
        if wanted is None:
            raise UsageError(f"{self.name} writes a directory, not an archive")
        name = Path(path).name
        try:
            got: Compression | None = compression_for(path)
        except UsageError:
            got = None
        if got != wanted or not name.endswith(self.suffix):
            raise UsageError(
                f"{path}: {self.name} reads only {FORMATS[wanted].description}; "
                f"name it {strip_suffix(name)}{self.suffix}"
            )
        return wanted

    def names_for(self, kernel: KernelIdentity) -> tuple[tuple[str, tuple[AliasReason, ...]], ...]:
        """Relative names (no ``./``) to write for ``kernel``, first the primary one.

        Each comes with why it differs from btfhub-archive's own name (empty for that name).
        The reader's name is always among them.
        """
        btfhub = f"{self.layout_dir}{kernel.btfhub_name}"
        reader = self.rules.name_for(kernel).removeprefix("./")
        names: list[tuple[str, tuple[AliasReason, ...]]] = []
        if self.keep_btfhub_names or reader == btfhub:
            names.append((btfhub, ()))
        if reader != btfhub:
            names.append((reader, alias_reasons(self.rules, kernel)))
        return tuple(names)


def alias_reasons(rules: ReaderRules, kernel: KernelIdentity) -> tuple[AliasReason, ...]:
    """Every way the name ``rules`` computes for ``kernel`` differs from btfhub-archive's."""
    reasons: list[AliasReason] = []
    if kernel.machine != kernel.arch:
        reasons.append("uname-machine")
    if rules.id_of(kernel) != kernel.distro:
        reasons.append("quoted-id")
    version_id = rules.version_id_of(kernel)
    if version_id == "":
        reasons.append("empty-version-id")
    elif version_id != kernel.version:
        reasons.append("version-id")
    return tuple(reasons)


CONSUMERS: dict[str, Consumer] = {
    c.name: c
    for c in (
        Consumer(
            "bpf-compatible",
            "bpf-compatible's C reader (ensure_core_btf_with_tar_binary)",
            ReaderRules(
                "tar.gz",
                f"./{ARCHIVE_DIR}/",
                keeps_id_quotes=False,  # the os_release crate strips quotes
                raw_headers=True,  # the header's own path: no PAX, no GNU long name
                follows_hardlinks=False,  # copies the entry's bytes: a link has none
                max_name=99,
            ),
            dot_slash=True,
            layout_dir=f"{ARCHIVE_DIR}/",
            keep_btfhub_names=True,
        ),
        Consumer(
            "ecli",
            "ecli / bpf-compatible-rs unpack_tar",
            ReaderRules("tar", f"{ARCHIVE_DIR}/", follows_hardlinks=True, extracts=True),
            dot_slash=True,
            layout_dir=f"{ARCHIVE_DIR}/",
            keep_btfhub_names=True,
        ),
        Consumer(
            "bcc",
            "bcc libbpf-tools (ensure_core_btf in btf_helpers.c)",
            ReaderRules(
                "tar.gz",
                "./",
                keeps_id_quotes=True,  # sscanf("ID=%64s")
                needs_quoted_version_id=True,  # sscanf("VERSION_ID=\"%64s"), minus its last byte
                raw_headers=True,
                max_name=99,  # built in char name[100]
            ),
            dot_slash=True,
        ),
        Consumer(
            "inspektor-gadget",
            "Inspektor Gadget's btfgen operator (Go archive/tar)",
            ReaderRules("tar.gz", "", keeps_id_quotes=True),  # a hard link has no content
        ),
        Consumer(
            "dir",
            "an embedded directory tree (tracee's go:embed, include_bytes!)",
            ReaderRules(None, "", extracts=True),
        ),
    )
}
DEFAULT_CONSUMER = "bpf-compatible"


def consumer_named(name: str) -> Consumer:
    """The consumer called ``name``; UsageError lists the known ones."""
    try:
        return CONSUMERS[name]
    except KeyError:
        raise UsageError(f"unknown consumer {name!r}; known: {', '.join(CONSUMERS)}") from None
