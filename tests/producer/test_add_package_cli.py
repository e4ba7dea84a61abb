"""End to end through the command line (cli.app, in process): a Debian kernel package built by
dpkg-deb goes into an archive repository with no identity flags (the package says debian, 12,
x86_64 and the release), then ``sync`` and ``pack`` take it like any btfhub kernel, and the
packed BTF equals what bpftool writes from the same kernel BTF."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.helpers import REPO, need_tool

from .builders import DebSpec, build_deb
from .conftest import RELEASE

runner = CliRunner()
OBJECT = REPO / "tests" / "bpf" / "build" / "loadable.bpf.el.o"


def run(*args: str | Path) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


@pytest.mark.needs_dpkg
@pytest.mark.needs_bpftool
def test_add_deb_then_sync_and_pack(
    tmp_path: Path, bzimages: dict[str, Path], sample_btf: Path
) -> None:
    bpftool = need_tool("bpftool")
    deb = build_deb(
        DebSpec(
            f"linux-image-{RELEASE}",
            "6.1.158-1",
            "amd64",
            "Debian Kernel Team <debian-kernel@lists.debian.org>",
            {f"boot/vmlinuz-{RELEASE}": bzimages["xz"].read_bytes()},
            {},
        ),
        tmp_path / f"linux-image-{RELEASE}_6.1.158-1_amd64.deb",
    )
    archive = tmp_path / "ours"
    run("archive", "init", archive)
    added = json.loads(run("add", deb, "--into", archive, "--json"))
    path = f"debian/12/x86_64/{RELEASE}.btf.tar.xz"
    assert [k["path"] for k in added["kernels"]] == [path]

    run("sync", "--remote", archive, "--distro", "debian")
    (entry,) = json.loads(run("list", "--json"))["entries"]
    assert entry["path"] == path and entry["remote"] == archive.resolve().as_uri()

    out = tmp_path / "prog.tar.gz"
    run("pack", OBJECT, "-o", out, "--distro", "debian")
    expected = tmp_path / "expected.btf"
    subprocess.run(
        [bpftool, "gen", "min_core_btf", sample_btf, expected, OBJECT],
        check=True,
        capture_output=True,
    )
    got = subprocess.run(  # GNU tar reads the package, not btfmirror
        ["tar", "-xzOf", out, f"./btfhub-archive/debian/12/x86_64/{RELEASE}.btf"],
        check=True,
        capture_output=True,
    ).stdout
    assert got == expected.read_bytes()
