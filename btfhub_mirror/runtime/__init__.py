"""The runtime side: pick, at start-up, the BTF of a btfmirror package for the running kernel."""

from __future__ import annotations

from .extract import DEFAULT_LIMITS, ExtractedArchive, ExtractLimits, UnpackedPackage, unpack_tar
from .identity import (
    OS_RELEASE_PATHS,
    SystemIdentity,
    current_identity,
    parse_os_release,
    read_os_release,
)
from .select import (
    VMLINUX_BTF,
    BtfMatch,
    SelectResult,
    find_btf,
    get_current_system_btf_file,
    kernel_has_btf,
    select_btf,
)

__all__ = [
    "DEFAULT_LIMITS",
    "OS_RELEASE_PATHS",
    "VMLINUX_BTF",
    "BtfMatch",
    "ExtractLimits",
    "ExtractedArchive",
    "SelectResult",
    "SystemIdentity",
    "UnpackedPackage",
    "current_identity",
    "find_btf",
    "get_current_system_btf_file",
    "kernel_has_btf",
    "parse_os_release",
    "read_os_release",
    "select_btf",
    "unpack_tar",
]
