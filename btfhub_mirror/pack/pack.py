"""``pack``: BTF minimized for BPF objects, for every chosen kernel, in one archive.

The archive is laid out as the older btfgen script's output, which existing loaders read
(bpf-compatible-rs, ecli, bpf-loader-rs)::

    ./package.json                                   the -j file, when given
    ./btfmirror.json                                 manifest: kernels, sha256, sources, objects
    ./btfhub-archive/<ID>/<VERSION_ID>/<arch>/<uname -r>.btf

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
   renamed over the output at the end: an interrupted run leaves no partial archive.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import posixpath
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .. import __version__
from ..catalog.queries import KernelEntry
from ..elf import BpfObject
from ..errors import PackError, UsageError
from ..fsutil import check_output_path, read_capped, write_atomic_with
from ..kernels import KernelFilter
from ..minimize import MinimizeError
from ..mirror.held import held_local
from ..mirror.store import Store
from ..progress import NULL_PROGRESS, Progress, count
from . import worker
from .tarball import (
    USTAR_NAME_MAX,
    Compression,
    Member,
    compression_for,
    source_date_epoch,
    tar_name,
    write_archive,
)

ARCHIVE_DIR = "btfhub-archive"
PACKAGE_JSON = "package.json"
MANIFEST = "btfmirror.json"
MANIFEST_FORMAT = 1
#: The same cap the runtime side puts on a package's package.json.
MAX_PACKAGE_JSON = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PackedKernel:
    """One kernel in the package (or skipped: ``member`` is None)."""

    path: str  # catalog path, <distro>/<version>/<arch>/<release>.btf.tar.xz
    member: str | None  # btfhub-archive/<distro>/<version>/<arch>/<release>.btf
    sha256: str | None
    size: int
    blob_oid: str
    relocations: int
    unmatched: int
    warnings: tuple[str, ...]  # where bpftool would abort
    error: str | None = None  # the kernel's BTF could not be read: not packed
    link_to: str | None = None  # with hardlinks: the identical file stored once
    index_reused: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "file": None if self.member is None else tar_name(self.member),
            "sha256": self.sha256,
            "size": self.size,
            "source_blob": self.blob_oid,
            "relocations": self.relocations,
            "unmatched": self.unmatched,
            "warnings": list(self.warnings),
            "error": self.error,
            "hardlink_to": None if self.link_to is None else tar_name(self.link_to),
        }


#: Kinds of :class:`PackWarning`.
WARN_NOT_PACKED = "not-packed"  # the kernel's BTF could not be read: left out
WARN_BPFTOOL_ABORT = "bpftool-abort"  # bpftool gen min_core_btf would abort on this kernel
WARN_UNMATCHED = "unmatched"  # CO-RE relocations that find nothing in this kernel
WARN_LONG_NAME = "long-name"  # member name over the ustar name field


@dataclass(frozen=True, slots=True)
class PackWarning:
    """Something about one kernel of a package worth telling, as data.

    ``message`` is the whole sentence (every object named), what ``str()`` and the JSON's
    ``warnings`` strings have always said; renderers that must stay short use the fields.
    """

    kernel: str  # <distro>/<version>/<arch>/<release>
    kind: str  # one of the WARN_* constants
    message: str  # without the kernel
    objects: tuple[str, ...] = ()  # the objects concerned (for WARN_UNMATCHED: all of them)
    relocations: int = 0
    unmatched: int = 0
    detail: str = ""  # the read error, bpftool's reason, or the long name

    def __str__(self) -> str:
        return f"{self.kernel}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel, "kind": self.kind, "objects": list(self.objects),
            "relocations": self.relocations, "unmatched": self.unmatched,
            "detail": self.detail, "message": self.message,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class PackResult:
    """What :func:`pack` wrote."""

    output: Path
    compression: str
    kernels: tuple[PackedKernel, ...]
    distinct: int  # distinct minimized files
    archive_bytes: int
    btf_bytes: int  # all packed files, as if unpacked
    distinct_bytes: int
    hardlinks: bool
    pack_warnings: tuple[PackWarning, ...]
    objects: tuple[tuple[str, str], ...]  # (file name, sha256)
    jobs: int
    seconds: float

    @property
    def warnings(self) -> tuple[str, ...]:
        """Each warning as one line, ``"<kernel>: <message>"``."""
        return tuple(str(w) for w in self.pack_warnings)

    @property
    def packed(self) -> tuple[PackedKernel, ...]:
        return tuple(k for k in self.kernels if k.member is not None)

    @property
    def index_reused(self) -> int:
        return sum(k.index_reused for k in self.kernels)

    def to_json(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "format": self.compression,
            "kernels": len(self.packed),
            "skipped": len(self.kernels) - len(self.packed),
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
            "entries": [k.to_json() for k in self.kernels],
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
        if obj.ext is None:
            raise MinimizeError(f"{path}: section .BTF.ext not found (built without -g?)")
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


def _run_tasks(
    tasks: list[worker.Task], objects: list[_Object], jobs: int
) -> Iterator[worker.Outcome]:
    payload = [(o.name, o.data) for o in objects]
    if jobs <= 1:
        worker.init_worker(payload, ignore_sigint=False)
        try:
            for task in tasks:
                yield worker.minimize_kernel(task)
        finally:
            worker.reset()
        return
    pool = cf.ProcessPoolExecutor(
        max_workers=jobs, mp_context=_pool_context(), initializer=worker.init_worker,
        initargs=(payload, True, os.getpid()),
    )
    try:
        futures = [pool.submit(worker.minimize_kernel, task) for task in tasks]
        for future in cf.as_completed(futures):
            yield future.result()
    except cf.process.BrokenProcessPool as err:
        raise PackError(f"a worker process died while minimizing (out of memory?): {err}") from err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _minimize_all(
    store: Store, entries: list[KernelEntry], objects: list[_Object], jobs: int,
    progress: Progress,
) -> dict[str, worker.Outcome]:
    index = store.root / "index"
    tasks = [
        worker.Task(e.path, str(e.local_path), str(index / posixpath.dirname(e.path)))
        for e in entries
    ]
    progress.phase(
        f"minimizing {count(len(tasks), 'kernel')} ({count(jobs, 'job')})", len(tasks)
    )
    outcomes: dict[str, worker.Outcome] = {}
    for outcome in _run_tasks(tasks, objects, jobs):
        outcomes[outcome.path] = outcome
        progress.advance(1, outcome.path.removesuffix(".btf.tar.xz"))
    return outcomes


# -- layout ------------------------------------------------------------------------------------


def member_name(entry: KernelEntry) -> str:
    """``btfhub-archive/<distro>/<version>/<arch>/<release>.btf`` for a catalog entry."""
    return f"{ARCHIVE_DIR}/{entry.distro}/{entry.version}/{entry.arch}/{entry.release}.btf"


def _kernels(
    entries: list[KernelEntry], outcomes: dict[str, worker.Outcome], hardlinks: bool
) -> list[PackedKernel]:
    """Every kernel with its member and, with ``hardlinks``, the first identical member."""
    first_of: dict[str, str] = {}
    kernels = []
    for entry in sorted(entries, key=member_name):
        out = outcomes[entry.path]
        if out.data is None:
            kernels.append(PackedKernel(
                entry.path, None, None, 0, entry.blob_oid, 0, 0, (), out.error
            ))  # fmt: skip
            continue
        member = member_name(entry)
        digest = hashlib.sha256(out.data).hexdigest()
        link = first_of.setdefault(digest, member)
        kernels.append(PackedKernel(
            entry.path, member, digest, len(out.data), entry.blob_oid, out.relocations,
            out.unmatched, out.warnings, None, link if hardlinks and link != member else None,
            out.index_reused,
        ))  # fmt: skip
    return kernels


def _warnings(kernels: list[PackedKernel], objects: list[_Object]) -> list[PackWarning]:
    names = tuple(o.name for o in objects)
    out = []
    for k in kernels:
        where = k.path.removesuffix(".btf.tar.xz")
        if k.error is not None:
            out.append(PackWarning(
                where, WARN_NOT_PACKED, f"not packed: {k.error}", names, detail=k.error
            ))  # fmt: skip
            continue
        out += [
            PackWarning(where, WARN_BPFTOOL_ABORT, f"bpftool would abort: {w}", names, detail=w)
            for w in k.warnings
        ]
        if k.unmatched:
            out.append(PackWarning(
                where, WARN_UNMATCHED,
                f"{k.unmatched} of {k.relocations} CO-RE relocations of {', '.join(names)} find "
                "nothing in this kernel (fine if guarded by bpf_core_*_exists, else the "
                "program fails to load)",
                names, k.relocations, k.unmatched,
            ))  # fmt: skip
        if k.member is not None and len(tar_name(k.member)) > USTAR_NAME_MAX:
            out.append(PackWarning(
                where, WARN_LONG_NAME,
                f"name longer than {USTAR_NAME_MAX} bytes; readers that compare the ustar name "
                "field literally will not find it",
                detail=tar_name(k.member),
            ))  # fmt: skip
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


def _manifest_entry(k: PackedKernel) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "file": tar_name(k.member or ""), "sha256": k.sha256, "size": k.size,
        "source_blob": k.blob_oid,
    }  # fmt: skip
    if k.link_to is not None:
        entry["hardlink_to"] = tar_name(k.link_to)
    if k.warnings:
        entry["warnings"] = list(k.warnings)
    return entry


def _manifest(
    kernels: list[PackedKernel], objects: list[_Object], package_json: bytes | None,
    hardlinks: bool,
) -> bytes:
    """``btfmirror.json``: compact, kernels in archive order so repeated hashes compress."""
    doc = {
        "format": MANIFEST_FORMAT,
        "tool": {"name": "btfmirror", "version": __version__},
        "objects": [{"name": o.name, "sha256": o.sha256} for o in objects],
        "package_json": None
        if package_json is None
        else {"sha256": hashlib.sha256(package_json).hexdigest()},
        "hardlinks": hardlinks,
        "kernels": [_manifest_entry(k) for k in _archive_order(kernels)],
        "skipped": [{"path": k.path, "error": k.error} for k in kernels if k.member is None],
    }
    return (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _members(
    kernels: list[PackedKernel], outcomes: dict[str, worker.Outcome], manifest: bytes,
    package_json: bytes | None,
) -> list[Member]:
    """Every entry in archive order: directories, the two JSON files, then the BTF files
    grouped by content (:func:`_archive_order`)."""
    packed = _archive_order(kernels)
    dirs = {ARCHIVE_DIR}
    for k in packed:
        parent = posixpath.dirname(k.member or "")
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    members = [Member("", "dir"), *(Member(d, "dir") for d in sorted(dirs))]
    members.append(Member(MANIFEST, data=manifest))
    if package_json is not None:
        members.append(Member(PACKAGE_JSON, data=package_json))
    for k in packed:
        assert k.member is not None
        if k.link_to is not None:
            members.append(Member(k.member, "hardlink", link_to=k.link_to))
        else:
            members.append(Member(k.member, data=outcomes[k.path].data or b""))
    return members


# -- writing -----------------------------------------------------------------------------------


def _announce(members: Iterable[Member], progress: Progress) -> Iterator[Member]:
    for member in members:
        yield member
        progress.advance(1)


def _write_output(
    output: Path, members: list[Member], compression: Compression, mtime: int, progress: Progress
) -> int:
    """Write the archive to a temporary file beside ``output``, then rename it; its size."""
    progress.phase(f"writing {output.name}", len(members))

    def fill(out: BinaryIO) -> int:
        write_archive(out, _announce(members, progress), compression, mtime=mtime)
        return out.tell()

    # The directory was checked before any work (check_output_path): never made here.
    return write_atomic_with(output, fill, parents=False)


def pack(
    store: Store,
    objects: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    flt: KernelFilter,
    *,
    package_json: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    hardlinks: bool = False,
    strict: bool = False,
    mtime: int | None = None,
    wait: bool = True,
    progress: Progress = NULL_PROGRESS,
) -> PackResult:
    """Minimize the kernels ``flt`` selects for ``objects`` and write the package ``output``.

    The format follows the suffix (.tar.gz, .tar.xz, .tar.zst, .tar). ``mtime`` defaults to
    ``$SOURCE_DATE_EPOCH`` or 0. Kernels where bpftool would abort, or whose BTF cannot be read,
    are reported in ``warnings`` (the latter are left out); ``strict`` raises PackError instead.
    """
    started = time.monotonic()
    out = check_output_path(output)  # before any work: no fetch or minimize for nothing
    compression = compression_for(out)
    fixed_mtime = source_date_epoch() if mtime is None else mtime
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    objs = _read_objects(objects)
    pkg = None if package_json is None else read_package_json(package_json)
    # The cache lock is held shared from selection to the end: no sync replaces an archive
    # whose blob id the manifest records while it is read.
    with held_local(store, flt, progress, wait=wait) as entries:
        workers = min(jobs or os.cpu_count() or 1, len(entries))
        outcomes = _minimize_all(store, entries, objs, workers, progress)
        kernels = _kernels(entries, outcomes, hardlinks)
        if not any(k.member for k in kernels):
            raise PackError(
                f"no kernel could be packed; first error: {kernels[0].path}: {kernels[0].error}"
            )
        unreadable = [k for k in kernels if k.error is not None]
        if strict and unreadable:  # the archive, not bpftool: say what failed to read
            raise PackError(
                f"--strict: {count(len(unreadable), 'kernel')} could not be read, first "
                f"{unreadable[0].path}: {unreadable[0].error}"
            )
        refused = [k.path for k in kernels if k.warnings]
        if strict and refused:
            raise PackError(
                f"--strict: bpftool would refuse {len(refused)} kernel(s): "
                + ", ".join(refused[:5])
                + (" ..." if len(refused) > 5 else "")
            )
        manifest = _manifest(kernels, objs, pkg, hardlinks)
        members = _members(kernels, outcomes, manifest, pkg)
        size = _write_output(out, members, compression, fixed_mtime, progress)
    distinct = {k.sha256: k.size for k in kernels if k.sha256 is not None}
    return PackResult(
        output=out,
        compression=compression,
        kernels=tuple(kernels),
        distinct=len(distinct),
        archive_bytes=size,
        btf_bytes=sum(k.size for k in kernels),
        distinct_bytes=sum(distinct.values()),
        hardlinks=hardlinks,
        pack_warnings=tuple(_warnings(kernels, objs)),
        objects=tuple((o.name, o.sha256) for o in objs),
        jobs=workers,
        seconds=time.monotonic() - started,
    )
