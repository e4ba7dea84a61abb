"""BTF: parse, model, write and dump the BPF Type Format."""

from __future__ import annotations

from .load import load_btf, load_btf_bytes, read_btf_source
from .parse import Btf, TypeNotFoundError, parse_btf
from .strings import StringTable, StringTableBuilder
from .wire import Kind
from .write import encode_btf, write_btf

__all__ = [
    "Btf",
    "Kind",
    "StringTable",
    "StringTableBuilder",
    "TypeNotFoundError",
    "encode_btf",
    "load_btf",
    "load_btf_bytes",
    "parse_btf",
    "read_btf_source",
    "write_btf",
]
