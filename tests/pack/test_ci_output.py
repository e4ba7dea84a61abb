"""Output that reads in a CI log and on an 80-column terminal, driven as a user drives it.

CI log: stdout and stderr are pipes and ``COLUMNS=80``. Terminal: a tmux pane of 80 columns,
read back row by row as drawn. No identifier (kernel, helper, program, object) may be wrapped
or cut in either.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from btfhub_mirror.kernels import KernelFilter
from btfhub_mirror.mirror import Store, list_kernels
from btfhub_mirror.mirror.sync import sync
from cli._errors import ExitCode
from tests.mirror.gitfixtures import Origin
from tests.terminal import Pane, run_piped, tokens

from .conftest import SELECTION, obj

BOX = set("│┃━─┏┓┗┛┡┩└┘╇┳┻╋")
SPINNER = re.compile(r"^\s*[\u2800-\u28ff]")


def labels(store: Store) -> list[str]:
    return [
        f"{e.distro}/{e.version}/{e.arch}/{e.release}"
        for e in list_kernels(store, SELECTION).entries
    ]


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    terminal = Pane(tmp_path)
    try:
        yield terminal
    finally:
        terminal.close()


# -- check ---------------------------------------------------------------------------------------


def test_check_in_a_ci_log_keeps_every_name_whole(synced: Store) -> None:
    got = run_piped(synced.root, "check", str(obj("newfield")), str(obj("kfuncs")))
    assert got.returncode == ExitCode.CHECK_FAILED, got.stderr
    lines = got.stdout.splitlines()
    assert not BOX & set(got.stdout), got.stdout
    for label in labels(synced):  # one line per kernel, its name whole at the start
        assert sum(line.startswith(f"{label}: ") for line in lines) == 1, (label, got.stdout)
    assert "kfuncs.bpf.el.o: kfunc bpf_rcu_read_lock: not in the kernel BTF" in got.stdout
    assert "helper bpf_probe_read_kernel: 113 not in the kernel's enum bpf_func_id" in got.stdout
    assert all(re.fullmatch(r"  … \d+ more", line) for line in lines if "…" in line)
    assert lines[-1].startswith(f"{len(labels(synced))} kernels: ")


def test_check_detail_in_a_ci_log_keeps_programs_whole(synced: Store) -> None:
    kernel = "debian/11/x86_64/5.10.0-30-amd64"
    got = run_piped(synced.root, "check", str(obj("newfield")), "-D", kernel)
    assert got.returncode == ExitCode.CHECK_FAILED, got.stderr
    assert not BOX & set(got.stdout), got.stdout
    lines = got.stdout.splitlines()
    assert all(re.fullmatch(r"  … \d+ more", line) for line in lines if "…" in line)
    relocs = [line for line in lines if "kprobe/schedule  #" in line]
    assert [line.split("  ")[2] for line in relocs] == ["#0", "#1", "#2"]
    assert all("newfield.bpf.el.o  kprobe/schedule" in line for line in relocs)
    assert all("struct task_struct.__state: " in line for line in relocs)
    assert "newfield.bpf.el.o  program  kprobe/schedule  BPF_PROG_TYPE_KPROBE: yes" in lines
    assert (
        "newfield.bpf.el.o  helper  bpf_probe_read_kernel  BPF_FUNC_probe_read_kernel (113): yes"
        in lines
    )


def test_check_on_an_80_column_terminal_splits_no_name(synced: Store, pane: Pane) -> None:
    pane.start(synced.root, "check", str(obj("newfield")), str(obj("kfuncs")))
    code, rows = pane.finish()
    assert code == ExitCode.CHECK_FAILED, rows
    assert all(len(row) <= 80 for row in rows)
    seen = tokens(rows)
    assert set(labels(synced)) <= seen, "\n".join(rows)
    assert {
        "bpf_probe_read_kernel",
        "bpf_rcu_read_lock",
        "task_struct.__state",
        "kprobe/schedule",
        "newfield.bpf.el.o",
        "kfuncs.bpf.el.o",
    } <= seen, "\n".join(rows)


# -- pack ----------------------------------------------------------------------------------------


def test_pack_on_an_80_column_terminal_splits_no_name(
    synced: Store, pane: Pane, tmp_path: Path
) -> None:
    out = tmp_path / "p.tar.gz"
    summary = run_piped(
        synced.root,
        "pack",
        str(obj("loadable")),
        "-d",
        "debian",
        "-d",
        "kylin",
        "-o",
        str(out),
        "--hardlinks",
        "--json",
    )
    entries = json.loads(summary.stdout)["entries"]
    pane.start(
        synced.root,
        "pack",
        str(obj("loadable")),
        "-d",
        "debian",
        "-d",
        "kylin",
        "-o",
        str(out),
        "--hardlinks",
    )
    code, rows = pane.finish()
    assert code == 0, rows
    seen = tokens(rows)
    assert set(labels(synced)) <= seen, "\n".join(rows)
    assert {e["sha256"][:12] for e in entries} <= seen, "\n".join(rows)
    assert any(e["hardlink_to"] for e in entries) and {"hard", "link"} <= seen


def test_pack_in_a_ci_log_is_one_kernel_per_line(synced: Store, tmp_path: Path) -> None:
    got = run_piped(
        synced.root,
        "pack",
        str(obj("loadable")),
        "-d",
        "debian",
        "-d",
        "kylin",
        "-o",
        str(tmp_path / "p.tar.gz"),
    )
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    for label in labels(synced):
        (line,) = [x for x in lines if x.startswith(f"{label}  ")]
        assert re.fullmatch(
            rf"{re.escape(label)}  \d+ bytes  sha256 [0-9a-f]{{12}}  "
            r"\d+/\d+ relocations(  \+\d+ alias(es)? \([a-z, -]+\))?",
            line,
        ), line
    assert not any(line != line.rstrip() for line in lines)


def test_many_objects_make_short_warnings_and_structured_json(
    synced: Store, tmp_path: Path
) -> None:
    # newfield reads task_struct.__state, which Debian 11 (5.10) lacks: every copy's relocations
    # find nothing there.
    names = [tmp_path / f"prog{i:02}.bpf.o" for i in range(24)]
    for name in names:
        shutil.copy(obj("newfield"), name)
    args = ["pack", *map(str, names), "-d", "debian", "-V", "11", "-o", str(tmp_path / "p.tar")]
    got = run_piped(synced.root, *args)
    assert got.returncode == 0, got.stderr
    warnings = [line for line in got.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: debian/11/x86_64/5.10.0-30-amd64: 72 of 72 CO-RE relocations of 24 objects "
        "(prog00.bpf.o, prog01.bpf.o, prog02.bpf.o and 21 more) find nothing in this kernel "
        "(fine if guarded by bpf_core_*_exists, else the program fails to load)"
    ]
    doc = json.loads(run_piped(synced.root, *args, "--json").stdout)
    (detail,) = doc["warning_details"]
    assert detail["kernel"] == "debian/11/x86_64/5.10.0-30-amd64"
    assert detail["kind"] == "unmatched"
    assert detail["objects"] == [n.name for n in names]
    assert (detail["relocations"], detail["unmatched"]) == (72, 72)
    assert doc["warnings"] == [f"{detail['kernel']}: {detail['message']}"]  # the old strings


def test_an_interrupted_pack_leaves_its_bar_where_it_stopped(
    store_copy: Store, pane: Pane, tmp_path: Path
) -> None:
    shutil.rmtree(store_copy.root / "index", ignore_errors=True)  # every kernel slow to open
    total = len(labels(store_copy))
    pane.start(
        store_copy.root,
        "pack",
        str(obj("core_fields")),
        "--jobs",
        "1",
        "-o",
        str(tmp_path / "p.tar.gz"),
    )
    rows = pane.wait(rf"minimizing {total} kernels .* [1-9]/{total}\b")
    before = max(
        int(m.group(1))
        for row in rows
        if (m := re.search(rf" (\d+)/{total}\b", row)) and "minimizing" in row
    )
    pane.keys("C-c")
    code, rows = pane.finish()
    if code == 0:  # it finished between the two reads: nothing was interrupted
        pytest.skip("pack finished before Ctrl-C arrived")
    assert code == 130 and "interrupted" in rows[-1], rows
    bar = [row for row in rows if "minimizing" in row][-1]
    done = int(re.search(rf" (\d+)/{total}\b", bar).group(1))  # type: ignore[union-attr]
    assert before <= done < total, bar
    assert not (tmp_path / "p.tar.gz").exists()


# -- sync and list ----------------------------------------------------------------------------


@pytest.fixture
def versions_origin(_origin_template: Origin, tmp_path: Path) -> Origin:
    """The sample plus Debian 11 5.9.0-1 (a copy of 5.10.0-30): 5.9 before 5.10 as versions,
    after it as strings."""
    copy = Origin(tmp_path / "served")
    shutil.copytree(_origin_template.work, copy.work, symlinks=True)
    data = (copy.work / "debian/11/x86_64/5.10.0-30-amd64.btf.tar.xz").read_bytes()
    copy.write("debian/11/x86_64/5.9.0-1-amd64.btf.tar.xz", data)
    copy.commit("5.9")
    return copy


def test_kernels_sort_as_versions(versions_origin: Origin, tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    sync(store, KernelFilter.create(["debian"], ["11"]), [versions_origin.url])
    order = ["debian/11/x86_64/5.9.0-1-amd64", "debian/11/x86_64/5.10.0-30-amd64"]
    got = run_piped(store.root, "pack", str(obj("loadable")), "-o", str(tmp_path / "p.tar"))
    assert got.returncode == 0, got.stderr
    assert [line.split()[0] for line in got.stdout.splitlines()[:2]] == order
    got = run_piped(store.root, "check", str(obj("loadable")))
    assert [line.split(":")[0] for line in got.stdout.splitlines()[:2]] == order, got.stdout


def test_sync_summary_has_no_trailing_spaces(versions_origin: Origin, tmp_path: Path) -> None:
    got = run_piped(tmp_path / "cache", "sync", "-d", "kylin", "-r", versions_origin.url)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert lines[0].split() == ["kernels", "selected", "2"]
    assert [line for line in lines if line != line.rstrip()] == []


def test_list_on_an_80_column_terminal(synced: Store, pane: Pane) -> None:
    pane.start(synced.root, "list", "-d", "kylin", "-d", "centos", "-d", "debian")
    code, rows = pane.finish()
    assert code == 0, rows
    assert rows[0].split()[:2] in (["distro", "version"], ["kernel", "local"]), rows
    assert len(rows) == 1 + 9 + 1, "\n".join(rows)  # header, one row per kernel, the count
    seen = tokens(rows)
    releases = {
        e.release
        for e in list_kernels(synced, KernelFilter.create(["kylin", "centos", "debian"])).entries
    }
    assert (
        len(releases) == 9
        and {r for r in releases if r in seen or any(t.endswith("/" + r) for t in seen)} == releases
    ), "\n".join(rows)


def test_list_of_nothing_says_so(synced: Store) -> None:
    got = run_piped(synced.root, "list", "-d", "kylin", "-k", "9.*")
    assert got.returncode == 0 and got.stdout == ""
    selection = KernelFilter.create(["kylin"], kernels=["9.*"]).describe()
    assert got.stderr.strip() == f"no kernel in the catalog matches {selection}"


# -- progress -----------------------------------------------------------------------------------


def test_sync_progress_at_80_columns(_origin_template: Origin, pane: Pane, tmp_path: Path) -> None:
    pane.start(tmp_path / "cache", "sync", "-d", "debian", "-r", _origin_template.url)
    code, rows = pane.finish()
    assert code == 0, rows
    bars = [row for row in rows if "objects" in row or "checking" in row]
    assert len(bars) >= 5, rows
    assert all(re.search(r" \d+/\d+ +\d+:\d\d:\d\d", row) for row in bars), "\n".join(bars)
    assert not any("file://" in row for row in bars)
    assert any(row.strip().startswith("cloning origin: ") for row in bars), "\n".join(bars)
    tree = next(row for row in rows if "reading the tree of origin" in row)
    assert not SPINNER.match(tree), tree  # ended: no spinner left turning


# -- small things -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["pack", "check", "minimize", "relocs"])
def test_usage_says_obj_dots(command: str, tmp_path: Path) -> None:
    got = run_piped(tmp_path, command, "--help", columns=120)
    usage = next(line for line in got.stdout.splitlines() if "Usage:" in line)
    assert usage.rstrip().endswith("OBJ..."), usage


def test_a_json_file_as_object_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"name": "prog"}\n')
    for command in (["check"], ["relocs"], ["pack"]):
        got = run_piped(tmp_path / "cache", *command, str(tmp_path / "x.json"))
        assert got.returncode != 0
        assert got.stderr.strip().splitlines()[-1] == (
            f"error: {tmp_path / 'x.json'}: not an ELF file (expected a BPF object built with "
            "clang -target bpf -g)"
        )


class _Html(HTMLParser):
    """The summary's details/summary blocks and the verdict legend, with their text."""

    def __init__(self) -> None:
        super().__init__()
        self.details: list[str] = []
        self.legend = ""
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in.append("legend" if ("id", "verdict-legend") in attrs else tag)
        if tag == "details":
            self.details.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._in:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if "details" in self._in:
            self.details[-1] += data
        if "legend" in self._in:
            self.legend += data


def test_html_more_reasons_expand_and_the_legend_explains_verdicts(
    synced: Store, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    got = run_piped(
        synced.root,
        "check",
        str(obj("newfield")),
        str(obj("kfuncs")),
        "-d",
        "kylin",
        "--html",
        str(page),
        "--json",
    )
    report = json.loads(got.stdout)
    parsed = _Html()
    parsed.feed(page.read_text())
    many = [k for k in report["kernels"] if len(k["reasons"]) > 3]
    assert many and len(parsed.details) == len(many)
    for kernel, text in zip(many, parsed.details, strict=True):
        assert f"… {len(kernel['reasons']) - 3} more" in text
        assert all(reason in text for reason in kernel["reasons"][3:])
    assert "O ok" in parsed.legend and "D degraded" in parsed.legend
    assert "F fails" in parsed.legend
