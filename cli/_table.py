"""Tables that never wrap or cut an identifier.

A table is drawn only on a terminal wide enough for every cell at its natural width. Anywhere
else (a pipe, a CI log, a terminal too narrow) the caller prints one record per line instead:
identifiers whole, nothing padded, lines as long as they need to be (never wrapped by rich;
``soft_wrap``), so grep and a log viewer see each kernel, helper and program name in one piece.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from btfhub_mirror.archive import ARCHIVE_SUFFIX
from btfhub_mirror.kernels import release_sort_key

from ._console import console as default_console

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

#: Between aligned columns.
GAP = "  "
_NUMBER_RE = re.compile(r"(\d+)")


def fits(renderable: RenderableType, console: Console | None = None) -> bool:
    """Whether ``renderable`` goes on a terminal at its natural width, nothing wrapped."""
    from rich.measure import Measurement  # rich loads on use

    out = console or default_console
    if not out.is_terminal:
        return False
    # Measured without the terminal's limit: rich clamps a measurement to the width it is given.
    unlimited = out.options.update_width(1 << 20)
    return Measurement.get(out, unlimited, renderable).maximum <= out.width


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's natural width: its widest cell, header included."""
    return [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]


def columns_fit(
    headers: Sequence[str], rows: Sequence[Sequence[str]], console: Console | None = None
) -> bool:
    """Whether aligned columns fit this terminal (False also when there is no terminal)."""
    out = console or default_console
    if not out.is_terminal:
        return False
    widths = column_widths(headers, rows)
    return sum(widths) + len(GAP) * (len(widths) - 1) <= out.width


def aligned(cells: Sequence[str], widths: Sequence[int]) -> str:
    return GAP.join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def print_columns(
    headers: Sequence[str], rows: Sequence[Sequence[str]], console: Console | None = None
) -> None:
    """Aligned columns under a bold header line, nothing trailing: the one column printer (a
    rich Table takes seconds on 10,000 rows, this takes milliseconds). Callers that may meet a
    narrow terminal ask :func:`columns_fit` first."""
    out = console or default_console
    widths = column_widths(headers, rows)
    out.print(aligned(headers, widths), style="bold", markup=False, soft_wrap=True)
    out.file.write("".join(f"{aligned(r, widths)}\n" for r in rows))


def print_lines(lines: Iterable[str], console: Console | None = None) -> None:
    """Plain lines, no markup, no trailing spaces. Elsewhere than on a terminal as they are,
    however long (fast on 10,000); on one, a line wider than it breaks between words, so
    no identifier shorter than the terminal is split (the terminal itself would cut anywhere)."""
    out = console or default_console
    if not out.is_terminal:
        out.file.write("".join(f"{line.rstrip()}\n" for line in lines))
        return
    for line in lines:
        out.print(line.rstrip(), markup=False, highlight=False)


def soft_wrap(console: Console | None = None) -> bool:
    """rich's ``soft_wrap`` for one record per line: never wrap in a pipe or a log; on a
    terminal break between words (see :func:`print_lines`)."""
    return not (console or default_console).is_terminal


def record(*fields: str) -> str:
    """One record on one line: the non-empty fields, two spaces apart."""
    return GAP.join(f for f in fields if f)


def version_key(text: str) -> tuple[tuple[int, str], ...]:
    """``9`` before ``10``, ``20.04`` before ``22.04``, ``V10`` as V then 10."""
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part) for part in _NUMBER_RE.split(text) if part
    )


def kernel_sort_key(
    distro: str | None, version: str | None, arch: str | None, release: str | None, label: str
) -> tuple[object, ...]:
    """Catalog kernels by distro, version, arch, then release as a kernel version (5.4 before
    5.10); kernels given as files (no distro) after them, by label."""
    if distro is None or version is None or arch is None or release is None:
        return (1, label)
    return (0, distro, version_key(version), arch, release_sort_key(release))


def path_sort_key(path: str) -> tuple[object, ...]:
    """:func:`kernel_sort_key` of a catalog path ``distro/version/arch/release[.btf.tar.xz]``."""
    parts = path.removesuffix(ARCHIVE_SUFFIX).split("/")
    if len(parts) != 4:
        return (1, path)
    return kernel_sort_key(parts[0], parts[1], parts[2], parts[3], path)
