"""``btfmirror sync``, ``list`` and ``status``: the mirror and its catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from btfhub_mirror.progress import count

from ._console import console, err_console, print_json
from ._errors import handle_errors
from ._filters import ArchOption, DistroOption, KernelsOption, VersionOption, kernel_filter
from ._options import JsonOption, NoWaitOption
from ._progress import RichProgress
from ._table import columns_fit, print_columns, print_lines, record

if TYPE_CHECKING:
    # The mirror (SQLite catalog) and rich load when a command runs: the one-off commands
    # (minimize, relocs, check --btf) never pay for them.
    from btfhub_mirror.mirror import DirsResult


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover (loop always returns)


@handle_errors
def sync_command(
    distro: DistroOption = None,
    version: VersionOption = None,
    arch: ArchOption = None,
    kernels: KernelsOption = None,
    remote: Annotated[
        list[str] | None,
        typer.Option(
            "--remote",
            "-r",
            help="Archive git URL or path, repeatable; the first that has a path wins. "
            "Replaces (and is remembered as) the cache's remotes. Default: $BTFHUB_REPO "
            "(comma-separated), else the remotes the cache was synced from, else "
            "aquasecurity/btfhub-archive.",
        ),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Fetch every kernel the remotes offer (gigabytes).")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Also check every local archive against its git blob id; fetch damaged ones.",
        ),
    ] = False,
    no_index: Annotated[
        bool,
        typer.Option(
            "--no-index",
            help="Do not write the saved index of each archive (pack and check then build it "
            "on first use).",
        ),
    ] = False,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Update the catalog and fetch exactly the selected kernels.

    Each archive is indexed as it arrives (decompressed and its types indexed, on every
    core, while git fetches the rest), so pack and check afterwards start at once.

    Without a selection (and without --all) only the catalog is updated.

    The cache is $BTFHUB_CACHE or the platform cache directory; its archive/ directory is laid
    out like btfhub-archive.
    """
    from btfhub_mirror.mirror import Store
    from btfhub_mirror.mirror.sync import sync  # imports git and pygit2: only when syncing

    flt = kernel_filter(distro, version, arch, kernels)
    selection = flt if everything or not flt.is_empty else None  # None: the catalog only
    with RichProgress() as progress:
        result = sync(
            Store.default(),
            selection,
            remote or (),
            wait=not no_wait,
            repair=repair,
            index=not no_index,
            progress=progress,
        )
    if as_json:
        print_json(result.to_json())
        return
    summary: list[tuple[str, str]] = []
    if result.catalog_rebuilt:
        summary.append(
            ("catalog was corrupt, rebuilt", f"old file kept as {result.catalog_rebuilt}")
        )
    summary.append(("kernels selected", str(result.selected)))
    summary.append(("fetched", str(result.fetched)))
    summary.append(("already present", str(result.already_present)))
    if result.from_mirror:
        summary.append(("restored from the mirror", str(result.from_mirror)))
    if result.repaired:
        summary.append(("repaired (missing or corrupt)", str(len(result.repaired))))
    if result.skipped:
        summary.append(("skipped (refused, see warnings)", str(len(result.skipped))))
    if result.indexed:
        summary.append(("indexed", str(result.indexed)))
    if result.unindexed:
        summary.append(("not indexed (unreadable, see warnings)", str(len(result.unindexed))))
    summary.append(("bytes received", human_bytes(result.bytes_received)))
    summary.append(("selected archives", human_bytes(result.selected_bytes)))
    summary.append(
        (
            "catalog",
            f"{result.catalog_entries} entries (+{len(result.added)} new, "
            f"{len(result.removed)} removed)",
        )
    )
    for state in result.remotes:
        summary.append(("remote", f"{state.url} @ {state.tip[:12]}"))
    width = max(len(label) for label, _ in summary)
    # Plain lines, no table padding: nothing trails at the end of a line.
    print_lines((f"{label.ljust(width)}  {value}" for label, value in summary), console)
    if result.remotes_changed:  # one plain line: URLs are never cut
        console.print(
            f"remotes changed ({result.remote_source.value}): were "
            f"{', '.join(result.previous_remotes)}; now "
            f"{', '.join(r.url for r in result.remotes)}, remembered for the next sync",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@handle_errors
def list_command(
    distro: DistroOption = None,
    version: VersionOption = None,
    arch: ArchOption = None,
    kernels: KernelsOption = None,
    local: Annotated[bool, typer.Option("--local", help="Only kernels present locally.")] = False,
    distros: Annotated[
        bool,
        typer.Option(
            "--distros",
            help="Count entries per distro, version and arch instead (what -d/-V/-a can name).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List catalog entries (everything the remotes offer, local or not).

    A --distro, --version or --arch naming nothing in the catalog is an error (exit 2) that
    suggests the closest name; distro and arch match in any case.

    On a terminal: a header and aligned columns (one kernel per line when they do not fit);
    elsewhere tab-separated rows: distro, version, arch, kernel, local state[, removed].
    Nothing selected: "no kernel matches ..." on stderr, exit status 0.
    """
    from btfhub_mirror.mirror import Store, list_dirs, list_kernels

    flt = kernel_filter(distro, version, arch, kernels)
    if distros:
        _print_dirs(list_dirs(Store.default(), flt, local_only=local), as_json)
        return
    result = list_kernels(Store.default(), flt, local_only=local)
    if as_json:
        print_json(result.to_json())
        return
    if not result.entries:
        where = "local kernel" if local else "kernel in the catalog"
        err_console.print(f"no {where} matches {result.selection}", markup=False, soft_wrap=True)
        return
    if not console.is_terminal:
        # Plain tab-separated rows for pipes: fast on 10,000 entries and easy to cut/awk.
        lines = (
            "\t".join((e.distro, e.version, e.arch, e.release, e.local_state))
            + ("\tremoved\n" if e.removed else "\n")
            for e in result.entries
        )
        console.file.write("".join(lines))
        return
    headers = ("distro", "version", "arch", "kernel", "local", "size", "note")
    rows = [
        (
            e.distro,
            e.version,
            e.arch,
            e.release,
            "yes" if e.is_local else ("stale" if e.local_state == "stale" else ""),
            human_bytes(e.archive_size) if e.archive_size else "",
            "removed" if e.removed else "",
        )
        for e in result.entries
    ]
    narrow_headers = ("kernel", "local", "size", "note")
    narrow = [(f"{d}/{v}/{a}/{r}", loc, size, note) for d, v, a, r, loc, size, note in rows]
    if columns_fit(headers, rows, console):
        print_columns(headers, rows)
    elif columns_fit(narrow_headers, narrow, console):  # one column less wide
        print_columns(narrow_headers, narrow)
    else:  # narrower still: one kernel per line, nothing wrapped mid-name
        print_lines(
            (
                record(kernel, f"local: {loc}" if loc else "", size, note)
                for kernel, loc, size, note in narrow
            ),
            console,
        )
    n = len(result.entries)
    console.print(
        f"{n} {'entry' if n == 1 else 'entries'} ({result.selection})",
        style="dim",
        markup=False,
        soft_wrap=True,
    )


def _print_dirs(result: DirsResult, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    rows = [
        (
            d.distro,
            d.version,
            d.arch,
            str(d.entries),
            str(d.local),
            str(d.removed),
            ",".join(d.version_aliases),
        )
        for d in result.dirs
    ]
    if not console.is_terminal:  # tab-separated, as plain `list` prints for pipes
        console.file.write("".join("\t".join(r) + "\n" for r in rows))
        return
    print_columns(("distro", "version", "arch", "entries", "local", "removed", "codenames"), rows)
    console.print(
        f"{len(rows)} directories, {result.entries} entries, {result.local} local "
        f"({result.selection})",
        style="dim",
        markup=False,
    )


@handle_errors
def status_command(as_json: JsonOption = False) -> None:
    """Remotes, tips, entries per distro and arch, disk use and last sync."""
    from rich.table import Table

    from btfhub_mirror.mirror import Store, cache_status

    result = cache_status(Store.default())
    if as_json:
        print_json(result.to_json())
        return
    console.print(f"cache {result.cache_dir}   last sync {result.last_sync or 'never'}")
    for r in result.remotes:
        console.print(f"remote {r.url}  {r.branch} @ {(r.tip or '?')[:12]}", markup=False)
    table = Table("distro", "arch", "entries", "local", "removed", "local size")
    for c in result.counts:
        table.add_row(
            c.distro, c.arch, str(c.total), str(c.local), str(c.removed), human_bytes(c.local_bytes)
        )
    table.add_row(
        "total",
        "",
        str(result.total),
        str(result.local),
        str(result.removed),
        human_bytes(sum(c.local_bytes for c in result.counts)),
        style="bold",
    )
    console.print(table)
    console.print(
        f"disk: archive {human_bytes(result.archive_bytes)}, git {human_bytes(result.git_bytes)}, "
        f"catalog {human_bytes(result.catalog_bytes)}, index {human_bytes(result.index_bytes)} "
        f"({count(result.index_files, 'file')})"
    )


def register(app: typer.Typer) -> None:
    """Add ``sync``, ``list`` and ``status`` to the top-level application."""
    app.command("sync")(sync_command)
    app.command("list")(list_command)
    app.command("status")(status_command)
