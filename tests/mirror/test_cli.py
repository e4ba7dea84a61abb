from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store
from cli.app import app

from .gitfixtures import Origin

runner = CliRunner()


def default_store() -> Store:
    return Store.default()  # BTFHUB_CACHE points into tmp_path (conftest)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_sync_list_status_json(origin: Origin) -> None:
    code, out, _ = invoke(
        "sync", "-d", "debian", "-V", "bookworm", "-a", "amd64", "-r", origin.url, "--json"
    )
    assert code == 0
    summary = json.loads(out)
    store = default_store()
    local = sorted(
        str(p.relative_to(store.archive_dir))
        for p in store.archive_dir.rglob("*.btf.tar.xz")
        if not p.is_symlink()
    )
    assert summary["kernels_selected"] == summary["fetched"] == len(local) > 0
    assert summary["already_present"] == 0 and summary["bytes_received"] > 0
    assert summary["remotes"][0]["url"] == origin.url

    code, out, _ = invoke("list", "--local", "--json")
    assert code == 0
    listed = json.loads(out)
    assert sorted(e["path"] for e in listed["entries"]) == local
    assert all(Path(e["local_path"]).is_file() for e in listed["entries"])

    code, out, _ = invoke("list", "-k", ">=5.10,<6.2")
    rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and rows
    versions = [tuple(int(x) for x in r[3].split("-")[0].split(".")[:2]) for r in rows]
    assert all((5, 10) <= v < (6, 2) for v in versions)
    assert (5, 10) in versions and (6, 1) in versions and len(set(versions)) > 2

    code, out, _ = invoke("status", "--json")
    status = json.loads(out)
    assert code == 0
    assert status["totals"]["local"] == len(local)
    assert status["totals"]["entries"] == summary["catalog"]["entries"]
    assert status["disk"]["archive"] >= sum((store.archive_dir / p).stat().st_size for p in local)
    assert status["remotes"][0]["tip"] == summary["remotes"][0]["tip"]


def test_sync_without_selection_updates_the_catalog_only(origin: Origin) -> None:
    code, out, _ = invoke("sync", "-r", origin.url, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["kernels_selected"] == 0 and summary["catalog"]["entries"] > 0
    code, out, _ = invoke("list", "--json")
    assert len(json.loads(out)["entries"]) == summary["catalog"]["entries"]


def test_remote_from_environment(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTFHUB_REPO", f"{origin.url},file:///nonexistent/second")
    code, out, err = invoke("sync", "-d", "kylin", "--json")
    assert code == 1 and "nonexistent/second" in err  # both remotes were used, in order
    monkeypatch.setenv("BTFHUB_REPO", origin.url)
    code, out, _ = invoke("sync", "-d", "kylin", "--json")
    assert code == 0 and json.loads(out)["fetched"] == 2


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("sync", "-r", "file:///nonexistent/archive.git", "-d", "x"), 1, "cannot clone"),
        (("sync", "-r", "git://127.0.0.1:9/dead.git", "-d", "x"), 1, "unable to connect"),
        (("list",), 3, "btfmirror sync"),
        (("status",), 3, "btfmirror sync"),
        (("list", "-k", ">=5.x"), 2, "kernel pattern"),
    ],
)
def test_errors_are_one_line(args: tuple[str, ...], code: int, needle: str) -> None:
    exit_code, out, err = invoke(*args)
    assert exit_code == code
    assert needle in err and len(err.strip().splitlines()) == 1
    assert out == ""


def test_no_wait_while_locked(origin: Origin) -> None:
    with default_store().lock():
        code, _, err = invoke("sync", "-r", origin.url, "-d", "debian", "--no-wait")
    assert code == 1 and "another btfmirror" in err.splitlines()[-1]


def test_corrupt_catalog_is_one_clear_line(origin: Origin) -> None:
    assert invoke("sync", "-r", origin.url)[0] == 0
    default_store().catalog_path.write_bytes(b"this is not a database" * 100)
    code, out, err = invoke("list")
    assert code == 1 and out == ""
    assert "catalog" in err and "not a database" in err and len(err.strip().splitlines()) == 1


def test_rich_progress_plain_lines_when_not_a_terminal() -> None:
    import io

    from rich.console import Console

    from cli._progress import RichProgress

    buffer = io.StringIO()
    with RichProgress(Console(file=buffer, force_terminal=False, width=80)) as progress:
        progress.phase("receiving objects", 3)
        progress.advance(2, "1.00 MiB | 2.00 MiB/s")
        progress.note("waiting for the lock")
        progress.phase("checking out")
    assert buffer.getvalue().splitlines() == [
        "receiving objects (3)",
        "waiting for the lock",
        "checking out",
    ]
    live = io.StringIO()
    with RichProgress(Console(file=live, force_terminal=True, width=100)) as progress:
        progress.phase("receiving objects", 3)
        progress.advance(3, "1.00 MiB | 2.00 MiB/s")
    assert "receiving objects" in live.getvalue() and "3/3" in live.getvalue()


def test_sync_all(origin: Origin) -> None:
    code, out, _ = invoke("sync", "--all", "-r", origin.url, "--json")
    summary = json.loads(out)
    assert code == 0
    assert summary["fetched"] == summary["kernels_selected"] == summary["catalog"]["entries"]


def test_list_on_a_terminal_prints_aligned_columns(
    origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    import cli.mirror

    assert invoke("sync", "-r", origin.url, "-d", "kylin")[0] == 0
    monkeypatch.setattr(
        cli.mirror, "console", Console(force_terminal=True, color_system=None, width=200)
    )
    code, out, _ = invoke("list", "-d", "kylin", "-d", "centos")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "distro",
        "version",
        "arch",
        "kernel",
        "local",
        "size",
        "note",
    ]
    body = lines[1:-1]
    assert [line.split()[0] for line in body] == ["centos", "kylin", "kylin"]
    assert [line.split()[4] for line in body if line.startswith("kylin")] == ["yes", "yes"]
    kernel_column = lines[0].index("kernel")
    assert all(line[kernel_column - 2 : kernel_column] == "  " for line in body)
    assert lines[-1].startswith("3 entries")


def test_status_counts_the_saved_indexes(origin: Origin) -> None:
    from btfhub_mirror.btf.index import open_indexed
    from btfhub_mirror.mirror import cache_status, list_kernels

    sync_args = ("sync", "-d", "debian", "-V", "bookworm", "-a", "amd64", "-r", origin.url)
    assert invoke(*sync_args, "--no-index")[0] == 0
    store = default_store()
    assert cache_status(store).index_files == 0
    entry = list_kernels(store, KernelFilter.create((), (), (), ()), local_only=True).entries[0]
    assert entry.local_path is not None
    open_indexed(entry.local_path, index_dir=store.index_dir_for(entry))  # as pack and check do
    (saved,) = store.index_root.rglob("*.btfmidx")
    assert saved.parent == store.index_root / entry.distro / entry.version / entry.arch
    code, out, _ = invoke("status", "--json")
    disk = json.loads(out)["disk"]
    assert code == 0 and disk["index_files"] == 1 and disk["index"] == saved.stat().st_size
    code, out, _ = invoke("status")
    assert code == 0 and "(1 file)" in out
