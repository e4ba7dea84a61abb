"""Selecting kernels as a user does, through the CLI (issue 15, "Selecting kernels"): typos are
errors that suggest the closest name, distro and arch match in any case, ``list --distros``
shows what there is, pack and check work on a fresh cache, the remotes are remembered, and a
plain path works as ``--remote``.

The remotes are real git repositories (tests/mirror/gitfixtures.py); the expected names and
counts come from the origin's own tree (``git ls-tree``), never from btfmirror.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.mirror import Store
from cli._errors import ExitCode
from cli.app import app
from tests.helpers import REPO

from .gitfixtures import Origin, git

runner = CliRunner()
OBJ = str(REPO / "tests" / "bpf" / "build" / "loadable.bpf.el.o")
SUFFIX = ".btf.tar.xz"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def error_line(err: str) -> str:
    """The one error line (after any plain progress lines of a non-terminal)."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def origin_dirs(origin: Origin) -> Counter[tuple[str, str, str]]:
    """Archive entries per <distro>/<version>/<arch> at the origin's tip, from git itself."""
    return Counter(
        tuple(path.split("/")[:3])  # type: ignore[misc]
        for path, (mode, _) in origin.blobs().items()
        if path.count("/") == 3 and path.endswith(SUFFIX) and mode.startswith("100")
    )


@pytest.fixture
def synced(origin: Origin) -> Origin:
    """The default cache with the origin's catalog (no kernel local)."""
    code, _, err = invoke("sync", "-r", origin.url)
    assert code == 0, err
    return origin


@pytest.fixture
def no_env_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """No $BTFHUB_REPO (the isolation's dead one would win over remembered remotes); https
    stays blocked by GIT_ALLOW_PROTOCOL, so a fall-back to GitHub fails instead of leaving."""
    monkeypatch.delenv("BTFHUB_REPO")


# -- typos, case --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle", "listed"),
    [
        (
            ("-d", "debain"),
            "--distro 'debain' names nothing",
            "bclinux, centos, debian, kylin, ubuntu",
        ),
        (("-d", "debian", "-V", "bookwrom"), "did you mean bookworm?", "11, 12, bookworm"),
        (("-d", "ubuntu", "-V", "12"), "--version '12'", "for distro=ubuntu it has 20.04, focal"),
        (("-a", "x86-64"), "did you mean x86_64?", "arm64, s390x, x86_64"),
        (("-d", "kylin", "-a", "x86_64"), "--arch 'x86_64'", "for distro=kylin it has arm64"),
    ],
)
def test_a_name_the_catalog_lacks_is_a_usage_error(
    synced: Origin, args: tuple[str, ...], needle: str, listed: str, tmp_path: Path
) -> None:
    package = str(tmp_path / "p.tar.gz")
    for command in (("list",), ("list", "--distros"), ("pack", OBJ, "-o", package), ("check", OBJ)):
        code, out, err = invoke(*command, *args)
        line = error_line(err)
        assert code == 2 and needle in line and listed in line, (command, err)
        assert "list --distros" in line and out == ""


def test_sync_checks_the_selection_against_the_updated_catalog(origin: Origin) -> None:
    """On a fresh cache too: the catalog is made first (from the remote's tree), then the
    selection is checked against it; the catalog stays, nothing is fetched."""
    code, _, err = invoke("sync", "-r", origin.url, "-d", "debain", "--json")
    assert code == 2 and "did you mean debian?" in error_line(err)
    code, out, _ = invoke("list", "--local", "--json")
    assert code == 0 and json.loads(out)["count"] == 0
    assert sum(origin_dirs(origin).values()) == json.loads(invoke("list", "--json")[1])["count"]
    # A name that appears upstream only later is found once the catalog learns of it.
    origin.write("Fedora/39/x86_64/6.5.6-300.fc39.x86_64.btf.tar.xz", b"new distro")
    origin.commit("add Fedora")
    code, out, err = invoke("sync", "-r", origin.url, "-d", "fedora", "--json")
    assert code == 0 and json.loads(out)["fetched"] == 1, err


def test_distro_and_arch_match_in_any_case(synced: Origin) -> None:
    def paths(*args: str) -> list[str]:
        code, out, err = invoke("list", *args, "--json")
        assert code == 0, err
        return [e["path"] for e in json.loads(out)["entries"]]

    expected = sorted(
        f"{d}/{v}/{a}" for (d, v, a) in origin_dirs(synced) if d == "debian" and a == "arm64"
    )
    assert expected == ["debian/12/arm64"]
    for args in (
        ("-d", "Debian", "-a", "AARCH64"),
        ("-d", "DEBIAN", "-a", "Arm64"),
        ("-d", "debian", "-a", "aarch64"),
    ):
        got = paths(*args)
        assert sorted({p.rsplit("/", 1)[0] for p in got}) == expected and got, args
    assert paths("-d", "Debian") == paths("-d", "debian") != []
    # Versions are directory names: exact, but a case slip is still suggested.
    code, _, err = invoke("list", "-d", "kylin", "-V", "v10")
    assert code == 2 and "did you mean V10?" in error_line(err)


