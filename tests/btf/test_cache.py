"""The content-keyed BTF cache of one-off commands, and its string-search name lookup."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from btfhub_mirror.btf import parse_btf, read_btf_source
from btfhub_mirror.btf import types as t
from btfhub_mirror.btf.cache import HEADER_SIZE, SEARCH_LOOKUPS, BtfCache, attach_search_lookup
from btfhub_mirror.btf.dump import dump_raw
from btfhub_mirror.btf.write import encode_btf
from btfhub_mirror.elf import BpfObject
from btfhub_mirror.minimize import minimize
from tests.helpers import REPO, sample_archives

OBJECTS = sorted((REPO / "tests/bpf/build").glob("*.el.o"))


def smallest(count: int) -> list[Path]:
    return sorted(sample_archives(), key=lambda p: p.stat().st_size)[:count]


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entries(cache: BtfCache) -> set[str]:
    """The entries, without the key file."""
    if not cache.root.exists():
        return set()
    return {p.name for p in cache.root.iterdir() if p.name != ".key"}


def test_second_open_is_a_hit_keyed_by_the_file_hash(tmp_path: Path) -> None:
    kernel = smallest(1)[0]
    cache = BtfCache(tmp_path / "cache")
    cold, hit = cache.open(kernel)
    assert not hit and entries(cache) == {digest_of(kernel) + ".btf"}
    warm, hit = cache.open(kernel)
    assert hit
    assert bytes(warm.data) == read_btf_source(kernel)
    assert list(dump_raw(warm)) == list(dump_raw(cold))
    objects = [BpfObject.open(p) for p in OBJECTS]
    assert minimize(warm, objects).data == minimize(cold, objects).data


def test_the_same_content_under_another_name_hits_a_changed_file_misses(tmp_path: Path) -> None:
    first, second = smallest(2)
    cache = BtfCache(tmp_path / "cache")
    path = tmp_path / "kernel.btf.tar.xz"
    shutil.copyfile(first, path)
    assert not cache.open(path)[1]
    assert cache.open(first)[1]  # the content is the key, not the name
    shutil.copyfile(second, path)  # same name, same size class, other content
    btf, hit = cache.open(path)
    assert not hit and bytes(btf.data) == read_btf_source(second)
    assert entries(cache) == {digest_of(first) + ".btf", digest_of(second) + ".btf"}


def test_least_recently_used_entries_go_past_the_cap(tmp_path: Path) -> None:
    a, b, c = smallest(3)
    sizes = [HEADER_SIZE + len(read_btf_source(k)) for k in (a, b, c)]
    # Room for any two entries, never three.
    cache = BtfCache(tmp_path / "cache", max_bytes=sum(sorted(sizes)[1:]))
    name = {k: digest_of(k) + ".btf" for k in (a, b, c)}
    cache.open(a)
    cache.open(b)
    os.utime(cache.root / name[a], (1_000, 1_000))  # a is the oldest...
    os.utime(cache.root / name[b], (2_000, 2_000))
    assert cache.open(a)[1]  # ...until used again: the hit touches it
    cache.open(c)
    assert entries(cache) == {name[a], name[c]}  # b, least recently used, went
    assert cache.open(a)[1] and not cache.open(b)[1]


def test_an_entry_larger_than_the_cap_is_not_kept(tmp_path: Path) -> None:
    kernel = smallest(1)[0]
    cache = BtfCache(tmp_path / "cache", max_bytes=1000)
    assert not cache.open(kernel)[1]
    assert not cache.open(kernel)[1] and not any(cache.root.glob("*.btf"))


def test_eviction_removes_temporary_files_a_killed_writer_left(tmp_path: Path) -> None:
    cache = BtfCache(tmp_path / "cache")
    cache.root.mkdir()
    stale, fresh = cache.root / ".x.btf.abc.tmp", cache.root / ".y.btf.def.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (1_000, 1_000))
    assert cache.evict() == [stale]
    assert fresh.exists()  # maybe another process's write in progress


def _damage(kind: str, data: bytes) -> bytes:
    body = bytearray(data)
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "flipped":
        body[len(body) // 2] ^= 0x40
        return bytes(body)
    if kind == "garbage":
        return b"\0" * 100
    if kind == "empty":
        return b""
    if kind == "longer":
        return data + b"\0"
    if kind == "hostile":
        # Someone without the key changes the BTF and the header's count: not authentic.
        body[HEADER_SIZE + 28 : HEADER_SIZE + 32] = (0x04FFFFFF).to_bytes(4, "little")
        body[16:20] = (1).to_bytes(4, "little")
        return bytes(body)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated", "flipped", "garbage", "empty", "longer", "hostile"])
def test_a_damaged_entry_is_rebuilt_never_trusted(tmp_path: Path, kind: str) -> None:
    kernel = smallest(1)[0]
    cache = BtfCache(tmp_path / "cache")
    cache.open(kernel)
    entry = cache.root / (digest_of(kernel) + ".btf")
    good = entry.read_bytes()
    entry.write_bytes(_damage(kind, good))
    btf, hit = cache.open(kernel)
    assert not hit and bytes(btf.data) == read_btf_source(kernel)
    assert entry.read_bytes() == good  # rewritten whole
    assert cache.open(kernel)[1]


def test_an_entry_under_another_key_is_not_used(tmp_path: Path) -> None:
    first, second = smallest(2)
    cache = BtfCache(tmp_path / "cache")
    cache.open(first)
    # A copy of first's entry named as second's: its header names another file.
    shutil.copyfile(
        cache.root / (digest_of(first) + ".btf"), cache.root / (digest_of(second) + ".btf")
    )
    btf, hit = cache.open(second)
    assert not hit and bytes(btf.data) == read_btf_source(second)


def test_a_key_others_could_read_or_write_disables_the_cache(tmp_path: Path) -> None:
    kernel = smallest(1)[0]
    cache = BtfCache(tmp_path / "cache")
    cache.open(kernel)
    assert cache.open(kernel)[1]
    key = cache.root / ".key"
    assert key.stat().st_mode & 0o777 == 0o600
    key.chmod(0o644)  # anyone could have read it, hence forged an entry
    assert not cache.open(kernel)[1]
    assert not cache.open(kernel)[1]  # and nothing is written under it either
    key.chmod(0o600)
    assert cache.open(kernel)[1]


def test_an_entry_of_another_cache_is_not_trusted(tmp_path: Path) -> None:
    kernel = smallest(1)[0]
    mine, theirs = BtfCache(tmp_path / "mine"), BtfCache(tmp_path / "theirs")
    theirs.open(kernel)
    mine.root.mkdir()
    shutil.copyfile(
        theirs.entry_path(bytes.fromhex(digest_of(kernel))),
        mine.entry_path(bytes.fromhex(digest_of(kernel))),
    )
    btf, hit = mine.open(kernel)  # mine makes its own key: their MAC does not verify
    assert not hit and bytes(btf.data) == read_btf_source(kernel)
    assert mine.open(kernel)[1]


def test_an_unwritable_cache_is_not_an_error(tmp_path: Path) -> None:
    kernel = smallest(1)[0]
    (tmp_path / "file").write_text("not a directory")
    cache = BtfCache(tmp_path / "file" / "cache")
    for _ in range(2):
        btf, hit = cache.open(kernel)
        assert not hit and btf.type_count > 1000


def test_two_processes_racing_on_one_kernel(tmp_path: Path) -> None:
    """Four processes open one never-seen kernel through one cache at once (tiny cap: each
    also evicts): each gets the right BTF, and one whole entry is left, no temporary file."""
    kernels = smallest(2)
    cap = HEADER_SIZE + len(read_btf_source(kernels[1])) + 1  # one entry fits, not two
    script = (
        "import sys; from btfhub_mirror.btf.cache import BtfCache; "
        "from btfhub_mirror.btf import read_btf_source\n"
        "c = BtfCache(sys.argv[1], max_bytes=int(sys.argv[2]))\n"
        "for _ in range(3):\n"
        "    for k in sys.argv[3:]:\n"
        "        btf, _ = c.open(k)\n"
        "        assert bytes(btf.data) == read_btf_source(k), k\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    root = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                str(root),
                str(cap),
                *(kernels if i % 2 else kernels[::-1]),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out == "ok\n", err
    left = sorted(p for p in root.iterdir() if p.name != ".key")
    assert len(left) == 1 and left[0].suffix == ".btf", left
    cache = BtfCache(root, max_bytes=cap)
    assert any(cache.open(k)[1] for k in kernels)


def test_search_lookup_equals_the_table_on_real_kernels() -> None:
    """The string search finds the same ids in the same order as the full name index, on
    every sample kernel (both byte orders) for a spread of names: flavored ones, short ones
    found inside many strings, suffixes of other names, absent ones."""
    for kernel in sample_archives():
        raw = read_btf_source(kernel)
        plain = parse_btf(raw).essential_names()
        names = sorted(n for n in plain if n)
        asked = [
            *names[:: max(1, len(names) // 30)],
            "int",
            "u32",
            "file",
            "struct",
            "ops",
            *[n for n in names if "___" in n][:5],
            "no_such_type",
            "caf\u00e9",
            "x___",
        ]
        btf = parse_btf(raw)
        assert attach_search_lookup(btf)
        for name in asked[:SEARCH_LOOKUPS]:
            assert list(btf.ids_by_essential_name(name)) == plain.get(name, []), (kernel, name)


def test_search_lookup_on_odd_names() -> None:
    """Flavors (the last ``___`` wins), a name offset into the middle of another string; a
    non-ASCII section keeps the table."""
    names = [
        "x",
        "x___v2",
        "x___",
        "a___b___c",
        "a___b",
        "___GFP",
        "task_struct",
        "struct",
        "y___1",
        "y___2",
        "y_",
        "y____3",
    ]
    raw = bytearray(encode_btf([t.Int(name, 4, 0, 0, 32) for name in names]))
    btf = parse_btf(bytes(raw))
    middle = btf.type_index().name_offs[6] + len("task_")  # "struct" inside "task_struct"
    pos = btf.type_index().offsets[7]
    raw[pos : pos + 4] = middle.to_bytes(4, "little")
    plain = parse_btf(bytes(raw)).essential_names()
    searched = parse_btf(bytes(raw))
    assert attach_search_lookup(searched) and searched.name_of(8) == "struct"
    for name in [*plain, "café", "nothing", "task", "y__", ""]:
        assert list(searched.ids_by_essential_name(name)) == plain.get(name, []), name
    foreign = parse_btf(encode_btf([t.Int("caf\u00e9___v1", 4, 0, 0, 32)]))
    assert not attach_search_lookup(foreign)


def test_many_names_switch_to_the_table() -> None:
    raw = read_btf_source(smallest(1)[0])
    plain = parse_btf(raw).essential_names()
    btf = parse_btf(raw)
    attach_search_lookup(btf)
    names = [n for n in sorted(plain) if n][: SEARCH_LOOKUPS + 10]
    for name in names:
        assert list(btf.ids_by_essential_name(name)) == plain[name], name
    assert btf.has_essential_table() and not btf.has_essential_lookup()  # the table took over
