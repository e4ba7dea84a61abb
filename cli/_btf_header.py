"""``--btf-header``: which ``struct btf_header`` a written BTF carries (minimize, pack)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from btfhub_mirror.btf.wire import HEADER_LEN, HEADER_LEN_LAYOUT


class BtfHeader(str, Enum):
    """The header lengths libbpf writes: 24 up to libbpf 1.7, 32 from libbpf 1.8 on."""

    classic = str(HEADER_LEN)
    layout = str(HEADER_LEN_LAYOUT)

    @property
    def length(self) -> int:
        return int(self.value)


BtfHeaderOption = Annotated[
    BtfHeader,
    typer.Option(
        "--btf-header",
        help=(
            "BTF header to write: 24 bytes as bpftool 7.1/7.5 (libbpf <= 1.7), read by every "
            "libbpf; 32 bytes as bpftool 7.8 (libbpf 1.8), layout_off/layout_len 0."
        ),
    ),
]
