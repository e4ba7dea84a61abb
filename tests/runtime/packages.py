"""Building btfmirror packages (the pack layout) with tarfile, for the runtime tests."""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard

from btfhub_mirror.archive import read_btf_archive
from tests.helpers import SAMPLE

FORMATS = ("tar", "tar.gz", "tar.xz", "tar.zst")


@dataclass(frozen=True)
class Entry:
    """One tar entry: a file (``data``), or ``type`` with ``linkname`` (links, devices...)."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""


def file(name: str, data: bytes) -> Entry:
    return Entry(name, data)


def tar_bytes(entries: list[Entry]) -> bytes:
    """An uncompressed (PAX) tar of ``entries``, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.type
            info.linkname = entry.linkname
            info.mode = 0o755 if entry.type == tarfile.DIRTYPE else 0o644
            if entry.type == tarfile.REGTYPE:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def compress(data: bytes, fmt: str) -> bytes:
    """``data`` (a tar) as a ``fmt`` package: tar, tar.gz, tar.xz or tar.zst."""
    if fmt == "tar":
        return data
    if fmt == "tar.gz":
        return gzip.compress(data, compresslevel=1)
    if fmt == "tar.xz":
        return lzma.compress(data, preset=0)
    assert fmt == "tar.zst", fmt
    return zstandard.ZstdCompressor().compress(data)


def package(entries: list[Entry], fmt: str = "tar") -> bytes:
    return compress(tar_bytes(entries), fmt)


def sample_btf(relative: str) -> bytes:
    """Raw BTF of a bundled sample archive, e.g. ``debian/12/x86_64/6.1.0-50-amd64``."""
    path = SAMPLE / f"{relative}.btf.tar.xz"
    return read_btf_archive(path.read_bytes(), source=str(path))


def pack_layout(
    btfs: dict[str, bytes], package_json: bytes | None = b'{"name": "probe"}'
) -> list[Entry]:
    """Entries as ``pack`` writes them: ``./package.json``, ``./btfhub-archive/<path>.btf``."""
    entries = [] if package_json is None else [file("./package.json", package_json)]
    entries += [file(f"./btfhub-archive/{path}.btf", data) for path, data in btfs.items()]
    return entries


def write_package(directory: Path, entries: list[Entry], fmt: str = "tar") -> Path:
    path = directory / f"package.{fmt}"
    path.write_bytes(package(entries, fmt))
    return path
