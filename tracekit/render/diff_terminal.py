"""The diff as terminal tables, returned as text (only the CLI prints): the metrics with their noise,
the functions and units that changed, the findings that appeared or went away."""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text

from tracekit.diff import Diff, Metric
from tracekit.render.terminal import printable
from tracekit.render.text import ColorSystem, to_text

TOP_FUNCTIONS = 15  # in the terminal; diff.json and diff.html list up to 40

METRIC_LABEL = {
    "wall_s": ("wall", "s"),
    "cpu_s": ("CPU", "s"),
    "parallelism": ("parallelism", "cores"),
    "concurrency_peak": ("concurrency peak", "in flight"),
    "concurrency_mean": ("concurrency mean", "in flight"),
}


def _dist(m: Metric, side: str) -> str:
    d = m.a if side == "a" else m.b
    if d.n == 1:
        return f"{d.median:.3f}"
    return f"{d.median:.3f} ({d.min:.3f}…{d.max:.3f}, n={d.n})"


def metric_row(m: Metric) -> list[str]:
    label, unit = METRIC_LABEL.get(m.name, (m.name, ""))
    change = "" if not math.isfinite(m.change) else f"{m.change:+.1%}"
    if m.p is not None:
        noise = f"p={m.p:.3g}, floor ±{m.noise_floor:.0%}" if m.noise_floor is not None else f"p={m.p:.3g}"
    elif m.name.startswith("concurrency"):
        noise = "exact (structure)"
    else:
        noise = "n=1: no noise estimate"
    return [f"{label} ({unit})", _dist(m, "a"), _dist(m, "b"), f"{m.delta:+.3f}", change, m.verdict, noise]


def _s(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def diff_table(d: Diff, width: int = 160, color_system: ColorSystem | None = None, encoding: str = "utf-8") -> str:
    parts: list[Table | Text] = [Text(printable(d.summary), style="bold")]
    t = Table(title=f"tracekit diff: {printable(d.a)} → {printable(d.b)}", title_justify="left")
    for col in ("metric", printable(d.a), printable(d.b), "Δ", "change", "verdict", "noise"):
        t.add_column(col)
    for m in d.metrics:
        t.add_row(*metric_row(m))
    parts.append(t)
    if d.functions:
        unsure = d.metrics[0].p is None  # one run a side: the machine's load moves every function
        title = "functions that changed (total and self time, s)" + (
            "; one run a side, no noise estimate: '?'" if unsure else ""
        )
        f = Table(title=title, title_justify="left")
        for col in ("function", "file", "from", "total A", "total B", "self A", "self B", "calls", "verdict"):
            f.add_column(col, justify="right" if col.startswith(("total", "self", "calls")) else "left")
        for c in d.functions[:TOP_FUNCTIONS]:
            f.add_row(
                printable(c.function), printable(c.file), c.origin, f"{c.total_a_s:.3f}", f"{c.total_b_s:.3f}",
                f"{c.self_a_s:.3f}", f"{c.self_b_s:.3f}", f"{c.calls_a}→{c.calls_b}", c.verdict,
            )  # fmt: skip
        parts.append(f)
    more = len(d.functions) - TOP_FUNCTIONS
    parts.append(
        Text(
            (f"{more} more changed functions in diff.json and diff.html; " if more > 0 else "")
            + f"{d.functions_unchanged} matched functions did not change beyond the floors."
        )
    )
    counts = ", ".join(f"{k} {a}→{b}" for k, (a, b) in d.unit_counts.items())
    if counts:
        parts.append(Text(f"units: {counts}"))
    if d.units:
        u = Table(title="units that changed (wall s)", title_justify="left")
        for col in ("kind", "role", "name", "wall A", "wall B", "CPU A", "CPU B", "verdict"):
            u.add_column(col)
        for uc in d.units:
            u.add_row(uc.kind, uc.role, printable(uc.name), _s(uc.wall_a_s), _s(uc.wall_b_s), _s(uc.cpu_a_s),
                      _s(uc.cpu_b_s), uc.verdict)  # fmt: skip
        parts.append(u)
    for _kind, sev, msg in d.findings_appeared:
        parts.append(Text(f"+ new finding ({sev}): {printable(msg)}", style="yellow"))
    for _kind, sev, msg in d.findings_gone:
        parts.append(Text(f"- finding gone ({sev}): {printable(msg)}", style="cyan"))
    if d.findings_kept:
        parts.append(Text(f"findings in both: {', '.join(d.findings_kept)}"))
    return to_text(parts, width, color_system, encoding)