def test_list_distros_counts_what_there_is(synced: Origin) -> None:
    code, _, err = invoke("sync", "-d", "kylin", "-r", synced.url)
    assert code == 0, err
    expected = origin_dirs(synced)
    code, out, err = invoke("list", "--distros", "--json")
    assert code == 0, err
    listed = json.loads(out)
    got = {(d["distro"], d["version"], d["arch"]): d for d in listed["dirs"]}
    assert {k: d["entries"] for k, d in got.items()} == dict(expected)
    assert {k for k, d in got.items() if d["local"]} == {("kylin", "V10", "arm64")}
    assert got[("kylin", "V10", "arm64")]["local"] == expected[("kylin", "V10", "arm64")]
    assert got[("ubuntu", "20.04", "x86_64")]["version_aliases"] == ["focal"]
    assert listed["totals"]["entries"] == sum(expected.values())

    # Plain tab-separated rows for a pipe; filters narrow it, codenames select as well.
    code, out, _ = invoke("list", "--distros", "-d", "Ubuntu", "-V", "focal")
    rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and sorted((r[0], r[1], r[2], int(r[3])) for r in rows) == sorted(
        (d, v, a, n) for (d, v, a), n in expected.items() if d == "ubuntu"
    )
    assert all(r[6] == "focal" for r in rows)
    # Versions in numeric order, not as strings (11 before 12 before bookworm-less names).
    debian = [r.split("\t")[1] for r in invoke("list", "--distros", "-d", "debian")[1].splitlines()]
    assert debian == sorted(debian, key=lambda v: int(v)) and debian[0] == "11"


# -- empty selections ---------------------------------------------------------------------


def test_check_with_btf_and_a_selection_matching_nothing(synced: Origin, tmp_path: Path) -> None:
    btf = REPO / "tests" / "data" / "btfhub-sample" / "debian" / "11" / "x86_64"
    code, out, err = invoke(
        "check", OBJ, "--btf", str(btf / "5.10.0-30-amd64.btf.tar.xz"), "-k", "9.*", "--json"
    )
    line = error_line(err)
    assert code == 3 and out == ""
    assert "kernels=9.*" in line and "select kernels" not in line and "give --btf" not in line
    assert "the --btf files neither" in line  # nothing passed silently
    # Without a selection the --btf file alone is checked (the catalog is not used).
    code, out, err = invoke(
        "check", OBJ, "--btf", str(btf / "5.10.0-30-amd64.btf.tar.xz"), "--json"
    )
    assert code in (0, ExitCode.CHECK_FAILED) and len(json.loads(out)["kernels"]) == 1, err


def test_selection_of_kernels_removed_upstream_says_so(synced: Origin) -> None:
    synced.remove("debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz")
    synced.commit("drop debian 11")
    code, _, err = invoke("sync", "-r", synced.url)
    assert code == 0, err
    for command in (("pack", OBJ), ("check", OBJ)):
        code, _, err = invoke(*command, "-d", "debian", "-V", "11")
        line = error_line(err)
        assert code == 3 and "distro=debian version=11" in line and "removed upstream" in line


# -- a fresh cache ------------------------------------------------------------------------


