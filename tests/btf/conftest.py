from __future__ import annotations

import functools
from pathlib import Path

from btfhub_mirror.btf import Btf, load_btf, read_btf_source


@functools.cache
def raw_of(path: Path) -> bytes:
    return read_btf_source(path)


@functools.cache
def btf_of(path: Path) -> Btf:
    return load_btf(path)
