"""Committed BPF test objects (tests/bpf/build) and their golden bpftool logs."""

from __future__ import annotations

import functools
from pathlib import Path

from btfhub_mirror.elf import BpfObject
from tests.helpers import REPO

BPF = REPO / "tests" / "bpf"
BUILD = BPF / "build"
ORACLE_LOGS = REPO / "tests" / "data" / "oracle"
NAMES = sorted(p.name.removesuffix(".bpf.c") for p in BPF.glob("*.bpf.c"))


def object_path(name: str, endian: str = "el") -> Path:
    return BUILD / f"{name}.bpf.{endian}.o"


@functools.cache
def bpf_object(name: str, endian: str = "el") -> BpfObject:
    return BpfObject.open(object_path(name, endian))


def golden_logs() -> list[Path]:
    return sorted(ORACLE_LOGS.glob("*.log"))


def golden_meta(log: Path) -> tuple[str, str, int]:
    """``(object name, kernel label, bpftool exit code)`` from ``OBJ@KERNEL.rcN.log``."""
    stem = log.name.removesuffix(".log")
    rest, _, rc = stem.rpartition(".rc")
    name, _, kernel = rest.partition("@")
    return name, kernel, int(rc)
