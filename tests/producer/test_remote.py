"""An archive repository served by ``git daemon`` on 127.0.0.1 is a remote like btfhub's: sync
takes it next to a second remote (first wins), list names the origin, pack writes what bpftool
writes from the same BTF."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store, list_kernels
from btfhub_mirror.mirror.sync import sync
from btfhub_mirror.pack import pack
from btfhub_mirror.producer import Identity, add_sources, init_archive
from tests.helpers import REPO, need_tool
from tests.mirror.gitfixtures import GitDaemon, Origin, git

from .conftest import RELEASE, gnu_untar
from .test_add import cli

SHARED = f"debian/12/x86_64/{RELEASE}.btf.tar.xz"  # in both remotes, with different blobs
OWN = f"acme/1.0/x86_64/{RELEASE}.btf.tar.xz"  # only in the archive repository
OBJECT = REPO / "tests" / "bpf" / "build" / "loadable.bpf.el.o"


def blob_at(repo: Path, path: str) -> str:
    return git("rev-parse", f"HEAD:{path}", cwd=repo).strip()


def test_served_archive_is_a_remote_first_wins(
    _origin_template: Origin, tmp_path: Path, sample_btf: Path, bzimages: dict[str, Path]
) -> None:
    need_tool("git")
    served = tmp_path / "served"
    archive, _ = init_archive(served / "ours")
    add_sources(archive, [sample_btf], Identity("debian", "12", "x86_64", RELEASE))
    add_sources(archive, [bzimages["xz"]], Identity("acme", "1.0"))
    ours, theirs = blob_at(archive, SHARED), blob_at(_origin_template.work, SHARED)
    assert ours != theirs  # xz -9 by btfmirror, not btfhub's own bytes
    everything = KernelFilter.create((), (), (), ())
    with GitDaemon(served) as daemon:
        url = daemon.url(archive)
        first = Store(tmp_path / "first")
        sync(first, everything, [url, _origin_template.url])
        by_path = {e.path: e for e in list_kernels(first, everything).entries}
        assert by_path[SHARED].blob_oid == ours and by_path[SHARED].remote == url
        assert by_path[OWN].remote == url
        assert by_path["debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"].remote == (
            _origin_template.url
        )
        local = first.local_file(SHARED)
        assert git("hash-object", local).strip() == ours
        assert gnu_untar(local) == sample_btf.read_bytes()

        second = Store(tmp_path / "second")  # the other order: btfhub's blob wins
        sync(second, everything, [_origin_template.url, url])
        by_path = {e.path: e for e in list_kernels(second, everything).entries}
        assert by_path[SHARED].blob_oid == theirs
        assert by_path[SHARED].remote == _origin_template.url
        assert by_path[OWN].remote == url

        # The package names each kernel's origin: remotes[entry["remote"]].
        result = pack(
            first,
            [OBJECT],
            tmp_path / "p.tar.gz",
            KernelFilter.create(("debian",), (), ("x86_64",), ("6.1.0-50-amd64", "5.10.*")),
        )
        manifest = json.loads(
            subprocess.run(
                ["tar", "-xzOf", result.output, "./btfmirror.json"], check=True, capture_output=True
            ).stdout
        )
        origins = {
            k["file"].rsplit("/", 1)[1]: manifest["remotes"][k["remote"]]
            for k in manifest["kernels"]
        }
        assert origins == {
            f"{RELEASE}.btf": url,
            "5.10.0-30-amd64.btf": _origin_template.url,
        }


@pytest.mark.needs_bpftool
def test_add_sync_pack_equals_bpftool(tmp_path: Path, sample_btf: Path, vmlinux_elf: Path) -> None:
    bpftool = need_tool("bpftool")
    archive, _ = init_archive(tmp_path / "ours")
    add_sources(archive, [vmlinux_elf], Identity("acme", "1.0"))
    # A plain path as the remote (the cache is $BTFHUB_CACHE, the test's own).
    synced = cli("sync", "--remote", str(archive), "--distro", "acme", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    listed = cli("list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)["entries"]
    assert entry["path"] == OWN and entry["remote"] == archive.resolve().as_uri()
    out = tmp_path / "prog.tar.gz"
    packed = cli("pack", OBJECT, "-o", out, "--distro", "acme", cwd=tmp_path)
    assert packed.returncode == 0, packed.stderr
    expected = tmp_path / "expected.btf"
    subprocess.run(
        [bpftool, "gen", "min_core_btf", sample_btf, expected, OBJECT],
        check=True,
        capture_output=True,
    )
    member = f"./btfhub-archive/acme/1.0/x86_64/{RELEASE}.btf"
    got = subprocess.run(
        ["tar", "-xzOf", out, member], check=True, capture_output=True
    ).stdout  # GNU tar reads the package, not btfmirror
    assert got == expected.read_bytes()
    manifest = json.loads(
        subprocess.run(
            ["tar", "-xzOf", out, "./btfmirror.json"], check=True, capture_output=True
        ).stdout
    )
    # One remote: the manifest names it once, and no entry carries an index.
    assert manifest["remotes"] == [archive.resolve().as_uri()]
    assert [k.get("remote") for k in manifest["kernels"]] == [None]
