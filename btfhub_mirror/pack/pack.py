"""``pack``: BTF minimized for BPF objects, for every chosen kernel, in one package.

The package's form is its consumer's (:mod:`.consumers`: the loader that reads it). The default,
``bpf-compatible``, is laid out as the older btfgen script's output, which existing loaders read
(bpf-compatible's C reader, bpf-compatible-rs, ecli, bpf-loader-rs)::

    ./package.json                                   the -j file, when given
    ./btfmirror.json                                 manifest: kernels, sha256, sources, objects
    ./btfhub-archive/<ID>/<VERSION_ID>/<arch>/<uname -r>.btf

and, right after each file, the names its reader computes where they differ (aliases:
``aarch64`` for btfhub's ``arm64``, a quoted ``ID``, the ``VERSION_ID`` of a codename directory).
Other consumers drop the ``btfhub-archive/`` level, the ``./``, the compression, or the archive
itself (``dir``: a directory tree).

One run:

1. read the objects and the package.json (both checked before any kernel is touched);
2. select kernels from the catalog and fetch the missing ones (:func:`held_local`); with an
   empty selection, every kernel already local. From here to the end the cache lock is held
   shared, so no sync replaces an archive while it is read;
3. minimize each kernel for all objects in a process pool; each worker opens the kernel through
   its saved index (:func:`open_indexed`), so a second pack of the same kernels skips xz and
   parsing;
4. write the members in a fixed order, identical files next to each other (or, with
   ``hardlinks``, each distinct file once and hard links for the rest), to a temporary file
   (or directory) renamed over the output at the end: an interrupted run leaves no partial
   package.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import __version__
from ..btf.wire import HEADER_LEN, HEADER_LENS
from ..btf.write import with_header_len
from ..elf import BpfObject
from ..errors import BtfmirrorError, FileWriteError, PackError, Param, UsageError
from ..fsutil import check_output_path, read_capped, write_atomic_with, write_dir_atomic_with
from ..package import ARCHIVE_DIR, MAX_PACKAGE_JSON, PACKAGE_JSON, Compression, compression_for
from ..progress import NULL_PROGRESS, Progress, count
from ..words import Words
from . import worker
from .consumers import (
    CONSUMERS,
    DEFAULT_CONSUMER,
    AliasReason,
    Consumer,
    KernelIdentity,
    consumer_named,
)

if TYPE_CHECKING:
    # Types only: importing the package (as every pool worker does, pack/worker.py) must not
    # load the catalog, the store or git; pack() imports held_local when it runs.
    from ..catalog.queries import KernelEntry
    from ..kernels import KernelFilter
    from ..mirror.store import Store
    from .verify import ConsumerReport

from .tarball import USTAR_NAME_MAX, Member, source_date_epoch, write_archive

MANIFEST = "btfmirror.json"
MANIFEST_FORMAT = 2
#: The output when none is named: the name bcc's and bpf-compatible's Makefiles embed.
DEFAULT_OUTPUT_STEM = "min_core_btfs"


@dataclass(frozen=True, slots=True)
class Alias:
    """Another name of a packed file: one its consumer's reader computes (relative, no ``./``)."""

    name: str
    reasons: tuple[AliasReason, ...]  # how it differs from btfhub-archive's own name


@dataclass(frozen=True, slots=True)
class PackedKernel:
    """One kernel in the package (or skipped: ``member`` is None)."""

    path: str  # catalog path, <distro>/<version>/<arch>/<release>.btf.tar.xz
    member: str | None  # the primary name, relative: btfhub-archive/<distro>/.../<release>.btf
    sha256: str | None
    size: int
    blob_oid: str
    relocations: int
    unmatched: int
    warnings: tuple[str, ...]  # where bpftool would abort
    error: str | None = None  # the kernel's BTF could not be read: not packed
    link_to: str | None = None  # with hardlinks: the identical file stored once
    index_reused: bool = False
    identity: KernelIdentity | None = None
    aliases: tuple[Alias, ...] = ()  # written right after ``member``, the same bytes
    #: Relocations libbpf refuses with the full BTF as with this one: the program fails to load.
    load_failures: tuple[str, ...] = ()
    remote: str = ""  # the remote the catalog took the kernel from (btfhub's, or your own)

    @property
    def stored_as(self) -> str | None:
        """The regular file holding this kernel's bytes (``member`` or what it links to)."""
        return self.link_to or self.member

    def to_json(self, consumer: Consumer) -> dict[str, Any]:
        spell = consumer.entry_name
        return {
            "path": self.path,
            "file": None if self.member is None else spell(self.member),
            "aliases": [{"file": spell(a.name), "reasons": list(a.reasons)} for a in self.aliases],
            "sha256": self.sha256,
            "size": self.size,
            "source_blob": self.blob_oid,
            "relocations": self.relocations,
            "unmatched": self.unmatched,
            "warnings": list(self.warnings),
            "load_failures": list(self.load_failures),
            "error": self.error,
            "hardlink_to": None if self.link_to is None else spell(self.link_to),
            "remote": self.remote,
        }


