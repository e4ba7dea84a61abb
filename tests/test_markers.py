"""The ``needs_*`` markers are enforced: a test that runs a tool without its marker fails, also
when a session fixture set up for an earlier test ran the tool."""

from __future__ import annotations

import pytest

from tests.helpers import REPO

INNER = """
import pytest

from tests.helpers import need_bpftool78, need_tool, uses


@pytest.fixture(scope="session")
def packed():
    uses("bpftool", "needs_bpftool")  # as need_tool("bpftool") does, without needing it
    return "packed"


@pytest.mark.needs_clang
def test_marked():
    uses("clang", "needs_clang")


def test_unmarked():
    need_tool("clang")


def test_unmarked_78():
    need_bpftool78()


@pytest.mark.needs_bpftool
def test_fixture_first(packed):
    assert packed


def test_fixture_later(packed):
    assert packed


def test_other_tools_need_no_marker():
    need_tool("sh")
"""


MARKERS = """
[pytest]
markers =
    needs_bpftool: x
    needs_bpftool78: x
    needs_clang: x
"""


def run_inner(pytester: pytest.Pytester) -> pytest.RunResult:
    """pytest on pytester's directory with the root conftest's hooks (as a plugin)."""
    pytester.makeini(MARKERS)
    return pytester.runpytest_subprocess(
        "-p",
        "tests.conftest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--rootdir",
        str(pytester.path),
        "-o",
        f"pythonpath={REPO}",
    )


def test_a_test_lacking_its_marker_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = run_inner(pytester)
    result.assert_outcomes(passed=3, failed=2, errors=1)  # the fixture case fails at setup
    result.stdout.fnmatch_lines_random(
        [
            "*test_inner.py::test_unmarked uses clang but lacks @pytest.mark.needs_clang*",
            "*test_inner.py::test_unmarked_78 uses bpftool 7.8 but lacks"
            " @pytest.mark.needs_bpftool78*",
            "*test_inner.py::test_fixture_later uses fixture packed but lacks"
            " @pytest.mark.needs_bpftool*",
        ]
    )


def test_a_misspelt_needs_marker_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_typo="import pytest\n\n@pytest.mark.needs_bpftol\ndef test_x():\n    pass\n"
    )
    result = run_inner(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_typo.py::test_x: unknown marker needs_bpftol*"])
