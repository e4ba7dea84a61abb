"""BTF string sections: reading by offset, and building a deduplicated table.

A string section is NUL-terminated strings back to back; offset 0 is the empty string
(btf.rst "String Encoding"). In split BTF, offsets at or past the base's section length refer to
the split's own section (libbpf ``btf__str_by_offset``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import BtfFormatError

#: libbpf accepts name offsets up to 0x7fffffff; anything larger is garbage.
MAX_STRING_OFFSET = 0x7FFFFFFF


class StringTable:
    """Read-only view of one BTF string section, optionally stacked on a base's."""

    __slots__ = ("_cache", "_offsets", "base", "data", "start")

    def __init__(self, data: bytes, base: StringTable | None = None):
        self.data = data
        self.base = base
        #: Offset of this table's first byte in the combined (base + split) offset space.
        self.start = base.total_len if base is not None else 0
        self._cache: dict[int, str] = {}
        self._offsets: dict[str, int] | None = None

    @property
    def decoded(self) -> Mapping[int, str]:
        """The strings decoded so far, by offset: a hot loop reads it before calling
        :meth:`get`, which decodes and bounds-checks."""
        return self._cache

    @property
    def total_len(self) -> int:
        return self.start + len(self.data)

    def get(self, offset: int) -> str:
        """The string at ``offset``; raises :class:`BtfFormatError` if out of bounds."""
        cached = self._cache.get(offset)
        if cached is not None:
            return cached
        if offset < self.start:
            assert self.base is not None
            return self.base.get(offset)
        local = offset - self.start
        data = self.data
        if local >= len(data):
            raise BtfFormatError(
                f"string offset {offset} is past the end of the string section ({self.total_len})",
                section="strings",
                offset=offset,
            )
        end = data.find(b"\0", local)
        if end < 0:
            raise BtfFormatError("string is not NUL-terminated", section="strings", offset=offset)
        try:
            text = data[local:end].decode()
        except UnicodeDecodeError:
            text = data[local:end].decode("latin-1")
        self._cache[offset] = text
        return text

    def offsets(self) -> dict[str, int]:
        """Each string of this table (and its base) mapped to its first offset."""
        if self._offsets is None:
            found = dict(self.base.offsets()) if self.base is not None else {}
            found.update(
                (text, off)
                for text, off in _split_strings(self.data, self.start)
                if text not in found
            )
            self._offsets = found
        return self._offsets

    def by_offset(self) -> dict[int, str]:
        """Every string that starts right after a NUL, keyed by offset (this table only)."""
        return {off: text for text, off in _split_strings(self.data, self.start)}

    def valid(self, offset: int) -> bool:
        """Whether ``offset`` points inside this table (or its base)."""
        return 0 <= offset < self.total_len


def _split_strings(data: bytes, start: int) -> list[tuple[str, int]]:
    """Every NUL-terminated string in ``data`` with its offset, first occurrence first."""
    out: list[tuple[str, int]] = []
    pos = 0
    if data.isascii():  # the usual case: one decode, and characters are bytes
        for text in data.decode("ascii").split("\0")[:-1]:
            out.append((text, start + pos))
            pos += len(text) + 1
        return out
    for raw in data.split(b"\0")[:-1]:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        out.append((text, start + pos))
        pos += len(raw) + 1
    return out


class StringTableBuilder:
    """An append-only, deduplicated string section (libbpf ``strset`` behaviour).

    Seeding it with an existing section keeps every string of that section at its original
    offset (the first occurrence wins), so re-encoding parsed BTF reproduces its bytes. For split
    BTF, strings already in the base resolve to the base's offsets, as ``btf__add_str`` does.
    """

    __slots__ = ("_base", "_chunks", "_length", "_offsets", "start")

    def __init__(self, seed: bytes = b"\0", base: StringTable | None = None):
        self.start = base.total_len if base is not None else 0
        self._base = base.offsets() if base is not None else {}
        self._chunks: list[bytes] = [seed] if seed else []
        self._length = len(seed)
        self._offsets: dict[str, int] = {}
        for text, off in _split_strings(seed, self.start):
            self._offsets.setdefault(text, off)

    def add(self, text: str) -> int:
        """Offset of ``text``, appending it when new. The empty string is offset 0."""
        if text == "":
            return 0  # every base section starts with "\0"
        off = self._base.get(text)
        if off is not None:
            return off
        off = self._offsets.get(text)
        if off is not None:
            return off
        raw = text.encode()
        off = self.start + self._length
        self._chunks.append(raw + b"\0")
        self._length += len(raw) + 1
        self._offsets[text] = off
        return off

    def to_bytes(self) -> bytes:
        return b"".join(self._chunks)
