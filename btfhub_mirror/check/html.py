"""One self-contained HTML page for a check: the verdicts and the kernel x relocation matrix.

Inline CSS only: no script, font, image or any other external asset, so the page can be
attached to a CI run or mailed. Pure: returns the page as a string.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from html import escape

from ..archive import ARCHIVE_SUFFIX
from ..btf.core import RelocState
from .run import CheckResult
from .verdict import FeatureOutcome, KernelReport, RelocOutcome, Verdict

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1f24; background: #fff; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.15em; margin: 1.4em 0 .5em; }
.muted { color: #57606a; } code { font: 12px ui-monospace, monospace; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: 3px 6px; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
.verdict { font-weight: 600; text-transform: uppercase; font-size: 12px; }
.ok { background: #dafbe1; } .degraded { background: #fff1c2; } .fails { background: #ffd7d5; }
#summary td.reasons { font-size: 12px; max-width: 60em; }
#matrix th.kernel { height: 15em; white-space: nowrap; vertical-align: bottom; padding: 4px 2px; }
#matrix th.kernel span { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: 400;
  font-size: 12px; }
#matrix th.row { font-weight: 400; white-space: nowrap; font-size: 12px; position: sticky;
  left: 0; background: #fff; }
#matrix tr.group th { background: #eaeef2; font-weight: 600; }
#matrix td.cell { text-align: center; font-weight: 700; width: 1.6em; min-width: 1.6em; }
td.resolved, td.available { background: #4ac26b; color: #fff; }
td.missing { background: #b6e3c3; color: #1b1f24; }
td.guarded, td.zero { background: #f2cc60; color: #1b1f24; }
td.poisoned, td.error, td.unavailable { background: #e5534b; color: #fff; }
td.unknown { background: #d0d7de; color: #1b1f24; }
details summary { cursor: pointer; }
.legend span { display: inline-block; padding: 0 .5em; margin-right: .4em; border-radius: 3px; }
"""

_GLYPHS = {
    RelocState.RESOLVED: "✓",
    RelocState.MISSING: "0",
    RelocState.GUARDED: "G",
    RelocState.ZERO: "0!",
    RelocState.POISONED: "✗",
    RelocState.ERROR: "E",
}
_GROUPS = {
    "object": "build",
    "map": "maps",
    "helper": "helpers",
    "program": "programs",
    "kfunc": "kfuncs",
    "ksym": "kernel variables (ksyms)",
}
_LEGEND = (
    ("resolved", "✓ resolved / available"),
    ("missing", "0 existence check answers 0"),
    ("guarded", "G unresolved, guarded by an existence check"),
    ("zero", "0! unguarded size or id evaluates to 0"),
    ("poisoned", "✗ unresolved and unguarded / missing feature"),
    ("error", "E libbpf error"),
    ("unknown", "? cannot tell"),
    ("guarded", "W weak kfunc or ksym the kernel lacks"),
)
#: The letters of the matrix's verdict row, in the order the legend explains them.
_VERDICT_LEGEND = (
    (Verdict.OK, "O ok: every relocation and feature is there; loads"),
    (Verdict.DEGRADED, "D degraded: loads, but guarded code is skipped on this kernel"),
    (Verdict.FAILS, "F fails: libbpf or the kernel will refuse the program"),
)
#: Reasons a kernel's summary row shows before the rest folds into "… N more".
SHOWN_REASONS = 3


def short_label(label: str, limit: int = 40) -> str:
    """A column header for a kernel: a long BTF file path loses its suffix and leading
    directories (``.../debian/12/x86_64/6.1.0-50-amd64.btf.tar.xz`` -> ``debian/12/x86_64/
    6.1.0-50-amd64``); the full label stays in the tooltip."""
    for suffix in (ARCHIVE_SUFFIX, ".tar.xz", ".btf"):
        label = label.removesuffix(suffix)
    if len(label) > limit and "/" in label:
        label = "/".join(label.split("/")[-4:])
    return label


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _reloc_cell(kernel: KernelReport, out: RelocOutcome) -> str:
    tip = out.state.value
    if out.target:
        tip += f": {out.target}"
    if out.detail:
        tip += f" ({out.detail})"
    return (
        f'<td class="cell {out.state.value}" data-kernel="{_attr(kernel.kernel.label)}" '
        f'data-state="{out.state.value}" title="{_attr(tip)}">{_GLYPHS[out.state]}</td>'
    )


