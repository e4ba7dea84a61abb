from __future__ import annotations

import pytest

from btfhub_mirror.errors import UsageError
from btfhub_mirror.kernels import (
    NO_BUILD,
    KernelFilter,
    parse_pattern,
    parse_release,
    release_sort_key,
)
from tests.helpers import sample_archives

# Release strings as they appear in btfhub-archive (see the research doc) and what they mean.
RELEASES = [
    ("5.15.0-71-generic", (5, 15, 0), 71, "generic"),
    ("5.4.0-1047-azure", (5, 4, 0), 1047, "azure"),
    ("4.19.0-17-cloud-amd64", (4, 19, 0), 17, "cloud-amd64"),
    ("5.10.0-0.deb10.17-rt-arm64", (5, 10, 0), 0, "rt-arm64"),
    ("4.18.0-147.5.1.el8_1.aarch64", (4, 18, 0), 147, ""),
    ("4.14.101-91.76.amzn2.aarch64", (4, 14, 101), 91, ""),
    ("4.4.103-6.33.1-default", (4, 4, 103), 6, "default"),
    ("6.12.95+deb12-s390x", (6, 12, 95), NO_BUILD, "s390x"),
    ("3.10", (3, 10, 0), NO_BUILD, ""),
]


@pytest.mark.parametrize(("release", "version", "build", "flavour"), RELEASES)
def test_parse_release(
    release: str, version: tuple[int, int, int], build: int, flavour: str
) -> None:
    parsed = parse_release(release)
    assert parsed is not None
    assert (parsed.version, parsed.build, parsed.flavour) == (version, build, flavour)


def test_every_sample_release_parses() -> None:
    for archive in sample_archives():
        release = archive.name.removesuffix(".btf.tar.xz")
        parsed = parse_release(release)
        assert parsed is not None and parsed.release == release


@pytest.mark.parametrize("name", ["latest", "", "v5.4", "linux-5.4.0"])
def test_unparsable_release(name: str) -> None:
    assert parse_release(name) is None
    assert not parse_pattern(">=1.0").matches(name)


def test_versions_sort_numerically_not_as_text() -> None:
    names = ["5.10.0-1-generic", "5.4.0-100-generic", "5.4.0-99-generic", "4.19.0-5-amd64"]
    ordered = sorted(names, key=release_sort_key)
    assert ordered == [
        "4.19.0-5-amd64",
        "5.4.0-99-generic",
        "5.4.0-100-generic",
        "5.10.0-1-generic",
    ]


@pytest.mark.parametrize(
    ("pattern", "inside", "outside"),
    [
        ("5.15.*", ["5.15.0-71-generic", "5.15.131-1-aws"], ["5.1.0-1-generic", "5.16.0-1-x"]),
        ("*-azure", ["5.4.0-1047-azure"], ["5.4.0-1047-generic"]),
        (
            ">=5.4,<5.16",
            ["5.4.0-26-generic", "5.15.0-71-generic"],
            ["4.19.0-17-amd64", "5.16.0-1-generic"],
        ),
        ("<=5.15", ["5.15.99-1-generic"], ["5.16.0-1-generic"]),
        (">5.15", ["5.16.0-1-generic"], ["5.15.99-1-generic"]),
        ("==5.15", ["5.15.0-1-generic", "5.15.7"], ["5.1.0-1-generic"]),
        ("<5.15.0-71", ["5.15.0-70-generic", "5.14.0-900-generic"], ["5.15.0-71-generic"]),
        ("!=4.18", ["4.19.0-1-amd64"], ["4.18.0-147.5.1.el8_1.aarch64"]),
    ],
)
def test_patterns(pattern: str, inside: list[str], outside: list[str]) -> None:
    parsed = parse_pattern(pattern)
    assert all(parsed.matches(r) for r in inside)
    assert not any(parsed.matches(r) for r in outside)


@pytest.mark.parametrize("bad", ["", ">=", ">=5.x", ">=5.4,,<6", "~5.4", ">=5.4;<5.6"])
def test_bad_patterns_are_usage_errors(bad: str) -> None:
    if bad and bad[0] not in "<>=!":
        pattern = parse_pattern(bad)  # not a range: a glob that simply matches nothing
        assert not pattern.matches("5.4.0-1-generic")
        return
    with pytest.raises(UsageError):
        parse_pattern(bad)


def test_filter_arch_aliases_codenames_and_any_pattern() -> None:
    flt = KernelFilter.create(
        distros=["ubuntu"], versions=["focal"], arches=["aarch64"], kernels=["5.4.*", ">=5.15"]
    )
    assert flt.matches("ubuntu", "20.04", "arm64", "5.4.0-26-generic", ["focal"])
    assert flt.matches("ubuntu", "focal", "arm64", "5.15.0-1-generic")
    assert not flt.matches("ubuntu", "20.04", "arm64", "5.4.0-26-generic")  # no alias known
    assert not flt.matches("ubuntu", "20.04", "x86_64", "5.4.0-26-generic", ["focal"])
    assert not flt.matches("debian", "20.04", "arm64", "5.4.0-26-generic", ["focal"])
    assert not flt.matches("ubuntu", "20.04", "arm64", "5.8.0-1-generic", ["focal"])
    assert KernelFilter().matches("x", "y", "z", "anything")
    assert flt.describe() == "distro=ubuntu version=focal arch=arm64 kernels=5.4.*,>=5.15"
