"""``pack`` on kernels where libbpf refuses a relocation with the full BTF (kylin V10: two
task_struct, so ``bpf_core_type_id_kernel`` is ambiguous): by default the packed BTF keeps the
failure and the kernel is listed as "will fail to load, as with the full BTF"; --first-match
packs the first candidate instead; --strict refuses. Packed files are read with Python's
tarfile, the expected bytes come from the library's minimize on the sample archives."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btfhub_mirror.btf import load_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.errors import UsageError
from btfhub_mirror.minimize import LOAD_FAILURE, minimize
from btfhub_mirror.mirror import Store
from btfhub_mirror.pack import pack
from cli.app import app
from tests.helpers import SAMPLE

from .conftest import SELECTION, obj

KYLIN = sorted((SAMPLE / "kylin").rglob("*.btf.tar.xz"))


def packed_files(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name.endswith(".btf")
        }


def kylin_member(path: Path) -> str:
    return "btfhub-archive/" + str(path.relative_to(SAMPLE)).removesuffix(".tar.xz")


def test_default_keeps_the_failure_and_lists_the_kernel(synced: Store, tmp_path: Path) -> None:
    ambiguous = obj("ambiguous")
    result = pack(synced, [ambiguous], tmp_path / "p.tar.gz", SELECTION, jobs=1)
    failing = [w for w in result.warnings if LOAD_FAILURE in w]
    assert {w.partition(": ")[0] for w in failing} == {
        str(p.relative_to(SAMPLE)).removesuffix(".btf.tar.xz") for p in KYLIN
    }
    assert all("relocation decision ambiguity" in w for w in failing)
    files = packed_files(result.output)
    bpf = BpfObject.open(ambiguous)
    for kernel in KYLIN:
        expected = minimize(load_btf(kernel), [bpf])
        assert expected.failures
        assert files[kylin_member(kernel)] == expected.data
    with tarfile.open(result.output) as tar:
        manifest = json.loads(tar.extractfile("./btfmirror.json").read())  # type: ignore[union-attr]
    warned = [k for k in manifest["kernels"] if k.get("load_failures")]
    assert len(warned) == len(KYLIN)
    assert all(LOAD_FAILURE in k["load_failures"][0] for k in warned)
    assert not any(k.get("warnings") for k in manifest["kernels"])  # not a bpftool-only abort
    kinds = {w.kind for w in result.pack_warnings if LOAD_FAILURE in w.message}
    assert kinds == {"load-failure"}
    assert not any("bpftool would abort" in w for w in result.warnings)


def test_first_match_packs_the_first_candidate(synced: Store, tmp_path: Path) -> None:
    ambiguous = obj("ambiguous")
    chosen = pack(synced, [ambiguous], tmp_path / "f.tar.gz", SELECTION, jobs=2, first_match=True)
    assert not any(LOAD_FAILURE in w for w in chosen.warnings)
    assert sum("kept the first match" in w for w in chosen.warnings) == len(KYLIN)
    files = packed_files(chosen.output)
    bpf = BpfObject.open(ambiguous)
    for kernel in KYLIN:
        first = minimize(load_btf(kernel), [bpf], first_match=True)
        assert files[kylin_member(kernel)] == first.data
        assert first.data != minimize(load_btf(kernel), [bpf]).data
    with pytest.raises(UsageError, match="exclude each other"):
        pack(synced, [ambiguous], tmp_path / "x.tar.gz", SELECTION, strict=True, first_match=True)
    assert not (tmp_path / "x.tar.gz").exists()


def test_cli_first_match_option(
    synced: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTFHUB_CACHE", str(synced.root))
    runner = CliRunner()
    base = ["pack", str(obj("ambiguous")), "-d", "kylin", "--jobs", "1"]
    default = runner.invoke(app, [*base, "-o", str(tmp_path / "d.tar.gz")])
    assert default.exit_code == 0, default.stderr
    assert default.stderr.count(LOAD_FAILURE) == len(KYLIN)
    chosen = runner.invoke(app, [*base, "--first-match", "-o", str(tmp_path / "f.tar.gz")])
    assert chosen.exit_code == 0, chosen.stderr
    assert LOAD_FAILURE not in chosen.stderr and "kept the first match" in chosen.stderr