def test_pack_and_check_on_a_fresh_cache_sync_their_selection(
    origin: Origin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BTFHUB_REPO", origin.url)
    out = tmp_path / "p.tar.gz"
    result = runner.invoke(app, ["pack", OBJ, "-d", "kylin", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    assert "no catalog" in result.stderr and "distro=kylin" in result.stderr  # says it syncs
    with tarfile.open(out) as tar:  # Python's reader, not btfmirror's
        # btfhub's own names (each arm64 kernel also has its aarch64 alias)
        packed = sorted(
            Path(n).name for n in tar.getnames() if n.endswith(".btf") and "/aarch64/" not in n
        )
    kylin = sorted(p for p in origin.blobs() if p.startswith("kylin/") and p.endswith(SUFFIX))
    assert packed == [Path(p).name.removesuffix(".tar.xz") for p in kylin] and kylin
    status = json.loads(invoke("status", "--json")[1])
    assert [r["url"] for r in status["remotes"]] == [origin.url]

    fresh = tmp_path / "fresh-for-check"
    monkeypatch.setenv("BTFHUB_CACHE", str(fresh))
    code, out_json, err = invoke("check", OBJ, "-d", "debian", "-V", "12", "-a", "x86_64", "--json")
    assert code in (0, ExitCode.CHECK_FAILED), err
    checked = sorted(k["kernel"]["release"] for k in json.loads(out_json)["kernels"])
    assert checked == sorted(
        Path(p).name.removesuffix(SUFFIX)
        for p in origin.blobs()
        if p.startswith("debian/12/x86_64/") and p.endswith(SUFFIX)
    )


def test_no_selection_on_a_fresh_cache_is_one_clear_error(tmp_path: Path) -> None:
    for command in (("pack", OBJ, "-o", str(tmp_path / "p.tar.gz")), ("check", OBJ)):
        code, _, err = invoke(*command)
        line = error_line(err)
        assert code == 3 and "no catalog" in line and "btfmirror sync" in line, err
        assert "--distro" in line  # how to give a selection
    assert not Store.default().root.exists() and not (tmp_path / "p.tar.gz").exists()


# -- remembered remotes -------------------------------------------------------------------


def second_origin(origin: Origin, tmp_path: Path) -> Path:
    """A bare copy of the origin without debian/11: a different remote."""
    work = tmp_path / "second-work"
    git("clone", "-q", str(origin.work), str(work))
    git("rm", "-q", "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", "x", cwd=work)
    bare = tmp_path / "second.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    git("config", "uploadpack.allowFilter", "true", cwd=bare)
    return bare


@pytest.mark.usefixtures("no_env_remote")
def test_sync_remembers_its_remotes(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = invoke("sync", "-r", origin.url, "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["remote_source"] == "--remote" and not first["remotes_changed"]

    code, out, err = invoke("sync", "-d", "kylin", "--json")  # no --remote, no $BTFHUB_REPO
    assert code == 0, err
    again = json.loads(out)
    assert [r["url"] for r in again["remotes"]] == [origin.url]
    assert again["remote_source"] == "remembered" and again["catalog"]["removed"] == 0
    assert again["fetched"] == 2

    # Changing them is explicit, and said.
    other = second_origin(origin, tmp_path)
    code, out, err = invoke("sync", "-r", str(other))
    assert code == 0, err
    assert "remotes changed" in out and origin.url in out
    code, out, _ = invoke("sync", "--json")
    summary = json.loads(out)
    assert [r["url"] for r in summary["remotes"]] == [other.as_uri()]
    assert summary["remote_source"] == "remembered" and not summary["remotes_changed"]

    # $BTFHUB_REPO beats the remembered remotes (and --remote beats it).
    monkeypatch.setenv("BTFHUB_REPO", origin.url)
    code, out, _ = invoke("sync", "--json")
    env_run = json.loads(out)
    assert code == 0 and env_run["remote_source"] == "$BTFHUB_REPO"
    assert env_run["remotes_changed"] and env_run["previous_remotes"] == [other.as_uri()]
    code, out, _ = invoke("sync", "-r", str(other), "--json")
    assert code == 0 and json.loads(out)["remote_source"] == "--remote"


@pytest.mark.usefixtures("no_env_remote")
def test_remembered_remotes_survive_a_corrupt_catalog(origin: Origin) -> None:
    """A catalog damaged past its remotes table is rebuilt from the remotes it recorded."""
    assert invoke("sync", "-r", origin.url, "-d", "kylin")[0] == 0
    catalog = Store.default().catalog_path
    data = bytearray(catalog.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[-page:] = b"\xa5" * page  # the last page (an index or table, not the remotes)
    catalog.write_bytes(bytes(data))
    code, out, err = invoke("sync", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["catalog_rebuilt"] and summary["remote_source"] == "remembered"
    assert [r["url"] for r in summary["remotes"]] == [origin.url]


# -- plain paths as --remote --------------------------------------------------------------


def test_a_plain_path_is_a_remote(origin: Origin, tmp_path: Path) -> None:
    bare = second_origin(origin, tmp_path)
    for remote in (str(origin.work), str(bare)):
        code, out, err = invoke("sync", "-r", remote, "-d", "kylin", "--json")
        assert code == 0, err
        summary = json.loads(out)
        assert summary["fetched"] == 2 or summary["already_present"] == 2
        assert [r["url"] for r in summary["remotes"]] == [Path(remote).as_uri()]


def test_a_relative_path_is_a_remote_from_the_directory_it_is_given_in(
    origin: Origin, tmp_path: Path
) -> None:
    """As a user runs it: a subprocess in the directory holding the remote."""
    bare = second_origin(origin, tmp_path)
    space = tmp_path / "with space"
    space.mkdir()
    bare.rename(space / "archive.git")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-c", "from cli.app import app; app(prog_name='btfmirror')"]
    done = subprocess.run(
        [*cli, "sync", "-r", "archive.git", "-d", "kylin", "--json"],
        cwd=space,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["fetched"] == 2
    assert summary["remotes"][0]["url"] == (space / "archive.git").as_uri()
    # Recorded absolute: a later run elsewhere still finds it.
    env.pop("BTFHUB_REPO", None)
    later = subprocess.run(
        [*cli, "sync", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["remote_source"] == "remembered"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("/srv/btfhub-archive", True),
        ("repo.git", True),
        ("./a:b", True),  # a slash before the colon: a path, as git reads it
        ("user@host:btfhub-archive.git", False),  # scp-like ssh
        ("host:path/x", False),
        ("file:///srv/x", False),
        ("https://github.com/aquasecurity/btfhub-archive.git", False),
    ],
)
def test_which_remotes_are_paths(url: str, local: bool, tmp_path: Path) -> None:
    from btfhub_mirror.mirror.gitrepo import canonical_url, is_local_path

    assert is_local_path(url) is local
    assert (canonical_url(url) != url) is local
    if local:
        assert canonical_url(url).startswith("file:///")
    weird = tmp_path / "100% a#b"
    assert canonical_url(str(weird)) == weird.as_uri() and "%25" in weird.as_uri()
