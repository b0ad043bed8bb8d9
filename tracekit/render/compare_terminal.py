"""The comparison as text: a rich table for the terminal, and the same table as CSV or Markdown.

All three are built from `rows(cmp)` or `cells`, one row per model in the comparison's order; each
returns a string (the table as the text a terminal of a given width shows); only the CLI prints.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.table import Table
from rich.text import Text

from tracekit.compare import Comparison, ModelResult, relation
from tracekit.render.terminal import SEVERITY_STYLE, fmt_bytes, printable
from tracekit.render.text import ColorSystem, to_text


def _num(x: float | None, fmt: str) -> str:
    return "" if x is None or not math.isfinite(x) else format(x, fmt)


def _bytes(n: int | None) -> str:
    return "–" if n is None else fmt_bytes(n)


def _rss(r: ModelResult) -> str:
    """ "largest process / tree": the untraced runs' largest single process (– for a run directory, which
    has none), then the traced run's summed tree."""
    tree = r.peak_rss_tree_bytes
    return _bytes(r.peak_rss_process_bytes) + ("" if tree is None else " / " + fmt_bytes(tree))


def rows(cmp: Comparison) -> list[dict[str, Any]]:
    """The flat table (CSV columns): SI units in names, raw numbers."""
    out = []
    for r in cmp.runs:
        out.append(
            {
                "name": r.name,
                "model": r.model,
                "target": r.target,
                "timing": r.timing,
                "n": r.wall_s.n,
                "wall_mean_s": r.wall_s.mean,
                "wall_stdev_s": r.wall_s.stdev,
                "wall_median_s": r.wall_s.median,
                "wall_min_s": r.wall_s.min,
                "wall_max_s": r.wall_s.max,
                "cpu_mean_s": r.cpu_s.mean,
                "cpu_stdev_s": r.cpu_s.stdev,
                "speedup": r.speedup,
                "speedup_stdev": r.speedup_stdev,
                "ideal_speedup": r.ideal_speedup,
                "efficiency": r.efficiency,
                "peak_rss_process_bytes": r.peak_rss_process_bytes,
                "peak_rss_tree_bytes": r.peak_rss_tree_bytes,
                "concurrency_peak": r.concurrency["peak"] if r.concurrency else None,
                "parallelism": r.parallelism,
                "traced_wall_s": r.traced_wall_s,
                "tracing_overhead": r.tracing_overhead,
                "key_finding": r.key_finding,
            }
        )
    return out


def cells(r: ModelResult, ref: str) -> list[str]:
    w = r.wall_s
    return [
        r.name + (" (ref)" if r.name == ref else ""),
        f"{w.mean:.3f} ± {w.stdev:.3f}",
        f"{w.median:.3f} [{w.min:.3f}…{w.max:.3f}]",
        str(w.n) + ("" if r.timing == "untraced" else " traced"),
        f"{r.cpu_s.mean:.3f}",
        f"{_num(r.speedup, '.2f')} ± {_num(r.speedup_stdev, '.2f')}",
        _num(r.ideal_speedup, ".3g"),
        _num(r.efficiency * 100 if math.isfinite(r.efficiency) else None, ".0f") + "%",
        _rss(r),
        str(r.concurrency["peak"]) if r.concurrency else "",
        _num(r.parallelism, ".2f"),
        _num(r.tracing_overhead, ".2f"),
    ]


HEADERS = [
    "model", "wall s (mean ± σ)", "median [min…max]", "n", "CPU s", "speed-up", "ideal", "efficiency",
    "RSS peak / tree", "conc.", "par.", "traced/untraced",
]  # fmt: skip


def table(cmp: Comparison, width: int = 180, color_system: ColorSystem | None = None, encoding: str = "utf-8") -> str:
    """The terminal view: the table, hyperfine's sentences with each model's key finding, warnings."""
    bound = cmp.work["bound"]
    title = (
        f"tracekit compare: {len(cmp.runs)} models, reference {printable(cmp.reference)}, {cmp.cores} cores, "
        f"{'CPU' if bound == 'cpu' else 'waiting'}-bound work"
    )
    t = Table(title=title, title_justify="left")
    for i, h in enumerate(HEADERS):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=i < 3)
    for r in cmp.runs:
        t.add_row(*(printable(c) for c in cells(r, cmp.reference)))
    parts: list[Table | Text] = [t]
    for r in cmp.runs:
        line = Text.assemble((printable(r.name), "bold"), printable(f": {relation(r, cmp.reference)}"))
        if r.findings:
            f = r.findings[0]
            line.append("\n  • ", style=SEVERITY_STYLE.get(f.severity, ""))
            line.append(printable(f.message))
        parts.append(line)
    for w in cmp.warnings:
        parts.append(Text.assemble(("warning: ", "yellow"), printable(w)))
    return to_text(parts, width, color_system, encoding)


def to_csv(cmp: Comparison) -> str:
    return str(pd.DataFrame(rows(cmp)).to_csv(index=False, lineterminator="\n"))


def _md_cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(cmp: Comparison) -> str:
    """A GitHub-flavoured Markdown table (pandas' to_markdown needs tabulate, which we do not ship)."""
    lines = [
        "| " + " | ".join(HEADERS) + " | key finding |",
        "|" + "|".join([":---"] + ["---:"] * (len(HEADERS) - 1) + [":---"]) + "|",
    ]
    for r in cmp.runs:
        row = [*cells(r, cmp.reference), r.key_finding]
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"