def _feature_cell(kernel: KernelReport, out: FeatureOutcome) -> str:
    state, glyph = {True: ("available", "✓"), False: ("unavailable", "✗"), None: ("unknown", "?")}[
        out.available
    ]
    if out.degraded:
        state, glyph = "guarded", "W"  # a weak kfunc/ksym the kernel lacks
    return (
        f'<td class="cell {state}" data-kernel="{_attr(kernel.kernel.label)}" '
        f'data-state="{state}" title="{_attr(out.detail or state)}">{glyph}</td>'
    )


def _summary(result: CheckResult) -> list[str]:
    out = [
        '<table id="summary"><thead><tr><th>kernel</th><th>verdict</th><th>relocations</th>'
        "<th>first reasons</th></tr></thead><tbody>"
    ]
    for k in result.kernels:
        counts = k.counts()
        shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        reasons = "<br>".join(escape(r) for r in k.reasons[:SHOWN_REASONS])
        rest = k.reasons[SHOWN_REASONS:]
        if rest:  # the rest one click away, no script needed
            reasons += (
                f'<details><summary class="muted">… {len(rest)} more</summary>'
                + "<br>".join(escape(r) for r in rest)
                + "</details>"
            )
        out.append(
            f'<tr class="{k.verdict.value}" data-kernel="{_attr(k.kernel.label)}">'
            f"<td><code>{escape(k.kernel.label)}</code></td>"
            f'<td class="verdict">{k.verdict.value}</td><td>{escape(shown)}</td>'
            f'<td class="reasons">{reasons}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def _matrix(result: CheckResult) -> list[str]:
    kernels = result.kernels
    head = "".join(
        f'<th class="kernel {k.verdict.value}" title="{_attr(k.kernel.label)}">'
        f"<span>{escape(short_label(k.kernel.label))}</span></th>"
        for k in kernels
    )
    span = len(kernels) + 1
    out = [f'<table id="matrix"><thead><tr><th class="row">relocation / feature</th>{head}</tr>']
    verdicts = "".join(
        f'<td class="verdict {k.verdict.value}">{k.verdict.value[0].upper()}</td>' for k in kernels
    )
    out.append(f'<tr><th class="row">verdict</th>{verdicts}</tr></thead><tbody>')
    relocations = (
        (
            f"{row.object} · {row.section}",
            f'<tr class="reloc"><th class="row" title="{_attr(row.program)} insn {row.insn_index}">'
            f"<code>{escape(f'#{row.index} {row.kind} {row.path}')}</code></th>"
            + "".join(_reloc_cell(k, k.relocations[i]) for k in kernels)
            + "</tr>",
        )
        for i, row in enumerate(result.rows.relocations)
    )
    features = (
        (
            f"{frow.object} · {_GROUPS.get(frow.category, frow.category)}",
            f'<tr class="feature"><th class="row" title="{_attr(frow.requirement)}">'
            f"<code>{escape(frow.subject)}</code> "
            f'<span class="muted">{escape(frow.requirement)}</span></th>'
            + "".join(_feature_cell(k, k.features[i]) for k in kernels)
            + "</tr>",
        )
        for i, frow in enumerate(result.rows.features)
    )
    out.extend(_grouped(relocations, span))
    out.extend(_grouped(features, span))
    out.append("</tbody></table>")
    return out


def _grouped(rows: Iterable[tuple[str, str]], span: int) -> Iterator[str]:
    """Each ``(group, row)``'s row, after a header row spanning the table where a group starts."""
    group = None
    for key, row in rows:
        if key != group:
            group = key
            yield f'<tr class="group"><th colspan="{span}">{escape(key)}</th></tr>'
        yield row


def render_html(result: CheckResult, *, title: str = "btfmirror check") -> str:
    """The whole report as one HTML document (UTF-8, inline CSS, no external assets)."""
    tally = result.tally()
    objects = ", ".join(result.rows.objects)
    legend = "".join(f'<span class="{css}">{escape(text)}</span>' for css, text in _LEGEND)
    verdict_legend = "verdict row: " + "".join(
        f'<span class="{v.value}">{escape(text)}</span>' for v, text in _VERDICT_LEGEND
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}: {escape(objects)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}: <code>{escape(objects)}</code></h1>",
        f'<p id="tally">{len(result.kernels)} kernels: '
        + ", ".join(f'<span class="{v.value}">{tally[v.value]} {v.value}</span>' for v in Verdict)
        + "</p>",
        "<h2>Kernel &times; relocation matrix</h2>",
        f'<p class="legend">{legend}</p>',
        f'<p class="legend" id="verdict-legend">{verdict_legend}</p>',
        *_matrix(result),
        "<h2>Verdict per kernel</h2>",
        *_summary(result),
        '<p class="muted">"Guarded" is read from the relocation records (an existence check of '
        "the same field, type or enumerator in the same function), not from control flow.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
