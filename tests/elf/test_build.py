"""The committed objects still build from their sources with scripts/build_bpf.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from btfhub_mirror.elf import BpfObject
from tests.helpers import REPO, need_tool

from .conftest import BUILD, NAMES


@pytest.mark.slow
@pytest.mark.needs_clang
def test_objects_rebuild(tmp_path: Path) -> None:
    need_tool("clang")
    subprocess.run([str(REPO / "scripts" / "build_bpf.sh"), str(tmp_path)], check=True)
    same_compiler = (tmp_path / "VERSION").read_text() == (BUILD / "VERSION").read_text()
    for name in NAMES:
        for endian in ("el", "eb"):
            fresh = tmp_path / f"{name}.bpf.{endian}.o"
            committed = BUILD / f"{name}.bpf.{endian}.o"
            if same_compiler:
                # The build is reproducible: a difference means sources and objects drifted.
                assert fresh.read_bytes() == committed.read_bytes(), (
                    f"{committed.name} is stale: run scripts/build_bpf.sh and commit"
                )
            else:
                assert BpfObject.open(fresh).core_relos, f"{fresh.name}: no CO-RE relocations"
