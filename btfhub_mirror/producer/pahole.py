"""DWARF to BTF with ``pahole -J`` (dwarves), the converter the kernel build itself runs
(scripts/link-vmlinux.sh, ``gen_btf``) on a vmlinux built with ``CONFIG_DEBUG_INFO_BTF``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import PaholeError
from .elfreader import read_vmlinux

#: The oldest pahole the kernel accepts for CONFIG_DEBUG_INFO_BTF (lib/Kconfig.debug: 1.16).
MIN_PAHOLE = (1, 16)
#: A conversion of a full vmlinux takes 10-60 s on one core; a hung pahole is ended.
PAHOLE_TIMEOUT = 900
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)")


def pahole_path() -> str:
    path = shutil.which("pahole")
    if path is None:
        raise PaholeError(
            "this vmlinux has DWARF but no BTF: converting it needs pahole "
            f"{MIN_PAHOLE[0]}.{MIN_PAHOLE[1]} or newer (Debian/Ubuntu: apt-get install dwarves), "
            "which is not on PATH"
        )
    return path


def pahole_version(path: str) -> tuple[int, int]:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as err:
        raise PaholeError(f"cannot run {path} --version: {err}") from err
    match = _VERSION_RE.search(out)
    if match is None:
        raise PaholeError(f"{path} --version printed no version ({out.strip()[:80]!r})")
    return int(match.group(1)), int(match.group(2))


def dwarf_to_btf(elf: bytes, source: str) -> bytes:
    """The ``.BTF`` ``pahole -J`` adds to a temporary copy of ``elf`` (never the user's file)."""
    path = pahole_path()
    version = pahole_version(path)
    if version < MIN_PAHOLE:
        raise PaholeError(
            f"{path} is pahole {version[0]}.{version[1]}; converting DWARF to BTF needs "
            f"{MIN_PAHOLE[0]}.{MIN_PAHOLE[1]} or newer (the kernel's own minimum)"
        )
    with tempfile.TemporaryDirectory(prefix="btfmirror-pahole-") as tmp:
        copy = Path(tmp) / "vmlinux"
        copy.write_bytes(elf)
        try:
            proc = subprocess.run(
                [path, "-J", str(copy)],
                capture_output=True,
                text=True,
                timeout=PAHOLE_TIMEOUT,
                check=False,
                env={**os.environ, "LC_ALL": "C"},
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise PaholeError(f"{source}: pahole -J failed: {err}") from err
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise PaholeError(f"{source}: pahole -J failed: {last}")
        converted = read_vmlinux(copy.read_bytes(), f"{source} (after pahole -J)")
    if not converted.btf:
        raise PaholeError(f"{source}: pahole -J wrote no .BTF section")
    return converted.btf
