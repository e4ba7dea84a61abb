"""Library errors name the caller's parameters in the library's terms (``errors.Param``); the
command line spells them as its options (``cli._errors.message``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfhub_mirror.errors import CacheLockedError, Param, UnknownSelectionError, UsageError
from btfhub_mirror.kernels import ArchiveDir, KernelFilter
from btfhub_mirror.mirror import Store
from btfhub_mirror.producer.add import canonical_arch
from cli._errors import ExitCode, message, spell
from tests.helpers import REPO, invoke_cli

OBJ = REPO / "tests" / "bpf" / "build" / "newfield.bpf.el.o"


def test_spelling_of_parameters() -> None:
    assert spell(Param("jobs")) == "--jobs"
    assert spell(Param("consumer", "dir")) == "--for dir"
    assert spell(Param("nearest", True)) == "--nearest"
    assert spell(Param("wait", True)) == "without --no-wait"
    assert spell(Param("no_such_option")) == "no_such_option"  # not ours: library words
    assert str(Param("consumer", "dir")) == "consumer='dir'" and str(Param("jobs")) == "jobs"


def test_an_unknown_distro_is_a_parameter_not_a_flag() -> None:
    dirs = [ArchiveDir("debian", "11", "x86_64")]
    with pytest.raises(UnknownSelectionError) as info:
        KernelFilter.create(distros=["debain"]).check_names(dirs)
    err = info.value
    assert str(err).startswith("distro 'debain' names nothing in the catalog: did you mean debian?")
    assert "--distro " not in str(err) and err.option == Param("distro")
    assert message(err).startswith("--distro 'debain' names nothing in the catalog")


def test_lock_and_arch_messages_in_library_terms(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    with store.lock(), pytest.raises(CacheLockedError) as info, store.lock(wait=False):
        pass
    assert "(run again later, or wait=True to wait for it)" in str(info.value)
    assert "(run again later, or without --no-wait to wait for it)" in message(info.value)
    with pytest.raises(UsageError) as bad:
        canonical_arch("vax")
    assert str(bad.value).startswith("arch 'vax': unknown arch (known: ")
    assert message(bad.value).startswith("--arch 'vax': unknown arch")


def test_the_cli_names_its_own_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTFHUB_CACHE", str(tmp_path / "cache"))
    out = str(tmp_path / "p.tar.gz")
    code, _, err = invoke_cli("pack", str(OBJ), "--jobs", "0", "-o", out)
    assert code == ExitCode.USAGE and err == "error: --jobs must be at least 1, not 0\n"
    code, _, err = invoke_cli("pack", str(OBJ), "--strict", "--first-match", "-o", out)
    assert code == ExitCode.USAGE
    assert err == "error: --strict and --first-match exclude each other\n"
    code, _, err = invoke_cli("pack", str(OBJ), "--for", "dir")
    assert code == ExitCode.USAGE and "error: --for dir needs -o DIR" in err
