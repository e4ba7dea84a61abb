"""A damaged local archive (truncated in the cache): found by its blob id, restored, or named.

The remote is a real git repository; the damaged file is checked against git's own
``git hash-object`` after the repair, and the package is read with Python's tarfile.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from btfhub_mirror.mirror import Store
from cli._errors import ExitCode
from tests.helpers import REPO
from tests.helpers import invoke_cli as invoke

from .gitfixtures import Origin, git

OBJ = str(REPO / "tests" / "bpf" / "build" / "core_fields.bpf.el.o")
KYLIN = "kylin/V10/arm64/4.19.90-24.4.v2101.ky10.aarch64.btf.tar.xz"


@pytest.fixture
def cache(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("BTFHUB_CACHE", str(store.root))
    return store


def _truncate(store: Store) -> Path:
    local = store.archive_dir / KYLIN
    data = local.read_bytes()
    local.write_bytes(data[: len(data) // 2])
    return local


def _packed_members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return sorted(m.name for m in tar.getmembers() if m.name.endswith(".btf"))


def test_pack_and_check_restore_a_truncated_archive(
    origin: Origin, cache: Store, tmp_path: Path
) -> None:
    code, _, err = invoke("sync", "-d", "kylin", "-r", origin.url)
    assert code == 0, err
    expected = origin.blobs()[KYLIN][1]
    local = _truncate(cache)

    out = tmp_path / "p.tar.gz"
    code, stdout, err = invoke("pack", OBJ, "-o", str(out), "--strict", "--jobs", "1")
    assert code == 0, err
    assert f"{KYLIN}: the local archive does not match its blob {expected[:12]}" in err
    assert "NOT PACKED" not in stdout and "bpftool" not in err
    assert git("hash-object", local).strip() == expected
    assert _packed_members(out) == [  # btfhub's names and the aarch64 aliases loaders compute
        "./btfhub-archive/kylin/V10/aarch64/4.19.90-24.4.v2101.ky10.aarch64.btf",
        "./btfhub-archive/kylin/V10/aarch64/4.19.90-52.22.v2207.ky10.aarch64.btf",
        "./btfhub-archive/kylin/V10/arm64/4.19.90-24.4.v2101.ky10.aarch64.btf",
        "./btfhub-archive/kylin/V10/arm64/4.19.90-52.22.v2207.ky10.aarch64.btf",
    ]

    _truncate(cache)
    code, stdout, err = invoke("check", OBJ, "--json")
    assert code in (0, ExitCode.CHECK_FAILED) and "truncated xz data" not in err, err
    assert len(json.loads(stdout)["kernels"]) == 2
    assert git("hash-object", local).strip() == expected


def test_offline_damage_names_the_cause_and_sync_repair_fixes_it(
    origin: Origin, cache: Store, tmp_path: Path
) -> None:
    assert invoke("sync", "-r", origin.url)[0] == 0  # the catalog (trees, symlinks) only
    packs = cache.repo_path(origin.url) / "objects" / "pack"
    before = set(packs.iterdir())
    assert invoke("sync", "-d", "kylin", "-r", origin.url)[0] == 0
    for extra in set(packs.iterdir()) - before:  # the kylin blobs: the mirror loses its copies
        extra.unlink()
    local = _truncate(cache)
    away = origin.root / "elsewhere"
    shutil.move(origin.work, away)  # offline: the remote is gone

    for args in (
        ("pack", OBJ, "-o", str(tmp_path / "p.tar.gz"), "--jobs", "1"),
        ("pack", OBJ, "-o", str(tmp_path / "p.tar.gz"), "--strict", "--jobs", "1"),
        ("check", OBJ),
    ):
        code, _, err = invoke(*args)
        last = err.strip().splitlines()[-1]
        assert code == 1 and last.startswith(f"error: {local}: the local archive is damaged"), err
        assert "run `btfmirror sync --repair` once the remote is reachable" in last
        assert "bpftool" not in err and "truncated xz data" not in err
    assert not (tmp_path / "p.tar.gz").exists()

    shutil.move(away, origin.work)
    code, out, err = invoke("sync", "--repair", "-r", origin.url, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["repaired"] == [KYLIN] and summary["fetched"] == 1
    assert summary["already_present"] == 1  # the other kylin kernel, checked and intact
    assert git("hash-object", local).strip() == origin.blobs()[KYLIN][1]
    code, out, err = invoke("sync", "--repair", "-r", origin.url, "--json")
    assert code == 0 and json.loads(out)["repaired"] == [], err


def test_remembered_blob_ids_never_hide_a_rewritten_archive(
    origin: Origin, cache: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pack remembers what each archive hashed to (KnownIds), by its stat: a file rewritten
    since, even to the same size with its mtime put back, is hashed again and repaired."""
    from btfhub_mirror.mirror import verify

    monkeypatch.setattr(verify, "RACY_NS", 0)  # remember files made a moment ago, as in use
    code, _, err = invoke("sync", "-d", "kylin", "-r", origin.url)
    assert code == 0, err
    out = tmp_path / "p.tar.gz"
    assert invoke("pack", OBJ, "-o", str(out), "--jobs", "1")[0] == 0
    record = json.loads((cache.root / "index" / verify.KNOWN_IDS_FILE).read_bytes())
    expected = origin.blobs()[KYLIN][1]
    assert record[KYLIN][4] == expected and len(record) == 2

    local = cache.archive_dir / KYLIN
    before = local.stat()
    data = local.read_bytes()
    local.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])  # same size
    os.utime(local, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
    code, _, err = invoke("pack", OBJ, "-o", str(out), "--jobs", "1")
    assert code == 0, err
    assert f"{KYLIN}: the local archive does not match its blob {expected[:12]}" in err
    assert git("hash-object", local).strip() == expected

    # The file as it is now is remembered; a wrong record of it costs a hash, not a repair.
    path = cache.root / "index" / verify.KNOWN_IDS_FILE
    record = json.loads(path.read_bytes())
    now = local.stat()
    assert record[KYLIN] == [now.st_size, now.st_mtime_ns, now.st_ctime_ns, now.st_ino, expected]
    record[KYLIN][4] = "0" * 40
    path.write_text(json.dumps(record))
    code, _, err = invoke("pack", OBJ, "-o", str(out), "--jobs", "1")
    assert code == 0 and "does not match" not in err, err
    assert json.loads(path.read_bytes())[KYLIN][4] == expected
