"""``btfmirror select``: stdout for scripts, one-line errors, exit 0 / 5."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.helpers import REPO, VMLINUX, require
from tests.runtime.packages import Entry, pack_layout, sample_btf, write_package

runner = CliRunner()
DEBIAN = "debian/12/x86_64"
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


@pytest.fixture(scope="module")
def raw() -> bytes:
    return sample_btf(f"{DEBIAN}/6.1.0-50-amd64")


@pytest.fixture()
def pkg(raw: bytes, tmp_path: Path) -> Path:
    btfs = {f"{DEBIAN}/6.1.0-50-amd64": raw, f"{DEBIAN}/6.1.0-47-amd64": raw}
    return write_package(tmp_path, pack_layout(btfs, package_json=b'{"x": 1}'), "tar.zst")


@pytest.fixture()
def osr(tmp_path: Path) -> Path:
    path = tmp_path / "os-release"
    path.write_text(OS_RELEASE)
    return path


def select(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["select", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_prints_the_member_then_extracts_it(
    pkg: Path, osr: Path, raw: bytes, tmp_path: Path
) -> None:
    ident = ("--os-release", osr, "--machine", "x86_64", "--release", "6.1.0-50-amd64")
    code, out, err = select(pkg, *ident)
    assert (code, out, err) == (0, f"./btfhub-archive/{DEBIAN}/6.1.0-50-amd64.btf\n", "")
    dest = tmp_path / "out"
    code, out, err = select(pkg, *ident, "--extract-to", dest)
    assert code == 0, err
    assert out == f"{dest / '6.1.0-50-amd64.btf'}\n"
    assert Path(out.strip()).read_bytes() == raw
    assert (dest / "package.json").read_bytes() == b'{"x": 1}'


def test_json(pkg: Path, osr: Path, tmp_path: Path) -> None:
    code, out, _ = select(
        pkg,
        "--os-release",
        osr,
        "--machine",
        "x86_64",
        "--release",
        "6.1.0-49-amd64",
        "--nearest",
        "--json",
        "-x",
        tmp_path / "o",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["custom_btf_needed"] is True and doc["exact"] is False
    assert doc["release"] == "6.1.0-50-amd64"
    assert doc["identity"] == {
        "id": "debian",
        "version_id": "12",
        "machine": "x86_64",
        "arch": "x86_64",
        "release": "6.1.0-49-amd64",
        "explicit": True,
    }
    assert Path(doc["btf"]).is_file() and Path(doc["package_json"]).is_file()


def test_no_fit_exits_5_with_one_line(pkg: Path, osr: Path) -> None:
    code, out, err = select(
        pkg, "--os-release", osr, "--machine", "aarch64", "--release", "6.1.0-50-arm64"
    )
    assert code == 5 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: no BTF for debian 12 aarch64")
    assert (
        f"{pkg}:./btfhub-archive/debian/12/arm64/6.1.0-50-arm64.btf does not exist"
        in err.replace("\n", "")
    )


def test_nearest_warns_on_stderr(pkg: Path, osr: Path) -> None:
    code, out, err = select(
        pkg, "--os-release", osr, "--release", "6.1.0-46-amd64", "--machine", "x86_64", "--nearest"
    )
    assert code == 0
    assert out == f"./btfhub-archive/{DEBIAN}/6.1.0-47-amd64.btf\n"
    assert "warning: no BTF for kernel 6.1.0-46-amd64; using the nearest, 6.1.0-47-amd64" in err
    code, _, err = select(
        pkg,
        "--os-release",
        osr,
        "--release",
        "6.1.0-46-rt-amd64",
        "--machine",
        "x86_64",
        "--nearest",
    )
    assert code == 5 and "flavour 'rt-amd64'" in err


def test_kernel_with_btf_prints_nothing(pkg: Path) -> None:
    require(VMLINUX.is_file(), "this kernel has no /sys/kernel/btf/vmlinux")
    code, out, err = select(pkg)
    assert (code, out) == (0, "")
    assert "no custom BTF needed" in err
    code, out, _ = select(pkg, "--json")
    assert code == 0 and json.loads(out)["custom_btf_needed"] is False


def test_errors(pkg: Path, tmp_path: Path, raw: bytes) -> None:
    code, _, err = select(pkg, "--os-release", tmp_path / "missing", "--release", "x")
    assert code == 3 and "does not exist" in err
    bad = write_package(tmp_path, [Entry("../evil", b"x")])
    code, _, err = select(bad, "--release", "6.1.0-50-amd64")
    assert code == 1 and err.startswith("error: ") and "'..'" in err
    code, _, err = select(tmp_path / "nope.tar", "--release", "6.1.0-50-amd64")
    assert code == 3


def test_as_a_process_for_shell_scripts(pkg: Path, osr: Path, tmp_path: Path) -> None:
    script = "from cli.app import main; main()"
    base = [
        sys.executable,
        "-c",
        script,
        "select",
        str(pkg),
        "--os-release",
        str(osr),
        "--machine",
        "x86_64",
    ]
    found = subprocess.run(
        [*base, "--release", "6.1.0-47-amd64", "-x", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == tmp_path / "6.1.0-47-amd64.btf"
    missing = subprocess.run(
        [*base, "--release", "6.1.0-1-amd64"], cwd=REPO, capture_output=True, text=True
    )
    assert missing.returncode == 5 and missing.stdout == ""


IDENT_50 = ("--machine", "x86_64", "--release", "6.1.0-50-amd64")


def test_extract_to_a_file_is_one_line_and_writes_nothing(
    pkg: Path, osr: Path, tmp_path: Path
) -> None:
    target = tmp_path / "a-file"
    target.write_bytes(b"keep")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = select(pkg, "--os-release", osr, *IDENT_50, "--extract-to", target)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "not a directory" in err
    assert target.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_extract_to_below_a_file_is_one_line(pkg: Path, osr: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    code, _, err = select(pkg, "--os-release", osr, *IDENT_50, "-x", tmp_path / "a-file" / "d")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "not a directory" in err


def test_a_package_json_that_is_a_directory_installs_neither(
    pkg: Path, osr: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    (dest / "package.json").mkdir(parents=True)
    code, out, err = select(pkg, "--os-release", osr, *IDENT_50, "--extract-to", dest)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "is a directory" in err
    # The BTF must not be installed alone: a half-written result is worse than none.
    assert sorted(p.name for p in dest.iterdir()) == ["package.json"]
    assert (dest / "package.json").is_dir()