class PackWarningKind(Words):
    """What a :class:`PackWarning` is about (``--json``'s ``kind``)."""

    NOT_PACKED = "not-packed"  # the kernel's BTF could not be read: left out
    LOAD_FAILURE = "load-failure"  # libbpf refuses a relocation, with the full BTF too
    BPFTOOL_ABORT = "bpftool-abort"  # bpftool gen min_core_btf would abort on this kernel
    UNMATCHED = "unmatched"  # CO-RE relocations that find nothing in this kernel
    LONG_NAME = "long-name"  # a name the consumer's reader cannot see (ustar name field)
    NAME_CLASH = "name-clash"  # two kernels compute one name: the first keeps it
    UNREAD = "unread"  # the consumer's reader, run on the package written, misses it
    HARDLINKS = "hardlinks"  # hard links for a reader that copies a link as 0 bytes


def _unmatched_text(unmatched: int, relocations: int, objects: str) -> str:
    return (
        f"{unmatched} of {relocations} CO-RE relocations of {objects} find nothing in this "
        "kernel (fine if guarded by bpf_core_*_exists, else the program fails to load)"
    )


@dataclass(frozen=True, slots=True)
class PackWarning:
    """Something about one kernel of a package worth telling, as data.

    ``message`` is the whole sentence (every object named), what ``str()`` and the JSON's
    ``warnings`` strings have always said; renderers that must stay short use the fields.
    """

    kernel: str  # <distro>/<version>/<arch>/<release>; "" for the whole package
    kind: PackWarningKind
    message: str  # without the kernel
    objects: tuple[str, ...] = ()  # the objects concerned (for UNMATCHED: all of them)
    relocations: int = 0
    unmatched: int = 0
    detail: str = ""  # the read error, bpftool's reason, or the long name

    def __str__(self) -> str:
        return f"{self.kernel}: {self.message}" if self.kernel else self.message

    def render(self, objects: Callable[[tuple[str, ...]], str] = ", ".join) -> str:
        """:attr:`message` with its list of objects spelled by ``objects`` (a terminal cuts a
        long list short); the same words otherwise."""
        if self.kind is PackWarningKind.UNMATCHED:
            return _unmatched_text(self.unmatched, self.relocations, objects(self.objects))
        return self.message

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "kind": self.kind.value,
            "objects": list(self.objects),
            "relocations": self.relocations,
            "unmatched": self.unmatched,
            "detail": self.detail,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class PackResult:
    """What :func:`pack` wrote."""

    output: Path
    compression: str  # "tar.gz", ... or "dir"
    kernels: tuple[PackedKernel, ...]
    distinct: int  # distinct minimized files
    archive_bytes: int  # the archive's size; for a directory, its files' sizes
    btf_bytes: int  # all packed files, as if unpacked
    distinct_bytes: int
    hardlinks: bool
    pack_warnings: tuple[PackWarning, ...]
    objects: tuple[tuple[str, str], ...]  # (file name, sha256)
    jobs: int
    seconds: float
    consumer: str = DEFAULT_CONSUMER
    #: The consumer's reading of the package written (:func:`~.verify.verify_package`); None
    #: where no consumer reads its format (``-o x.tar.xz`` without ``--for``).
    verified: ConsumerReport | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """Each warning as one line, ``"<kernel>: <message>"``."""
        return tuple(str(w) for w in self.pack_warnings)

    @property
    def packed(self) -> tuple[PackedKernel, ...]:
        return tuple(k for k in self.kernels if k.member is not None)

    @property
    def aliases(self) -> int:
        return sum(len(k.aliases) for k in self.kernels)

    @property
    def index_reused(self) -> int:
        return sum(k.index_reused for k in self.kernels)

    def to_json(self) -> dict[str, Any]:
        consumer = consumer_named(self.consumer)
        return {
            "output": str(self.output),
            "consumer": self.consumer,
            "format": self.compression,
            "kernels": len(self.packed),
            "skipped": len(self.kernels) - len(self.packed),
            "aliases": self.aliases,
            "distinct": self.distinct,
            "bytes": self.archive_bytes,
            "btf_bytes": self.btf_bytes,
            "distinct_bytes": self.distinct_bytes,
            "hardlinks": self.hardlinks,
            "warnings": list(self.warnings),
            "warning_details": [w.to_json() for w in self.pack_warnings],
            "objects": [{"name": n, "sha256": s} for n, s in self.objects],
            "index_reused": self.index_reused,
            "jobs": self.jobs,
            "seconds": round(self.seconds, 3),
            "entries": [k.to_json(consumer) for k in self.kernels],
            "verify": None if self.verified is None else self.verified.to_json(),
        }


# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Object:
    name: str
    data: bytes
    sha256: str


def _read_objects(paths: Sequence[str | os.PathLike[str]]) -> list[_Object]:
    if not paths:
        raise UsageError("no BPF objects given")
    objects = []
    for path in paths:
        obj = BpfObject.open(path)
        obj.require_ext()
        objects.append(_Object(Path(path).name, obj.data, hashlib.sha256(obj.data).hexdigest()))
    return objects


def read_package_json(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path`` once checked to be one JSON document (UsageError otherwise)."""
    data = read_capped(path, MAX_PACKAGE_JSON)
    if len(data) > MAX_PACKAGE_JSON:
        raise UsageError(f"{path}: larger than {MAX_PACKAGE_JSON} bytes")
    try:
        json.loads(data)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{path}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from err
    except ValueError as err:  # bytes that are no UTF-8/16/32 text
        raise UsageError(f"{path}: not valid JSON: {err}") from err
    return data


# -- minimizing, in worker processes -------------------------------------------------------------


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork starts a worker in milliseconds; forkserver and spawn re-run the parent's __main__
    # (the console script: typer, rich, git...) in every worker, half a second each. The one
    # hazard of fork, another thread's lock copied while held (rich's refresh thread writing to
    # stderr), is defused in the worker: it never prints and drops the inherited std streams.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


#: Batches per worker: enough that the last ones even out the workers' finishing times, few
#: enough that a round trip (pickling a task list and its outcomes) per kernel is not paid.
BATCHES_PER_WORKER = 6


def _batches(tasks: list[worker.Task], jobs: int) -> list[list[worker.Task]]:
    """``tasks`` cut into batches of about equal work, the largest kernels first.

    The work of a kernel grows with its BTF, which its ``.btf.tar.xz`` size follows. Largest
    first, each batch filled up to an equal share: a big kernel travels alone, small ones
    together, and the pool ends on small batches, so no worker idles while one finishes a big
    kernel started last.
    """
    sizes = {}
    for task in tasks:
        try:
            sizes[task.path] = os.stat(task.local).st_size
        except OSError:
            sizes[task.path] = 0  # the worker reports it
    ordered = sorted(tasks, key=lambda t: -sizes[t.path])
    share = max(1, sum(sizes.values()) // max(1, jobs * BATCHES_PER_WORKER))
    batches: list[list[worker.Task]] = []
    filled = share
    for task in ordered:
        if filled >= share:
            batches.append([])
            filled = 0
        batches[-1].append(task)
        filled += sizes[task.path]
    return batches


def _run_tasks(
    tasks: list[worker.Task], objects: list[_Object], jobs: int
) -> Iterator[worker.Outcome]:
    payload = [(o.name, o.data) for o in objects]
    if jobs <= 1:
        worker.adopt_objects(worker.parse_objects(payload))
        try:
            with worker.frozen_heap():
                for task in tasks:
                    yield worker.minimize_kernel(task)
        finally:
            worker.reset()
        return
    context = _pool_context()
    forked = context.get_start_method() == "fork"
    if forked:  # parsed once here; every worker inherits them
        worker.adopt_objects(worker.parse_objects(payload))
    pool = cf.ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=worker.init_worker,
        initargs=(None if forked else payload, True, os.getpid()),
    )
    try:
        futures = [pool.submit(worker.minimize_kernels, b) for b in _batches(tasks, jobs)]
        for future in cf.as_completed(futures):
            yield from future.result()
    except cf.process.BrokenProcessPool as err:
        raise PackError(f"a worker process died while minimizing (out of memory?): {err}") from err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        worker.reset()


def _minimize_all(
    store: Store,
    entries: list[KernelEntry],
    objects: list[_Object],
    jobs: int,
    progress: Progress,
    first_match: bool = False,
) -> dict[str, worker.Outcome]:
    tasks = [
        worker.Task(e.path, str(e.local_path), str(store.index_dir_for(e)), first_match)
        for e in entries
    ]
    progress.phase(f"minimizing {count(len(tasks), 'kernel')} ({count(jobs, 'job')})", len(tasks))
    outcomes: dict[str, worker.Outcome] = {}
    for outcome in _run_tasks(tasks, objects, jobs):
        outcomes[outcome.path] = outcome
        progress.advance(1, outcome.path.removesuffix(".btf.tar.xz"))
    return outcomes


# -- layout ------------------------------------------------------------------------------------


def identity_of(entry: KernelEntry) -> KernelIdentity:
    """The packed kernel's btfhub-archive directory names."""
    return KernelIdentity(entry.distro, entry.version, entry.arch, entry.release)


def member_name(entry: KernelEntry) -> str:
    """``btfhub-archive/<distro>/<version>/<arch>/<release>.btf`` for a catalog entry."""
    return f"{ARCHIVE_DIR}/{identity_of(entry).btfhub_name}"


def _where(path: str) -> str:
    return path.removesuffix(".btf.tar.xz")


@dataclass(frozen=True, slots=True)
class _Names:
    """The names one kernel gets, once every kernel claimed its own."""

    primary: str | None
    aliases: tuple[Alias, ...]
    clash: str | None  # why a name was not written (another kernel has it)


def _claim_names(entries: list[KernelEntry], consumer: Consumer) -> dict[str, _Names]:
    """Each kernel's names, none written twice.

    Two kernels can compute one name: btfhub-archive has ``debian/bullseye`` beside
    ``debian/11``, and a reader on Debian 11 asks for ``11`` on both. Every primary name is
    claimed before any alias (btfhub-archive's own names are unique), the kernels whose
    names need no rewriting first, so ``debian/11``'s file is the one found there; the other
    keeps its other names and a warning says which name it lost.
    """
    wanted = {e.path: consumer.names_for(identity_of(e)) for e in entries}
    order = sorted(entries, key=lambda e: (len(wanted[e.path][0][1]), member_name(e)))
    owner: dict[str, str] = {}  # relative name -> catalog path
    names: dict[str, list[Alias]] = {e.path: [] for e in entries}
    lost: dict[str, list[str]] = {e.path: [] for e in entries}
    for primaries in (True, False):
        for entry in order:
            candidates = wanted[entry.path][:1] if primaries else wanted[entry.path][1:]
            for name, reasons in candidates:
                if name in owner:
                    lost[entry.path].append(
                        f"{consumer.entry_name(name)} is {_where(owner[name])}'s"
                    )
                    continue
                owner[name] = entry.path
                names[entry.path].append(Alias(name, reasons))
    claimed = {}
    for path, got in names.items():
        # A kernel that lost its primary name takes its first alias instead.
        clash = f"name not written: {'; '.join(lost[path])}" if lost[path] else None
        claimed[path] = _Names(got[0].name if got else None, tuple(got[1:]), clash)
    return claimed


def _kernels(
    entries: list[KernelEntry],
    outcomes: dict[str, worker.Outcome],
    consumer: Consumer,
    hardlinks: bool,
) -> tuple[list[PackedKernel], list[PackWarning]]:
    """Every kernel with its names and, with ``hardlinks``, the first identical member; and
    the warnings about names two kernels compute."""
    names = _claim_names([e for e in entries if outcomes[e.path].data is not None], consumer)
    first_of: dict[str, str] = {}
    kernels = []
    clashes: list[PackWarning] = []
    for entry in sorted(entries, key=member_name):
        out = outcomes[entry.path]
        ident = identity_of(entry)
        claim = names.get(entry.path)
        if out.data is None or claim is None or claim.primary is None:
            # not packed, and so reported (:func:`_warnings`)
            error = out.error if out.data is None else (claim.clash if claim else None)
            kernels.append(
                PackedKernel(
                    entry.path,
                    None,
                    None,
                    0,
                    entry.blob_oid,
                    0,
                    0,
                    (),
                    error,
                    identity=ident,
                    remote=entry.remote,
                )
            )
            continue
        if claim.clash is not None:
            clashes.append(PackWarning(_where(entry.path), PackWarningKind.NAME_CLASH, claim.clash))
        member = claim.primary
        digest = hashlib.sha256(out.data).hexdigest()
        link = first_of.setdefault(digest, member)
        kernels.append(
            PackedKernel(
                entry.path,
                member,
                digest,
                len(out.data),
                entry.blob_oid,
                out.relocations,
                out.unmatched,
                out.warnings,
                None,
                link if hardlinks and link != member else None,
                out.index_reused,
                ident,
                claim.aliases,
                out.load_failures,
                entry.remote,
            )
        )
    return kernels, clashes


def _check_names(
    kernels: list[PackedKernel], consumer: Consumer, strict_names: bool
) -> list[PackWarning]:
    """The name-length rule of ``consumer``'s reader: PackError when it cannot see a kernel's
    name (``strict_names``), else warnings; and the PAX warning for the package's other names.

    A raw-header reader (bcc's and bpf-compatible's C code) compares the 100-byte ustar name
    field with a name it built in ``char name[100]``: a longer name sits in a PAX header it
    skips, and the truncated name field never equals its own.
    """
    rules = consumer.rules
    lines: list[PackWarning] = []
    for k in kernels:
        if k.member is None or k.identity is None:
            continue
        wanted = rules.name_for(k.identity)
        if rules.max_name is not None and len(wanted.encode()) > rules.max_name:
            message = (
                f"{consumer.name} looks for {wanted!r} ({len(wanted.encode())} bytes), but its "
                f"reader sees names of at most {rules.max_name} bytes"
            )
            if strict_names:
                raise PackError(f"{_where(k.path)}: {message}")
            lines.append(
                PackWarning(_where(k.path), PackWarningKind.LONG_NAME, message, detail=wanted)
            )
            continue
        if not rules.raw_headers or rules.compression is None:
            continue  # its reader reads PAX names
        for name in (k.member, *(a.name for a in k.aliases)):
            if len(consumer.entry_name(name).encode()) > USTAR_NAME_MAX:
                lines.append(
                    PackWarning(
                        _where(k.path),
                        PackWarningKind.LONG_NAME,
                        f"name longer than {USTAR_NAME_MAX} bytes; readers that compare the ustar "
                        "name field literally will not find it",
                        detail=consumer.entry_name(name),
                    )
                )
                break
    return lines


def _warnings(kernels: list[PackedKernel], objects: list[_Object]) -> list[PackWarning]:
    names = tuple(o.name for o in objects)
    out = []
    for k in kernels:
        where = _where(k.path)
        if k.error is not None:
            out.append(
                PackWarning(
                    where,
                    PackWarningKind.NOT_PACKED,
                    f"not packed: {k.error}",
                    names,
                    detail=k.error,
                )
            )
            continue
        out += [
            PackWarning(where, PackWarningKind.LOAD_FAILURE, w, names, detail=w)
            for w in k.load_failures
        ]
        out += [
            PackWarning(
                where, PackWarningKind.BPFTOOL_ABORT, f"bpftool would abort: {w}", names, detail=w
            )
            for w in k.warnings
        ]
        if k.unmatched:
            out.append(
                PackWarning(
                    where,
                    PackWarningKind.UNMATCHED,
                    _unmatched_text(k.unmatched, k.relocations, ", ".join(names)),
                    names,
                    k.relocations,
                    k.unmatched,
                )
            )
    return out


def _archive_order(kernels: list[PackedKernel]) -> list[PackedKernel]:
    """Packed kernels grouped by content; groups by size, then name of their first file.

    Identical files side by side cost the compressor almost nothing; files of one size are
    mostly the same types with other offsets, and next to each other they compress ~10 %
    better than in name order (measured on the 122-kernel corpus, gzip).
    """
    groups: dict[str, list[PackedKernel]] = {}
    for k in kernels:  # already in member-name order
        if k.member is not None:
            groups.setdefault(k.sha256 or "", []).append(k)
    ordered = sorted(groups.values(), key=lambda g: (g[0].size, g[0].member or ""))
    return [k for group in ordered for k in group]


def _manifest_remotes(kernels: list[PackedKernel]) -> list[str]:
    """The remotes the packed kernels came from, in archive order of first use."""
    return list(dict.fromkeys(k.remote for k in kernels if k.member is not None))


def _manifest_entry(k: PackedKernel, consumer: Consumer, remotes: list[str]) -> dict[str, Any]:
    assert k.identity is not None and k.member is not None
    ident = k.identity
    entry: dict[str, Any] = {
        "file": consumer.entry_name(k.member),
        "sha256": k.sha256,
        "size": k.size,
        "source_blob": k.blob_oid,
    }
    # The identity is spelled out only where the file is not btfhub-archive's own name, which
    # says it already: ~125 bytes less in a default package, which must not grow (#13).
    if k.member != f"{consumer.layout_dir}{ident.btfhub_name}":
        entry |= {
            "distro": ident.distro,
            "version": ident.version,
            "arch": ident.arch,
            "release": ident.release,
        }
    if k.aliases:
        entry["aliases"] = [
            {"file": consumer.entry_name(a.name), "reasons": list(a.reasons)} for a in k.aliases
        ]
    if k.link_to is not None:
        entry["hardlink_to"] = consumer.entry_name(k.link_to)
    if k.warnings:
        entry["warnings"] = list(k.warnings)
    if k.load_failures:
        entry["load_failures"] = list(k.load_failures)
    # Each kernel's origin is ``remotes[entry.get("remote", 0)]``: the index is written only
    # when the kernels come from several remotes (a btfhub-only package stays as small).
    if len(remotes) > 1:
        entry["remote"] = remotes.index(k.remote)
    return entry


def _manifest(
    kernels: list[PackedKernel],
    objects: list[_Object],
    package_json: bytes | None,
    hardlinks: bool,
    consumer: Consumer,
) -> bytes:
    """``btfmirror.json``: compact, kernels in archive order so repeated hashes compress."""
    ordered = _archive_order(kernels)
    remotes = _manifest_remotes(ordered)
    doc = {
        "format": MANIFEST_FORMAT,
        "consumer": consumer.name,
        "tool": {"name": "btfmirror", "version": __version__},
        "objects": [{"name": o.name, "sha256": o.sha256} for o in objects],
        "package_json": None
        if package_json is None
        else {"sha256": hashlib.sha256(package_json).hexdigest()},
        "hardlinks": hardlinks,
        "remotes": remotes,
        "kernels": [_manifest_entry(k, consumer, remotes) for k in ordered],
        "skipped": [{"path": k.path, "error": k.error} for k in kernels if k.member is None],
    }
    return (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _members(
    kernels: list[PackedKernel],
    outcomes: dict[str, worker.Outcome],
    manifest: bytes,
    package_json: bytes | None,
    consumer: Consumer,
    hardlinks: bool,
) -> list[Member]:
    """Every entry in archive order: the two JSON files, then the BTF files grouped by
    content (:func:`_archive_order`), each followed by its aliases.

    An alias has its file's bytes, so gzip and xz store it as one back-reference (its 512-byte
    header costs more); a hard link only where the consumer's reader follows links, as
    bpf-compatible's and bcc's C readers copy a link's entry as an empty file.

    No directory entries: no reader needs them (GNU tar, Python's tarfile, Go's archive/tar,
    Rust's tar crate and :func:`~btfhub_mirror.runtime.unpack_tar` make a file's parents; the
    C readers compare file names only), and the ~25 bytes each costs under gzip pay for the
    aliases (measured on tests/data/btfhub-sample: see the CHANGELOG).
    """
    packed = _archive_order(kernels)
    link_aliases = hardlinks and consumer.hardlinks_allowed
    members = [Member(MANIFEST, data=manifest)]
    if package_json is not None:
        members.append(Member(PACKAGE_JSON, data=package_json))
    for n, k in enumerate(packed):
        assert k.member is not None and k.stored_as is not None
        data = outcomes[k.path].data or b""
        first = n == 0  # the JSON text before, binary BTF from here on: a new deflate block
        if k.link_to is not None:
            members.append(Member(k.member, "hardlink", link_to=k.link_to, new_block=first))
        else:
            members.append(Member(k.member, data=data, new_block=first))
        for alias in k.aliases:
            if link_aliases:
                members.append(Member(alias.name, "hardlink", link_to=k.stored_as))
            else:
                members.append(Member(alias.name, data=data))
    return members


# -- writing -----------------------------------------------------------------------------------


def _announce(members: Iterable[Member], progress: Progress) -> Iterator[Member]:
    for member in members:
        yield member
        progress.advance(1)


def _write_output(
    output: Path,
    members: list[Member],
    compression: Compression,
    mtime: int,
    dot_slash: bool,
    progress: Progress,
    check: Callable[[Path], None] | None,
) -> int:
    """Write the archive to a temporary file beside ``output``, then rename it; its size."""
    progress.phase(f"writing {output.name}", len(members))

    def fill(out: BinaryIO) -> int:
        write_archive(
            out, _announce(members, progress), compression, mtime=mtime, dot_slash=dot_slash
        )
        return out.tell()

    # The directory was checked before any work (check_output_path): never made here.
    return write_atomic_with(output, fill, parents=False, check=check)


def _verifier(
    consumer: Consumer,
    strict: bool,
    expected: int,
    into: list[ConsumerReport],
    progress: Progress,
) -> Callable[[Path], None]:
    """A check of the written package, before it is renamed into place: ``consumer``'s reader
    must find every kernel (``btfmirror verify --for``); ``strict`` makes a miss a PackError,
    which leaves the output as it was."""

    def check(path: Path) -> None:
        from .verify import verify_package  # verify reads this module's layout constants

        progress.phase(f"verifying as {consumer.name} reads it", None)
        report = verify_package(path, consumer.name).report_for(consumer.name)
        into.append(report)
        if strict and not report.ok:
            first = next((k for k in report.kernels if not k.ok), None)
            why = report.problem or (
                f"{first.kernel.btfhub_name}: {first.miss}" if first is not None else "no kernel"
            )
            raise PackError(
                Param("strict"),
                f": {consumer.name}'s reader would miss {report.missed} of "
                f"{expected} kernel(s) in the package ({why}); nothing written",
            )

    return check


def _unread_warnings(report: ConsumerReport) -> list[PackWarning]:
    """A warning for every kernel ``report``'s reader misses in the package written."""
    if report.problem is not None:
        return [PackWarning("", PackWarningKind.UNREAD, f"{report.consumer}: {report.problem}")]
    return [
        PackWarning(
            k.kernel.btfhub_name.removesuffix(".btf"),
            PackWarningKind.UNREAD,
            f"{report.consumer}'s reader would not find it: {k.miss}",
            detail=k.name,
        )
        for k in report.kernels
        if not k.ok
    ]


def _is_dir_package(path: Path) -> bool:
    """Whether ``path`` is a directory a previous ``pack --for dir`` wrote (its manifest says
    so): the one kind of non-empty directory ``pack`` replaces."""
    try:
        doc = json.loads(read_capped(path / MANIFEST, MAX_PACKAGE_JSON))
    except (OSError, ValueError, BtfmirrorError):
        return False
    return isinstance(doc, dict) and doc.get("consumer") == "dir"


def check_dir_output(path: str | os.PathLike[str]) -> Path:
    """``path`` as the place of a ``dir`` package, checked before any work: its parent must
    take new entries, and ``path`` must be missing, empty, or a previous dir package."""
    target = Path(path)
    if target.is_symlink():  # renaming over it would replace the link, not its target
        raise UsageError(f"{target}: a symbolic link; name the directory it leads to")
    if target.exists() and not target.is_dir():
        raise UsageError(
            f"{target}: not a directory; ", Param("consumer", "dir"), " writes a directory tree"
        )
    parent = target.parent
    if not parent.is_dir():
        raise FileWriteError(f"{target}: cannot write: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FileWriteError(f"{target}: cannot write: permission denied in {parent}")
    if target.is_dir() and any(target.iterdir()) and not _is_dir_package(target):
        raise UsageError(
            f"{target}: not empty and not a package btfmirror wrote; refusing to replace it"
        )
    return target


def _write_tree(
    output: Path,
    members: list[Member],
    mtime: int,
    progress: Progress,
    check: Callable[[Path], None] | None,
) -> int:
    """Write the members as a directory tree in a temporary directory beside ``output``, then
    put it in place in one rename (:func:`write_dir_atomic_with`); the files' total size."""
    progress.phase(f"writing {output.name}/", len(members))

    def fill(root: Path) -> int:
        total = 0
        made: list[Path] = []
        for member in _announce(members, progress):
            path = root / member.name
            if member.kind == "dir":
                path.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            assert member.kind == "file", member  # no reader of a tree follows a tar link
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            with open(path, "xb") as out:
                out.write(member.data)
            os.chmod(path, 0o644)
            made.append(path)
            total += len(member.data)
        # Fixed mtimes, deepest first so a directory's own time is set after its children.
        for path in [*made, *sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True)]:
            os.utime(path, (mtime, mtime), follow_symlinks=False)
        os.chmod(root, 0o755)
        os.utime(root, (mtime, mtime))
        return total

    return write_dir_atomic_with(output, fill, check=check)


def default_output(consumer: str | None) -> Path:
    """The package written when no ``-o`` is given: ``min_core_btfs.tar.gz`` (``.tar`` for
    ecli); a ``dir`` package has no default."""
    chosen = consumer_named(consumer or DEFAULT_CONSUMER)
    if chosen.rules.compression is None:
        raise UsageError(
            Param("consumer", chosen.name),
            " needs ",
            Param("output"),
            " DIR: the directory to write",
        )
    return Path(f"{DEFAULT_OUTPUT_STEM}{chosen.suffix}")


#: The consumers whose readers follow hard links, for the --hardlinks messages.
_LINK_FOLLOWERS = ", ".join(c.name for c in CONSUMERS.values() if c.hardlinks_allowed)


def _checked_output(
    output: str | os.PathLike[str], chosen: Consumer, explicit: bool, hardlinks: bool
) -> tuple[Path, Compression | None]:
    """The output and its compression (None: a directory), checked against the consumer
    before any work."""
    if hardlinks and explicit and not chosen.hardlinks_allowed:
        raise UsageError(
            Param("hardlinks"),
            f": {chosen.reader_name} does not follow hard links (it would "
            "read an empty file); only ",
            Param("consumer"),
            f" {_LINK_FOLLOWERS} takes them",
        )
    if chosen.rules.compression is None:
        return check_dir_output(output), None
    out = check_output_path(output)
    if not explicit:  # before --for: any suffix, the bpf-compatible layout
        return out, compression_for(out)
    return out, chosen.output_compression(out)


def pack(
    store: Store,
    objects: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    flt: KernelFilter,
    *,
    consumer: str | None = None,
    package_json: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    hardlinks: bool = False,
    strict: bool = False,
    first_match: bool = False,
    mtime: int | None = None,
    wait: bool = True,
    progress: Progress = NULL_PROGRESS,
    btf_header: int = HEADER_LEN,
) -> PackResult:
    """Minimize the kernels ``flt`` selects for ``objects`` and write the package ``output``.

    ``consumer`` (:data:`~.consumers.CONSUMERS`) fixes the names, the compression (the suffix
    of ``output`` must be its own) and whether ``hardlinks`` may be used. Without it the
    package is ``bpf-compatible``'s as before consumers existed: the format follows the suffix
    (.tar.gz, .tar.xz, .tar.zst, .tar), ``hardlinks`` is taken with a warning and a name too
    long for the C reader is a warning, not an error. ``mtime`` defaults to
    ``$SOURCE_DATE_EPOCH`` or 0. Kernels where bpftool would abort, or whose BTF cannot be
    read, are reported in ``warnings`` (the latter are left out); ``strict`` raises PackError
    instead.
    ``btf_header`` is the header length of every BTF written: 24 (bpftool 7.1/7.5) or 32
    (bpftool 7.8).
    ``first_match`` is :func:`~btfhub_mirror.minimize.minimize`'s: where libbpf refuses a
    relocation with the full BTF, keep the first candidate instead of the same failure.
    """
    from ..mirror.held import held_local  # the catalog and the store: not in the workers

    started = time.monotonic()
    explicit = consumer is not None
    chosen = consumer_named(consumer or DEFAULT_CONSUMER)
    # Before any work: no fetch or minimize for nothing.
    out, compression = _checked_output(output, chosen, explicit, hardlinks)
    fixed_mtime = source_date_epoch() if mtime is None else mtime
    if jobs is not None and jobs < 1:
        raise UsageError(Param("jobs"), f" must be at least 1, not {jobs}")
    if btf_header not in HEADER_LENS:
        raise UsageError(Param("btf_header"), f" must be one of {HEADER_LENS}, not {btf_header}")
    if strict and first_match:
        raise UsageError(Param("strict"), " and ", Param("first_match"), " exclude each other")
    objs = _read_objects(objects)
    pkg = None if package_json is None else read_package_json(package_json)
    # The cache lock is held shared from selection to the end: no sync replaces an archive
    # whose blob id the manifest records while it is read.
    with held_local(store, flt, progress, wait=wait) as entries:
        workers = min(jobs or os.cpu_count() or 1, len(entries))
        outcomes = _minimize_all(store, entries, objs, workers, progress, first_match)
        outcomes = {
            path: replace(o, data=with_header_len(o.data, btf_header)) if o.data else o
            for path, o in outcomes.items()
        }
        kernels, clashes = _kernels(entries, outcomes, chosen, hardlinks)
        if not any(k.member for k in kernels):
            raise PackError(
                f"no kernel could be packed; first error: {kernels[0].path}: {kernels[0].error}"
            )
        unreadable = [k for k in kernels if k.error is not None]
        if strict and unreadable:  # the archive, not bpftool: say what failed to read
            raise PackError(
                Param("strict"),
                f": {count(len(unreadable), 'kernel')} could not be read, "
                f"first {unreadable[0].path}: {unreadable[0].error}",
            )
        refused = [k.path for k in kernels if k.warnings or k.load_failures]
        if strict and refused:
            raise PackError(
                Param("strict"),
                f": bpftool would refuse {len(refused)} kernel(s): "
                + ", ".join(refused[:5])
                + (" ..." if len(refused) > 5 else ""),
            )
        name_warnings = _check_names(kernels, chosen, strict_names=explicit)
        manifest = _manifest(kernels, objs, pkg, hardlinks, chosen)
        members = _members(kernels, outcomes, manifest, pkg, chosen, hardlinks)
        verified: list[ConsumerReport] = []
        # The consumer's own reader is run on what was written, before it replaces anything;
        # not on a format no consumer reads (-o x.tar.xz without --for).
        packed = sum(k.member is not None for k in kernels)
        check = (
            _verifier(chosen, strict, packed, verified, progress)
            if explicit or compression == chosen.rules.compression
            else None
        )
        if compression is None:
            size = _write_tree(out, members, fixed_mtime, progress, check)
        else:
            size = _write_output(
                out, members, compression, fixed_mtime, chosen.dot_slash, progress, check
            )
    distinct = {k.sha256: k.size for k in kernels if k.sha256 is not None}
    notes = []
    if hardlinks and not chosen.hardlinks_allowed:
        notes.append(
            PackWarning(
                "",
                PackWarningKind.HARDLINKS,
                f"--hardlinks: {chosen.reader_name} reads a hard link as an empty file; for a "
                "reader that follows links use --for " + _LINK_FOLLOWERS,
            )
        )
    return PackResult(
        output=out,
        compression="dir" if compression is None else compression,
        kernels=tuple(kernels),
        distinct=len(distinct),
        archive_bytes=size,
        btf_bytes=sum(k.size for k in kernels),
        distinct_bytes=sum(distinct.values()),
        hardlinks=hardlinks,
        pack_warnings=(
            *notes,
            *_warnings(kernels, objs),
            *clashes,
            *name_warnings,
            *(_unread_warnings(verified[0]) if verified else ()),
        ),
        objects=tuple((o.name, o.sha256) for o in objs),
        jobs=workers,
        seconds=time.monotonic() - started,
        consumer=chosen.name,
        verified=verified[0] if verified else None,
    )
