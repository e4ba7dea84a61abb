"""os-release parsing per its specification, uname facts, and the identity's archive path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from btfhub_mirror.errors import IdentityError
from btfhub_mirror.runtime import (
    SystemIdentity,
    current_identity,
    parse_os_release,
    read_os_release,
)
from btfhub_mirror.runtime.identity import identity_from_os_release
from tests.helpers import SAMPLE

# The os-release files these distributions ship (ID and VERSION_ID quoting as they have it).
UBUNTU_2004 = """\
NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal
"""
DEBIAN_12 = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""
CENTOS_8 = """\
NAME="CentOS Linux"
VERSION="8 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="8"
PLATFORM_ID="platform:el8"
PRETTY_NAME="CentOS Linux 8 (Core)"
ANSI_COLOR="0;31"
"""
AMZN_2 = """\
NAME="Amazon Linux"
VERSION="2"
ID="amzn"
ID_LIKE="centos rhel fedora"
VERSION_ID="2"
PRETTY_NAME="Amazon Linux 2"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2"
"""
KYLIN_V10 = """\
NAME="Kylin Linux Advanced Server"
VERSION="V10 (Sword)"
ID="kylin"
VERSION_ID="V10"
"""


@pytest.mark.parametrize(
    ("text", "machine", "release", "path"),
    [
        (UBUNTU_2004, "x86_64", "5.4.0-42-generic", "ubuntu/20.04/x86_64/5.4.0-42-generic.btf"),
        (DEBIAN_12, "x86_64", "6.1.0-50-amd64", "debian/12/x86_64/6.1.0-50-amd64.btf"),
        (CENTOS_8, "x86_64", "4.18.0-80.el8.x86_64", "centos/8/x86_64/4.18.0-80.el8.x86_64.btf"),
        (
            AMZN_2,
            "x86_64",
            "4.14.138-114.102.amzn2.x86_64",
            "amzn/2/x86_64/4.14.138-114.102.amzn2.x86_64.btf",
        ),
        (
            AMZN_2,
            "aarch64",
            "4.14.101-91.76.amzn2.aarch64",
            "amzn/2/arm64/4.14.101-91.76.amzn2.aarch64.btf",
        ),
        (DEBIAN_12, "s390x", "6.12.95+deb12-s390x", "debian/12/s390x/6.12.95+deb12-s390x.btf"),
    ],
    ids=["ubuntu", "debian", "centos-quoted", "amzn-quoted", "amzn-aarch64", "debian-s390x"],
)
def test_identity_archive_path(text: str, machine: str, release: str, path: str) -> None:
    ident = identity_from_os_release(parse_os_release(text), machine=machine, release=release)
    assert ident.archive_path == path
    assert '"' not in ident.os_id and "'" not in ident.version_id


@pytest.mark.parametrize(
    ("text", "machine", "relative"),
    [
        (CENTOS_8, "aarch64", "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64"),
        (KYLIN_V10, "aarch64", "kylin/V10/arm64/4.19.90-52.22.v2207.ky10.aarch64"),
        (DEBIAN_12, "x86_64", "debian/12/x86_64/6.1.0-50-cloud-amd64"),
        (DEBIAN_12, "s390x", "debian/12/s390x/6.12.95+deb12-s390x"),
    ],
)
def test_identity_finds_the_real_btfhub_layout(text: str, machine: str, relative: str) -> None:
    release = relative.rsplit("/", 1)[1]
    ident = identity_from_os_release(parse_os_release(text), machine=machine, release=release)
    archive = SAMPLE / f"{relative}.btf.tar.xz"
    assert archive.is_file()
    # The identity must point exactly where btfhub-archive put this kernel's BTF.
    assert SAMPLE / (ident.archive_path + ".tar.xz") == archive


def test_quoting_and_escapes_follow_the_shell() -> None:
    text = r"""# comment line
     # indented comment

ID='opensuse-leap'
VERSION_ID="15.4"
NAME="Foo \"Bar\" \\ \$HOME \`x\`"
SINGLE='a\b "c"'
PLAIN=x\ y
DQ_OTHER="a\nb"
EMPTY=
CONCAT="a"'b'c
"""
    values = parse_os_release(text)
    assert values["ID"] == "opensuse-leap"
    assert values["VERSION_ID"] == "15.4"
    assert values["NAME"] == 'Foo "Bar" \\ $HOME `x`'
    assert values["SINGLE"] == 'a\\b "c"'  # no escapes inside single quotes
    assert values["PLAIN"] == "x y"
    assert values["DQ_OTHER"] == "a\\nb"  # backslash stays before a non-special character
    assert values["EMPTY"] == ""
    assert values["CONCAT"] == "abc"


def test_malformed_lines_are_ignored_unless_they_are_needed() -> None:
    values = parse_os_release('ID=debian\nVERSION_ID="12"\nNAME="unterminated\nnot an assignment\n')
    assert values == {"ID": "debian", "VERSION_ID": "12"}
    with pytest.raises(IdentityError, match=r"os-release:2: VERSION_ID: unterminated double"):
        parse_os_release('ID=debian\nVERSION_ID="12\n')
    with pytest.raises(IdentityError, match=r"/x:1: ID: unquoted whitespace"):
        parse_os_release("ID=red hat\n", source="/x")


def test_etc_takes_precedence_over_usr_lib(tmp_path: Path) -> None:
    etc, usr = tmp_path / "etc-os-release", tmp_path / "usr-os-release"
    usr.write_text(DEBIAN_12)
    assert read_os_release([etc, usr]) == (usr, parse_os_release(DEBIAN_12))
    etc.write_text(CENTOS_8)
    path, values = read_os_release([etc, usr])
    assert path == etc and values["ID"] == "centos"


def test_missing_os_release_is_a_clear_error(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    with pytest.raises(IdentityError, match=f"no os-release file found.*{a}.*{b}"):
        read_os_release([a, b])
    with pytest.raises(IdentityError, match=r"no os-release file found \(tried "):
        current_identity(os_release=a)


def test_missing_version_id_and_unsafe_values(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="no VERSION_ID"):
        identity_from_os_release({"ID": "arch"}, machine="x86_64", release="6.1.0")
    for bad in ("..", "a/b", ""):
        with pytest.raises(IdentityError):
            SystemIdentity(os_id=bad, version_id="1", machine="x86_64", release="6.1.0")
    with pytest.raises(IdentityError, match="release"):
        SystemIdentity(os_id="debian", version_id="12", machine="x86_64", release="../../etc")


def test_current_identity_reads_this_system() -> None:
    ident = current_identity()
    osrelease = Path("/proc/sys/kernel/osrelease")
    if osrelease.is_file():
        assert ident.release == osrelease.read_text().strip()
    _, values = read_os_release()
    assert (ident.os_id, ident.version_id) == (values["ID"], values["VERSION_ID"])
    assert ident.machine == os.uname().machine


def test_overrides_replace_what_is_read(tmp_path: Path) -> None:
    osr = tmp_path / "os-release"
    osr.write_text(AMZN_2)
    ident = current_identity(
        os_release=osr, machine="aarch64", release="4.14.101-91.76.amzn2.aarch64"
    )
    assert (ident.os_id, ident.version_id, ident.arch) == ("amzn", "2", "arm64")
    assert ident.archive_path == "amzn/2/arm64/4.14.101-91.76.amzn2.aarch64.btf"
