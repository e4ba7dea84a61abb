"""One relocation-outcome vocabulary (``btf.core.RelocState``) behind ``relocs --btf`` and
``check``; libbpf's refusals as records (``CoreFailure``), not text to split."""

from __future__ import annotations

import json
import pickle

from btfhub_mirror.btf.core import CoreFailure, ReasonCode, RelocState, resolve_all
from btfhub_mirror.btf.load import load_btf
from btfhub_mirror.elf import BpfObject
from tests.helpers import REPO, SAMPLE, invoke_cli

BUILD = REPO / "tests" / "bpf" / "build"
DEBIAN11 = SAMPLE / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz"
CENTOS = SAMPLE / "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64.btf.tar.xz"


def test_relocs_and_check_say_the_same_outcome() -> None:
    obj = str(BUILD / "newfield.bpf.el.o")
    _, out, _ = invoke_cli("relocs", "--json", "--btf", str(DEBIAN11), obj)
    statuses = [r["status"] for r in json.loads(out)["relocations"]]
    _, out, _ = invoke_cli("check", obj, "--btf", str(DEBIAN11), "--json")
    states = [RelocState(r["state"]) for r in json.loads(out)["kernels"][0]["relocations"]]
    assert statuses == [s.status for s in states]
    # check refines relocs' "unresolved": an existence check, a guarded and an unguarded read.
    assert {RelocState.MISSING, RelocState.GUARDED, RelocState.POISONED} <= set(states)
    assert set(statuses) == {"unresolved"}


def test_a_refused_relocation_is_a_record() -> None:
    obj = BpfObject.open(BUILD / "ambiguous.bpf.el.o")
    [res] = [r for r in resolve_all(obj.btf, obj.core_relos, load_btf(CENTOS)) if r.failure]
    failure = res.failure
    assert failure is not None and res.state is RelocState.ERROR
    assert (failure.section, failure.index, failure.code) == (
        "tracepoint/syscalls/sys_enter_getpid",
        0,
        ReasonCode.DECISION_AMBIGUITY,
    )
    assert str(failure) == failure.reason == f"{failure.section}: relo #0: {failure.detail}"
    assert failure.detail.startswith("relocation decision ambiguity: success ")
    again = pickle.loads(pickle.dumps(failure))  # pack's workers: the record, not the text
    assert isinstance(again, CoreFailure) and (again.code, again.detail) == (
        failure.code,
        failure.detail,
    )
